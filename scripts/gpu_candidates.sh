#!/usr/bin/env bash
# Issue 13: train the candidates of configs/candidates/ on one GPU, few long runs in parallel.
#
#   1. (CPU, before the GPU session; about an hour on 2 loaded cores) the training table:
#        psl dataset -c configs/data/deeploc2_vs_deeploc1_test.toml \
#                    -o runs/data/dl12_vs_dl1test.tsv.gz --report runs/data/dl12_vs_dl1test.json
#      (carry runs/data to the GPU machine);
#   2. the four candidates, each with a training-time budget (MINUTES, default 8) and the
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
if [ ! -f runs/data/dl12_vs_dl1test.tsv.gz ]; then
    echo "runs/data/dl12_vs_dl1test.tsv.gz missing: build it first (step 1 above)" >&2
    exit 2
fi
for cfg in configs/candidates/*.toml; do
    name=$(basename "$cfg" .toml)
    psl train -c "$cfg" --out "$OUT/$name" --device "$DEVICE" --max-minutes "$MINUTES" \
        --no-progress > "$OUT/$name.log" 2>&1 &
done
wait
for cfg in configs/candidates/*.toml; do
    name=$(basename "$cfg" .toml)
    for split in val test; do
        psl evaluate --model "$OUT/$name" --split "$split" --device "$DEVICE" --json \
            > "$OUT/$name/eval_$split.json" 2>> "$OUT/$name.log"
    done
    tail -n 1 "$OUT/$name.log"
done
