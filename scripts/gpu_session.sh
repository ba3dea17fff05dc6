#!/usr/bin/env bash
# One GPU session, planned to fit about nine minutes on one GPU (an H100 here), every step a
# psl command run as parallel processes sharing the GPU:
#
#   0. preflight: one quick training epoch on the device (stops here if it fails);
#   1. six teacher members (configs/distill/gpu_wide.toml seeds 0-3, gpu_deep.toml seeds 0-1)
#      and the Table 1 variants at full size (`psl experiment table1 --profile gpu --only V`);
#   2. the teacher: `psl ensemble` of the CPU members a-e (runs/member_a..e, see
#      scripts/train_default.sh) and the GPU members that finished;
#   3. students distilled from it (the BiLSTM-128 default architecture, configs/default.toml
#      --teacher, seeds 0 and 1, and the BiLSTM-64 one, configs/distill/student_h64.toml) and
#      the pre-set MLP of Table 1 (after the BiLSTM whose attention it takes);
#   4. the Table 1 table from the finished variants (with the attention ablations), and the
#      training time per epoch of the default architecture alone on the GPU.
#
# It ran once, on 2026-11-26 (benchmarks/results/default_model.md, "GPU session"); the students'
# configs then had 24 epochs and 1 thread, which the time budget made moot. Lesson: the 14
# processes of step 1 time-slice the GPU (an LSTM epoch took 23-32 s, against 7.7 s for a lone
# BiLSTM-64 run), so every run stopped at its budget under-trained; with ~10 minutes, train
# fewer models (the teachers alone, or Table 1 alone) rather than more.
#
# Each training has a time budget (--max-minutes: it stops after the epoch that crosses it and
# keeps its best epoch) and a hard `timeout`. Environment:
#   DEVICE (cuda), RUNS (runs), TABLE1 (runs/table1_gpu), TEACHER_MIN (3.8), STUDENT_MIN (2.0),
#   T1_MIN (4.5), DEADLINE (540 s after the start), CPU_MEMBERS (the five CPU member runs;
#   "" = GPU members only), PACK_DIR (unset: if set, results are also packed there, one tarball
#   per group of runs, written as soon as each phase ends).
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
R=${RUNS:-runs}
T1=${TABLE1:-runs/table1_gpu}
TEACHER_MIN=${TEACHER_MIN:-3.8}
STUDENT_MIN=${STUDENT_MIN:-2.0}
T1_MIN=${T1_MIN:-4.5}
CPU_MEMBERS=${CPU_MEMBERS-"$R/member_a $R/member_b $R/member_c $R/member_d $R/member_e"}
LOGS=$R/gpu_logs
mkdir -p "$R" "$T1" "$LOGS"
DEADLINE=${DEADLINE:-540}  # seconds after the start by which every step must have ended
START=$(date +%s)
say() { echo "[$(($(date +%s) - START)) s] $*"; }
# hard limit in seconds for a run whose training budget is $1 minutes (setup, evaluation, one
# long last epoch), cut to what is left before DEADLINE (less $2 seconds kept for later steps)
hard() {
    python3 -c "print(max(1, min(int($1 * 60 + 75), $DEADLINE - ${2:-0} - ($(date +%s) - $START))))"
}
finished() { python3 -c "import json,sys; sys.exit(0 if json.load(open('$1/metrics.json')).get('finished') else 1)" 2>/dev/null; }

