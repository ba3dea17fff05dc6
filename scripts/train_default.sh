#!/usr/bin/env bash
# Reproduce the shipped default model (models/default): train the teacher members, combine them
# into an ensemble, distill the ensemble into one model of the default size, and evaluate it.
# Every step is a psl command; members are independent and can run in parallel
# (JOBS=2 runs two at a time, one torch thread each, as on the 2-core machine used).
# CPU time: about 5 x 25 min for the members and 25-35 min for the student (BiLSTM 128, about
# 50 s per epoch with 2 threads, best epoch 21 of 29) on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=runs  # configs/default.toml names runs/teacher
JOBS=${JOBS:-2}
mkdir -p "$RUNS"

train_member() {  # config seed out
    psl train --config "configs/distill/$1.toml" --seed "$2" --out "$RUNS/$3" --no-progress \
        > "$RUNS/$3.log"
}

echo "== 1. teacher members ($JOBS at a time; logs in $RUNS/*.log)"
MEMBERS=("member_h64_short 0 teacher_a" "member_h64 1 teacher_b" "member_h128 0 teacher_c"
         "member_h64_ema 2 teacher_d" "member_h128_ema 1 teacher_e")
for m in "${MEMBERS[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 5; done
    # shellcheck disable=SC2086
    train_member $m &
done
wait

echo "== 2. the teacher: an ensemble of the five members (models/ensemble holds a-d)"
psl ensemble "$RUNS"/teacher_a "$RUNS"/teacher_b "$RUNS"/teacher_c "$RUNS"/teacher_d \
    "$RUNS"/teacher_e --out "$RUNS/teacher"

echo "== 3. the student (configs/default.toml distills $RUNS/teacher)"
psl train --config configs/default.toml --out "$RUNS/default" --no-progress

echo "== 4. official test set"
psl evaluate --model "$RUNS/default" --out "$RUNS/default/test_eval"
