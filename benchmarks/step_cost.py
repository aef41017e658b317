"""Step cost of each weighting scheme against plain fine-tuning, measured in one run on the same batches.

    python benchmarks/step_cost.py [--task rte] [--steps 12] [--warmup 3] [--rounds 2] [--json out.json]
    python benchmarks/step_cost.py --reference          # also the second-order reference meta steps
    python benchmarks/step_cost.py --accelerator gpu --precision bf16-mixed     # on one GPU
    python benchmarks/step_cost.py --only shared      # plain fine-tuning and the variants whose name holds "shared"
    python benchmarks/step_cost.py --only "(exact" "shared (" top    # the meta steps, full and from the top layers

The task's default run as `rwkd train task=T` composes it (student layers, max_len, batch size, KD settings,
data.group_by_length), with the embedded MiniLM-L6 as teacher (its classification head untrained: the
step's cost does not depend on what the teacher knows) and real rows of the task's train file. Every
variant runs in its own process (so peak memory is its own), seeded the same, over the same batches,
through the real LightningModule training step. The cached variant's logits are computed beforehand in a
process of their own, so the timed process never ran the teacher. Variants run round-robin `--rounds`
times; a variant's figure is its best round's median step time after `--warmup` steps, and each ratio is
to plain fine-tuning (`none`) from this same invocation. The meta variants' meta batch is the training batch's
size unless the variant names its own (data.meta_batch_size).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = [
    ("none (plain fine-tuning)", "none", {}),
    ("KD, live teacher", "fixed", {"cache": False}),
    ("KD, cached teacher logits", "fixed", {"cache": True}),
    ("meta, fast (exact, 1st order)", "meta", {"impl": "fast"}),
    ("meta, fast, meta batch 16", "meta", {"impl": "fast", "meta_batch_size": 16}),
    ("meta, fast, meta batch 8", "meta", {"impl": "fast", "meta_batch_size": 8}),
    ("meta, shared (exact for the step)", "meta", {"impl": "shared"}),
    ("meta, shared, meta batch 16", "meta", {"impl": "shared", "meta_batch_size": 16}),
    ("meta, shared, meta batch 8", "meta", {"impl": "shared", "meta_batch_size": 8}),
    ("metanet, fast (exact, 1st order)", "metanet", {"impl": "fast"}),
    ("metanet, fast, meta batch 16", "metanet", {"impl": "fast", "meta_batch_size": 16}),
    ("metanet, shared (1st order in eta)", "metanet", {"impl": "shared"}),
    ("metanet, shared, meta batch 16", "metanet", {"impl": "shared", "meta_batch_size": 16}),
    # weighting.score_layers: the virtual step moves only the head and the last N layers (exact for that step)
    *[(f"{kind}, {impl}, top {n} layer{'s' if n > 1 else ''}", kind, {"impl": impl, "score_layers": n})
      for kind in ("meta", "metanet") for impl in ("fast", "shared") for n in (1, 2)],
]
REFERENCE_VARIANTS = [
    ("meta, reference (2nd order)", "meta", {"impl": "reference"}),
    ("metanet, reference (2nd order)", "metanet", {"impl": "reference"}),
]


def _task_config(task: str):
    """The composed default config of `rwkd train task=T`: what the benchmark's run looks like."""
    from rwkd.cli import compose_train

    return compose_train([f"task={task}"])


def _datamodule(args, cfg, meta_batch_size: int | None = None):
    from rwkd.data.datamodule import GlueDataModule
    from rwkd.data.sources import default_glue_dir
    from rwkd.models import load_tokenizer

    tokenizer = load_tokenizer("embedded")
    dm = GlueDataModule(args.task, tokenizer, dir=default_glue_dir(), max_len=cfg.data.max_len,
                        batch_size=args.batch_size, max_train_samples=args.batch_size * (args.steps + args.warmup) + 200,
                        meta_size=200, meta_batch_size=meta_batch_size, group_by_length=_group_by_length(args, cfg))
    dm.setup("fit")
    return dm, tokenizer


def _group_by_length(args, cfg) -> bool:
    return bool(cfg.data.get("group_by_length", False)) if args.group_by_length is None else args.group_by_length == "on"


def _teacher(num_labels: int):
    from rwkd.models import build_classifier

    return build_classifier("embedded", num_labels, seed=0).eval()


def _cache_logits(args, path: str) -> None:
    """The teacher's logits for the train and meta rows, as the logit cache would hold them."""
    import torch

    from rwkd.tasks import get_task
    from rwkd.teacher.cache import compute_logits

    torch.set_num_threads(args.threads)
    cfg = _task_config(args.task)
    dm, tokenizer = _datamodule(args, cfg)
    num_labels = get_task(args.task).num_labels
    teacher = _teacher(num_labels)
    logits = {**compute_logits(teacher, dm.train_set, tokenizer.pad_token_id),
              **compute_logits(teacher, dm.meta_set, tokenizer.pad_token_id)}
    table = torch.full((max(logits) + 1, num_labels), float("nan"))
    for i, row in logits.items():
        table[i] = torch.as_tensor(row)
    torch.save(table, path)


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
        return RWKD(impl=opts["impl"], score_layers=opts.get("score_layers"))
    return MetaWeightNet(impl=opts["impl"], score_layers=opts.get("score_layers"))


