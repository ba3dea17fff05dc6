#!/usr/bin/env bash
# Issue 13: train the candidates of configs/candidates/ on one GPU, few long runs in parallel.
#
#   1. (CPU, before the GPU session; about a minute each on 2 idle cores) the training tables:
#        psl dataset -c configs/data/deeploc2_vs_deeploc1_test.toml \
#                    -o runs/data/dl12_vs_dl1test.tsv.gz --report runs/data/dl12_vs_dl1test.json
#        psl dataset -c configs/data/deeploc2_vs_deeploc1_test_multilabel.toml \
#                    -o runs/data/dl12ml_vs_dl1test.tsv.gz --report runs/data/dl12ml_vs_dl1test.json
#      (carry runs/data to the GPU machine; a candidate whose table is missing is skipped);
#   2. the candidates named in CANDIDATES (default below), each with a training-time budget (MINUTES, default 8) and the
#      calibration fitted on validation at the end ([train] calibrate);
#   3. validation and test reports (psl evaluate --json) of each, in runs/candidates/NAME/.
# Choose with the rule in configs/candidates/README.md (validation only), then copy the
# chosen run to models/default and rerun `psl experiment hitrates` on it.
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-8}
OUT=${OUT:-runs/candidates}
mkdir -p "$OUT"
# Few runs at a time (14 parallel runs left every model under-trained in the third session).
# The continuations (dl12_termini_cont, dl12_distill) start from runs/cand/dl12_termini: they
# run only when that checkpoint was carried to the machine.
CANDIDATES=${CANDIDATES:-"dl12ml_termini dl12_termini_focal dl12_from_default"}
started=()
for name in $CANDIDATES; do
    cfg=configs/candidates/$name.toml
    init=$(sed -n 's/^init *= *"\(.*\)"/\1/p' "$cfg")
    if [ -n "$init" ] && [ ! -e "$init" ]; then
        echo "$name: skipped, its init checkpoint $init is not here" >&2
        continue
    fi
    table=$(sed -n 's/^dataset *= *"\(.*\)"/\1/p' "$cfg")
    if [ -n "$table" ] && [ ! -f "$table" ]; then
        echo "$name: skipped, its dataset table $table is missing (step 1 above)" >&2
        continue
    fi
    psl train -c "$cfg" --out "$OUT/$name" --device "$DEVICE" --max-minutes "$MINUTES" \
        --no-progress > "$OUT/$name.log" 2>&1 &
    started+=("$name")
done
wait
for name in "${started[@]}"; do
    for split in val test; do
        psl evaluate --model "$OUT/$name" --split "$split" --device "$DEVICE" --json \
            > "$OUT/$name/eval_$split.json" 2>> "$OUT/$name.log"
    done
    tail -n 1 "$OUT/$name.log"
done