pack() {  # pack NAME PATH...: tar the paths into PACK_DIR/NAME.tgz
    [ -n "${PACK_DIR:-}" ] || return 0
    local name=$1; shift
    local have=()
    for p in "$@"; do [ -e "$p" ] && have+=("$p"); done
    [ ${#have[@]} -gt 0 ] && tar czf "$PACK_DIR/$name.tgz" "${have[@]}" && say "packed $name.tgz ($(du -h "$PACK_DIR/$name.tgz" | cut -f1))"
}

say "0. preflight on $DEVICE"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
if ! timeout 120 psl train -c configs/quick.toml --epochs 1 --device "$DEVICE" --out "$R/preflight" \
        --no-progress > "$LOGS/preflight.log" 2>&1; then
    say "preflight failed:"; tail -20 "$LOGS/preflight.log"; pack logs "$LOGS"; exit 3
fi
tail -1 "$LOGS/preflight.log"

say "1. teacher members and Table 1 variants"
TEACHERS=("gpu_wide 0" "gpu_wide 1" "gpu_wide 2" "gpu_wide 3" "gpu_deep 0" "gpu_deep 1")
teacher_pids=()
for m in "${TEACHERS[@]}"; do
    set -- $m
    timeout "$(hard "$TEACHER_MIN" 150)" psl train -c "configs/distill/$1.toml" --seed "$2" \
        --out "$R/$1_s$2" --device "$DEVICE" --max-minutes "$TEACHER_MIN" --no-progress \
        > "$LOGS/$1_s$2.log" 2>&1 &
    teacher_pids+=($!)
done
T1_VARIANTS=(bilstm_att bilstm_uniform mlp_uniform mlp_trained cnn_small cnn_small_att
             cnn_large cnn_large_att)
t1() {  # t1 LOGNAME ARGS...: psl experiment table1 --profile gpu on $T1
    local log=$1; shift
    timeout "$(hard "$T1_MIN" 60)" psl experiment table1 --profile gpu --out "$T1" \
        --device "$DEVICE" --max-minutes "$T1_MIN" --no-progress "$@" > "$LOGS/$log.log" 2>&1
}
declare -A t1_pid
for v in "${T1_VARIANTS[@]}"; do
    t1 "t1_$v" --only "$v" &
    t1_pid[$v]=$!
done
wait "${teacher_pids[@]}"
members=()
for m in "${TEACHERS[@]}"; do
    set -- $m
    d="$R/$1_s$2"
    if finished "$d"; then members+=("$d"); else say "$d did not finish"; tail -3 "$LOGS/$1_s$2.log"; fi
    grep -h '"epoch"' "$d/epochs.jsonl" 2>/dev/null | tail -1
done
say "teachers done: ${#members[@]} finished"
pack teachers_wide01 "$R"/gpu_wide_s0 "$R"/gpu_wide_s1
pack teachers_wide23 "$R"/gpu_wide_s2 "$R"/gpu_wide_s3
pack teachers_deep0 "$R"/gpu_deep_s0
pack teachers_deep1 "$R"/gpu_deep_s1

say "2. the teacher ensemble"
# shellcheck disable=SC2086
timeout 240 psl ensemble $CPU_MEMBERS "${members[@]}" --out "$R/gteacher" --device "$DEVICE" > "$LOGS/gteacher.log" 2>&1 \
    || { say "ensemble failed"; tail -5 "$LOGS/gteacher.log"; }
tail -2 "$LOGS/gteacher.log"

say "3. students and the pre-set MLP"
student_pids=()
student() {  # student CONFIG SEED OUT
    timeout "$(hard "$STUDENT_MIN" 60)" psl train -c "$1" --seed "$2" --teacher "$R/gteacher" \
        --out "$3" --device "$DEVICE" --max-minutes "$STUDENT_MIN" --no-progress \
        > "$LOGS/$(basename "$3").log" 2>&1
}
if [ -f "$R/gteacher/weights.pt" ]; then
    student configs/default.toml 0 "$R/student_h128_s0" & student_pids+=($!)
    student configs/default.toml 1 "$R/student_h128_s1" & student_pids+=($!)
    student configs/distill/student_h64.toml 0 "$R/student_h64_s0" & student_pids+=($!)
fi
wait "${t1_pid[bilstm_att]}"
t1 t1_mlp_preset --only mlp_preset &
t1_pid[mlp_preset]=$!
wait "${student_pids[@]}"
for s in student_h128_s0 student_h128_s1 student_h64_s0; do tail -1 "$LOGS/$s.log"; done
wait "${t1_pid[@]}"

say "4. Table 1 from the finished variants"
done_variants=()
for v in bilstm_att bilstm_uniform mlp_uniform mlp_trained mlp_preset cnn_small cnn_small_att \
         cnn_large cnn_large_att; do
    if finished "$T1/runs/$v"; then done_variants+=(--only "$v"); else say "table1 $v did not finish"; fi
done
[ ${#done_variants[@]} -gt 0 ] && timeout "$(hard 1 -30)" psl experiment table1 --profile gpu \
    --out "$T1" --device "$DEVICE" --max-minutes "$T1_MIN" --no-progress "${done_variants[@]}" \
    > "$LOGS/t1_collect.log" 2>&1
cat "$T1/table1.md" 2>/dev/null

say "training time per epoch of the default architecture alone on $DEVICE"
timeout "$(hard 1 -30)" psl train -c configs/default.toml --teacher "" --epochs 2 \
    --device "$DEVICE" --out "$R/gpu_epoch_timing" --no-progress \
    > "$LOGS/gpu_epoch_timing.log" 2>&1
grep '"epoch"' "$LOGS/gpu_epoch_timing.log"
pack results "$R"/student_h128_s0 "$R"/student_h128_s1 "$R"/student_h64_s0 \
    "$R/gteacher/metrics.json" "$R/gteacher/config.json" "$R/gteacher/meta.json" \
    "$T1" "$R/gpu_epoch_timing/epochs.jsonl" "$LOGS"
say "done"
