#!/bin/bash
# The step-cost benchmark on the five study tasks, one after the other, each task's JSON record written to
# results/benchmarks/step_cost_<task>_<LABEL>.json, then one table of the ratios per task:
#   benchmarks/step_cost_tasks.sh LABEL [step_cost.py options]      e.g. --only shared fast   or   --group-by-length on
# PYTHON names the interpreter (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1; shift
python=${PYTHON:-.venv/bin/python}
records=()
for task in mrpc rte stsb cola sst2; do
  out="results/benchmarks/step_cost_${task}_${label}.json"
  "$python" benchmarks/step_cost.py --task "$task" --steps 10 --warmup 2 --rounds 1 --json "$out" "$@" 2>/dev/null \
    | sed -n '/^step cost/,$p'
  records+=("$out")
done
"$python" benchmarks/step_cost_table.py "${records[@]}"
