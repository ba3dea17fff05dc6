#!/usr/bin/env bash
# Issue 13, ninth session: one GPU call (about nine minutes) that trains what the 2-core CPU
# cannot, few long runs in parallel (14 parallel runs left every model under-trained in the
# third session):
#
#   1. four wide teacher members, configs/distill/gpu_wide_termini.toml seeds 0-3 (BiLSTM 256,
#      128 channels per kernel, terminal windows), each with a training-time budget
#      (TEACHER_MIN, default 6.0 minutes);
#   2. beside them, the two default candidates with a max-pool of 8
#      (configs/candidates/pool8_h64_distill.toml, pool8_h96_distill.toml; teacher
#      models/ensemble), budget STUDENT_MIN (default 7.0);
#   3. the teachers: `psl ensemble` of the finished wide members alone (runs/gpu/teacher_wide)
#      and of models/ensemble's four members plus them (runs/gpu/teacher8), for distilling
#      students afterwards on the CPU.
#
# It ran once, on 2026-11-30 (one H200; 448 s; benchmarks/results/default_model.md, "Ninth
# session"): a wide member took 7 s per epoch and a student 11-14 s with the six processes
# sharing the GPU; the wide members stopped by patience after 42-48 epochs (one at its budget
# after 50), the students at their budget after 38. On the device machine, with the project's
# missing packages carried as wheels (.whl, see the device tool's notes) and `psl` a wrapper
# around `python3 -c "from cli.main import psl_app; psl_app()"`:
#   PACK_DIR=$OUT bash scripts/gpu_teachers.sh
# Every run ends with its val/test scores in metrics.json. With PACK_DIR set, each run
# directory is packed to PACK_DIR/NAME.tgz as soon as it ends (what a device call brings back).
# Environment: DEVICE (cuda), RUNS (runs/gpu), DEADLINE (seconds after the start by which
# everything has ended; default 520), PSL (the command that runs the psl CLI; default `psl`),
# TEACHER_CONFIG and STUDENT_CONFIGS (the configs of steps 1 and 2; a dry run on the CPU can
# point them at copies with `[data] subset` and `[train] epochs = 1`).
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
R=${RUNS:-runs/gpu}
TEACHER_MIN=${TEACHER_MIN:-6.0}
STUDENT_MIN=${STUDENT_MIN:-7.0}
DEADLINE=${DEADLINE:-520}
PSL=${PSL:-psl}
TEACHER_CONFIG=${TEACHER_CONFIG:-configs/distill/gpu_wide_termini.toml}
STUDENT_CONFIGS=${STUDENT_CONFIGS:-"configs/candidates/pool8_h64_distill.toml configs/candidates/pool8_h96_distill.toml"}
mkdir -p "$R"
START=$(date +%s)
say() { echo "[$(($(date +%s) - START)) s] $*"; }
left() { echo $((DEADLINE - ($(date +%s) - START) - ${1:-0})); }  # seconds left, less $1 kept
pack() {  # pack NAME PATH...: tar the existing paths into PACK_DIR/NAME.tgz
    [ -n "${PACK_DIR:-}" ] || return 0
    local name=$1; shift
    local have=()
    for p in "$@"; do [ -e "$p" ] && have+=("$p"); done
    [ ${#have[@]} -gt 0 ] && tar czf "$PACK_DIR/$name.tgz" "${have[@]}" \
        && say "packed $name.tgz ($(du -h "$PACK_DIR/$name.tgz" | cut -f1))"
}
summary() {  # one line per run: best epoch and validation accuracy / macro-F1 (the rule's
    # inputs; the test scores stay in metrics.json, to be read after the decision: the run of
    # 2026-11-30 printed them here too, which put them on screen before the choice)
    python3 - "$@" <<'EOF'
import json, sys
for d in sys.argv[1:]:
    try:
        m = json.load(open(f"{d}/metrics.json"))
    except OSError:
        print(f"{d}: no metrics.json"); continue
    v = m.get("val") or m.get("val_so_far") or {}
    print(f"{d}: best epoch {m.get('best_epoch')} val {v.get('accuracy', 0):.3f}/"
          f"{v.get('macro_f1', 0):.3f}")
EOF
}

say "start on $DEVICE"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
teachers=()
pids=()
for s in 0 1 2 3; do
    d=$R/wide_s$s
    timeout "$(left 75)" $PSL train -c "$TEACHER_CONFIG" --seed "$s" \
        --out "$d" --device "$DEVICE" --max-minutes "$TEACHER_MIN" --no-progress \
        > "$R/wide_s$s.log" 2>&1 &
    pids+=($!)
    teachers+=("$d")
done
students=()
for cfg in $STUDENT_CONFIGS; do
    name=$(basename "$cfg" .toml)
    timeout "$(left 20)" $PSL train -c "$cfg" --out "$R/$name" \
        --device "$DEVICE" --max-minutes "$STUDENT_MIN" --no-progress > "$R/$name.log" 2>&1 &
    students+=("$R/$name")
done
sleep 60
say "after one minute:"; tail -n 2 "$R"/*.log
for p in "${pids[@]}"; do wait "$p"; done
say "teachers ended"
summary "${teachers[@]}"
done_t=()
for d in "${teachers[@]}"; do
    [ -f "$d/metrics.json" ] && done_t+=("$d") && pack "$(basename "$d")" "$d" "$d.log"
done
if [ ${#done_t[@]} -ge 2 ]; then
    timeout "$(left 15)" $PSL ensemble "${done_t[@]}" --out "$R/teacher_wide" --device "$DEVICE" \
        --n-boot 200 > "$R/teacher_wide.log" 2>&1
fi
if [ ${#done_t[@]} -ge 1 ]; then
    timeout "$(left 10)" $PSL ensemble models/ensemble "${done_t[@]}" --out "$R/teacher8" \
        --device "$DEVICE" --n-boot 200 > "$R/teacher8.log" 2>&1
fi
summary "$R/teacher_wide" "$R/teacher8"
wait
say "students ended"
summary "${students[@]}"
for d in "${students[@]}"; do pack "$(basename "$d")" "$d" "$d.log"; done
# the ensembles' weights are their members' (rebuilt with `psl ensemble` where they land):
# bring back their scores and logs only
pack logs "$R"/*.log "$R"/teacher_wide/metrics.json "$R"/teacher8/metrics.json
say "done"
