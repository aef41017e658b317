"""Step cost of each weighting scheme against plain fine-tuning, measured in one run on the same batches.

    python benchmarks/step_cost.py [--steps 12] [--warmup 3] [--batch-size 32] [--json out.json]
    python benchmarks/step_cost.py --accelerator gpu --precision bf16-mixed     # on one GPU

Embedded MiniLM-L6 teacher, its first two layers as the student, real MRPC rows. Every variant runs in
its own process (so peak memory is its own), seeded the same, over the same batches, through the real
LightningModule training step; the first `--warmup` steps are dropped and the median of the rest is
reported, with each variant's ratio to plain fine-tuning (`none`) from this same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import time

VARIANTS = [
    ("none (plain fine-tuning)", "none", {}),
    ("none, after a teacher pass (control)", "none", {"teacher_pass": True}),
    ("KD, live teacher", "fixed", {"cache": False}),
    ("KD, cached teacher logits", "fixed", {"cache": True}),
    ("meta, reference (2nd order)", "meta", {"impl": "reference"}),
    ("meta, fast (exact, 1st order)", "meta", {"impl": "fast"}),
    ("metanet, reference (2nd order)", "metanet", {"impl": "reference"}),
    ("metanet, fast (exact, 1st order)", "metanet", {"impl": "fast"}),
]


def _scheme(kind: str, opts: dict):
    from rwkd.weighting.fixed import FixedWeight
    from rwkd.weighting.meta import RWKD
    from rwkd.weighting.metanet import MetaWeightNet
    from rwkd.weighting.none import NoKD

    if kind == "none":
        return NoKD()
    if kind == "fixed":
        return FixedWeight(0.5)
    if kind == "meta":
        return RWKD(impl=opts["impl"])
    return MetaWeightNet(impl=opts["impl"])


def _run_variant(args, kind: str, opts: dict, queue) -> None:
    import pytorch_lightning as pl
    import torch

    from rwkd.data.datamodule import GlueDataModule
    from rwkd.data.sources import default_glue_dir
    from rwkd.models import build_classifier, load_tokenizer
    from rwkd.module import DistillationModule
    from rwkd.tasks import get_task
    from rwkd.teacher_logits import CachedTeacher, compute_logits

    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer("embedded")
    dm = GlueDataModule("mrpc", tokenizer, dir=default_glue_dir(), max_len=128, batch_size=args.batch_size,
                        max_train_samples=args.batch_size * (args.steps + args.warmup) + 200, meta_size=200)
    dm.setup("fit")
    scheme = _scheme(kind, opts)
    teacher = None
    if opts.get("teacher_pass"):  # the same teacher pass as the cached variant, its logits unused
        compute_logits(build_classifier("embedded", 2, seed=0).eval(), dm.train_set, tokenizer.pad_token_id)
    if scheme.needs_teacher:
        teacher = build_classifier("embedded", 2, seed=0).eval()
        if opts.get("cache", True):
            logits = {**compute_logits(teacher, dm.train_set, tokenizer.pad_token_id),
                      **compute_logits(teacher, dm.meta_set, tokenizer.pad_token_id)}
            table = torch.full((max(logits) + 1, 2), float("nan"))
            for i, row in logits.items():
                table[i] = torch.tensor(row)
            teacher = CachedTeacher(table)
    pl.seed_everything(0, verbose=False)
    student = build_classifier("embedded", 2, layers=[0, 1], seed=1)
    module = DistillationModule(student, scheme, get_task("mrpc"), teacher=teacher, lr=1e-4)
    trainer = pl.Trainer(accelerator=args.accelerator, devices=1, precision=args.precision, max_steps=args.steps + args.warmup, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, datamodule=dm)
    timed = module.step_seconds[args.warmup:]
    peak_gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if args.accelerator == "gpu" else None
    queue.put({"step_s": statistics.median(timed), "steps": len(timed), "peak_gpu_mb": peak_gpu_mb,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _hardware(args) -> str:
    if args.accelerator == "gpu":
        import torch

        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return f"{platform.processor() or platform.machine()}, {args.threads} threads"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed on a GPU")
    parser.add_argument("--only", nargs="*", help="substrings of variant names to run")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    rows, failed = [], []
    started = time.time()
    for label, kind, opts in VARIANTS:
        if args.only and not any(o in label for o in args.only) and kind != "none":
            continue
        queue = ctx.Queue()
        proc = ctx.Process(target=_run_variant, args=(args, kind, opts, queue))
        proc.start()
        proc.join()  # the result is a few numbers: it cannot fill the pipe and block the child's exit
        if proc.exitcode != 0:
            failed.append(label)
            print(f"  FAILED {label}: exit {proc.exitcode} (its traceback is above)", file=sys.stderr, flush=True)
            continue
        result = queue.get()
        rows.append({"variant": label, **result})
        print(f"  measured {label}: {result['step_s'] * 1000:.0f} ms/step", file=sys.stderr, flush=True)

    if not rows or rows[0]["variant"] != VARIANTS[0][0]:
        print(f"no baseline: {VARIANTS[0][0]} failed", file=sys.stderr)
        return 1
    base = rows[0]["step_s"]
    gpu = args.accelerator == "gpu"
    print(f"\nstep cost, MRPC, batch {args.batch_size}, max_len 128, median of {args.steps} steps after "
          f"{args.warmup} warm-up; {_hardware(args)}, precision {args.precision}")
    print(f"{'variant':<36} {'ms/step':>9} {'samples/s':>10} {'x plain':>8} {'peak RSS MB':>12}"
          + (f" {'peak GPU MB':>12}" if gpu else ""))
    for r in rows:
        r["samples_per_s"] = args.batch_size / r["step_s"]
        r["ratio_to_plain"] = r["step_s"] / base
        print(f"{r['variant']:<36} {r['step_s'] * 1000:>9.1f} {r['samples_per_s']:>10.1f} "
              f"{r['ratio_to_plain']:>8.2f} {r['peak_rss_mb']:>12.0f}"
              + (f" {r['peak_gpu_mb']:>12.0f}" if gpu else ""))
    print(f"(benchmark wall time {time.time() - started:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "hardware": _hardware(args), "rows": rows, "failed": failed}, f, indent=2)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
