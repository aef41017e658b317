#!/bin/bash
# The step-cost benchmark on the five study tasks, one after the other, each task's JSON record written to
# results/benchmarks/step_cost_<task>_<LABEL>.json:  benchmarks/step_cost_tasks.sh LABEL [step_cost.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1; shift
for task in mrpc rte stsb cola sst2; do
  .venv/bin/python benchmarks/step_cost.py --task "$task" --steps 10 --warmup 2 --rounds 1 \
    --json "results/benchmarks/step_cost_${task}_${label}.json" "$@" 2>/dev/null | tail -8
done
