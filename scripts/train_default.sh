#!/usr/bin/env bash
# Reproduce the shipped default model (models/default): distill the shipped four-model ensemble
# (models/ensemble) into one model with terminal windows and class weights, then evaluate it.
# With REBUILD_TEACHER=1 the teacher is retrained first: its four members (configs/distill/,
# the seeds models/ensemble/README.md lists), combined with `psl ensemble` into
# $RUNS/teacher, which the student then distills instead of models/ensemble.
# Members are independent and run in parallel (JOBS=2 runs two at a time, one torch thread each).
# CPU time on the 2-core machine used: the student about 50 minutes (2 torch threads, 83-113 s
# per epoch, best epoch 23 of 33); with REBUILD_TEACHER=1 about 4 x 25 minutes more.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=runs
JOBS=${JOBS:-2}
TEACHER=models/ensemble  # what configs/default.toml names
mkdir -p "$RUNS"

train_member() {  # config seed out
    psl train --config "configs/distill/$1.toml" --seed "$2" --out "$RUNS/$3" --no-progress \
        > "$RUNS/$3.log"
}

if [ "${REBUILD_TEACHER:-0}" = 1 ]; then
    echo "== 1. teacher members ($JOBS at a time; logs in $RUNS/*.log)"
    MEMBERS=("member_h64_short 0 teacher_a" "member_h64 1 teacher_b" "member_h128 0 teacher_c"
             "member_h64_ema 2 teacher_d")
    for m in "${MEMBERS[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 5; done
        # shellcheck disable=SC2086
        train_member $m &
    done
    wait
    echo "== 2. the teacher: an ensemble of the four members (as models/ensemble)"
    psl ensemble "$RUNS"/teacher_a "$RUNS"/teacher_b "$RUNS"/teacher_c "$RUNS"/teacher_d \
        --out "$RUNS/teacher"
    TEACHER=$RUNS/teacher
fi

echo "== 3. the student (configs/default.toml, teacher $TEACHER)"
psl train --config configs/default.toml --teacher "$TEACHER" --out "$RUNS/default" --no-progress

echo "== 4. official test set"
psl evaluate --model "$RUNS/default" --out "$RUNS/default/test_eval"