def _run_variant(args, kind: str, opts: dict, logits_path: str, queue) -> None:
    import pytorch_lightning as pl
    import torch

    from rwkd.models import build_classifier
    from rwkd.tasks import get_task
    from rwkd.training.module import DistillationModule
    from rwkd.training.teacher_signal import CachedTeacher

    torch.set_num_threads(args.threads)
    cfg = _task_config(args.task)
    task = get_task(args.task)
    dm, _ = _datamodule(args, cfg, opts.get("meta_batch_size"))
    scheme = _scheme(kind, opts)
    teacher = None
    if scheme.needs_teacher:
        teacher = CachedTeacher(torch.load(logits_path)) if opts.get("cache", True) else _teacher(task.num_labels)
    pl.seed_everything(0, verbose=False)
    student = build_classifier("embedded", task.num_labels, layers=list(cfg.student.model.layers), seed=1)
    module = DistillationModule(student, scheme, task, teacher=teacher, optim={"lr": 1e-4},
                                kd={"temperature": float(cfg.kd.temperature), "loss": cfg.kd.loss})
    class CpuClock(pl.Callback):
        """--clock cpu: the CPU time of this process's main thread per step (with --threads 1, the only thread that
        computes), which other jobs on a shared machine move far less than the wall clock."""

        def __init__(self):
            self.seconds, self.started = [], 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.started = time.thread_time()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.seconds.append(time.thread_time() - self.started)

    clock = CpuClock()
    trainer = pl.Trainer(accelerator=args.accelerator, devices=1, precision=args.precision,
                         max_steps=args.steps + args.warmup, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, callbacks=[clock])
    trainer.fit(module, datamodule=dm)
    timed = (module.step_seconds if args.clock == "wall" else clock.seconds)[args.warmup:]
    peak_gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if args.accelerator == "gpu" else None
    queue.put({"step_s": statistics.median(timed), "steps": len(timed), "peak_gpu_mb": peak_gpu_mb,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "student_layers": list(cfg.student.model.layers), "max_len": int(cfg.data.max_len),
               "group_by_length": _group_by_length(args, cfg), "meta_batch_size": dm.meta_batch_size})


def _hardware(args) -> str:
    if args.accelerator == "gpu":
        import torch

        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return f"{platform.processor() or platform.machine()}, {args.threads} threads"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mrpc", help="any task with a train file: mrpc, rte, stsb, cola, sst2, ...")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="round-robin repetitions; the best round counts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed on a GPU")
    parser.add_argument("--group-by-length", choices=["on", "off"], help="override the task's data.group_by_length")
    parser.add_argument("--reference", action="store_true", help="also time the second-order reference steps")
    parser.add_argument("--only", nargs="*", help="substrings of variant names to run (plain fine-tuning always runs)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: the main thread's CPU time per step (use with --threads 1 on a busy machine)")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()

    variants = VARIANTS + (REFERENCE_VARIANTS if args.reference else [])
    variants = [v for v in variants if v[1] == "none" or not args.only or any(o in v[0] for o in args.only)]
    ctx = mp.get_context("spawn")
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        logits_path = str(Path(tmp) / "teacher_logits.pt")
        proc = ctx.Process(target=_cache_logits, args=(args, logits_path))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            print(f"the teacher's logits could not be computed for {args.task} (its traceback is above)", file=sys.stderr)
            return 1
        medians: dict[str, list[float]] = {label: [] for label, _, _ in variants}
        results: dict[str, dict] = {}
        failed = []
        for r in range(args.rounds):
            for label, kind, opts in variants:
                if label in failed:
                    continue
                queue = ctx.Queue()
                p = ctx.Process(target=_run_variant, args=(args, kind, opts, logits_path, queue))
                p.start()
                p.join()
                if p.exitcode != 0:
                    failed.append(label)
                    print(f"  FAILED {label}: exit {p.exitcode} (its traceback is above)", file=sys.stderr, flush=True)
                    continue
                result = queue.get()
                medians[label].append(result["step_s"])
                results[label] = result
                print(f"  round {r + 1}: {label}: {result['step_s'] * 1000:.0f} ms/step", file=sys.stderr, flush=True)

    base_label = VARIANTS[0][0]
    if not medians[base_label]:
        print(f"no baseline: {base_label} failed", file=sys.stderr)
        return 1
    base = min(medians[base_label])
    first = results[base_label]
    gpu = args.accelerator == "gpu"
    print(f"\nstep cost, {args.task}, batch {args.batch_size}, student layers {first['student_layers']}, max_len "
          f"{first['max_len']}, group_by_length {first['group_by_length']}; best of {args.rounds} round(s), each the "
          f"median of {args.steps} steps after {args.warmup} warm-up; {_hardware(args)}, precision {args.precision}, "
          f"{args.clock} clock")
    print(f"{'variant':<38} {'ms/step':>9} {'rounds ms':>16} {'samples/s':>10} {'x plain':>8} {'peak RSS MB':>12}"
          + (f" {'peak GPU MB':>12}" if gpu else ""))
    rows = []
    for label, _, _ in variants:
        if not medians[label]:
            continue
        best = min(medians[label])
        row = {"variant": label, **results[label], "step_s": best, "round_step_s": medians[label],
               "samples_per_s": args.batch_size / best, "ratio_to_plain": best / base}
        rows.append(row)
        spread = "/".join(f"{m * 1000:.0f}" for m in medians[label])
        print(f"{label:<38} {best * 1000:>9.1f} {spread:>16} {row['samples_per_s']:>10.1f} {row['ratio_to_plain']:>8.2f} "
              f"{row['peak_rss_mb']:>12.0f}" + (f" {row['peak_gpu_mb']:>12.0f}" if gpu else ""))
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
