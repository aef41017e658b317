"""rwkd against a Hugging Face Trainer KD recipe on the same MRPC job, one after the other in one invocation.

    python benchmarks/vs_trainer.py [--steps N] [--json out.json]
    python benchmarks/vs_trainer.py --teacher mpnet [--steps N] [--json out.json]

The job: fixed alpha 0.5, tau 1, batch 32, AdamW lr 1e-4, weight decay 0, no warm-up, gradient clipping at
1.0, one epoch (or `--steps`), dynamic padding, the rows of MRPC's train file that rwkd trains on (train
minus its held-out meta split), MRPC's default student (`rwkd train task=mrpc`: the teacher's first layers).
The teacher is the embedded MiniLM-L6 with a seeded, untrained classification head, saved once and given to
both (`teacher.path=`): what it knows does not change what a step costs, and no fine-tuning is needed.

- The Trainer recipe (written here): a `Trainer` subclass whose `compute_loss` runs the live teacher under
  no_grad and mixes cross-entropy with tau^2-scaled KL, per batch; the Trainer's defaults otherwise (its
  fused AdamW where available).
- rwkd: `rwkd train` with the same settings, its defaults otherwise (teacher logits cached before training),
  once in the plain shuffled order and once with `data.group_by_length=true` (batches of similar length; the
  Trainer's own `group_by_length` is off in its recipe, as in the job described).

With `--teacher mpnet` the job is the strong-teacher one: the 110M MPNet teacher (its own tokenizer) and the
student `rwkd train task=mrpc teacher=mpnet` composes (the MiniLM's first layers, pretrained). The Trainer
recipe runs the embedded MPNet live (a seeded, untrained head: same cost), each batch tokenized for both
models; `rwkd train` distils the committed outputs of the fine-tuned MPNet (conf/recipe/mrpc_mpnet_minilm.yaml),
as its default does. The teacher's one-time costs are printed beside: its fine-tuning (read from the outputs'
record) and its outputs pass (the forward over the train pool and dev, timed here on the embedded MPNet).

Timed, for both: the training steps, from the start of a step (batch in hand) to the end of its optimizer
step, summed over the epoch; samples/s is samples over that sum. Also printed: each command's wall time,
which for rwkd includes the logit cache's teacher pass and validation, for the Trainer model loading.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALPHA, TAU, BATCH, LR, CLIP, SEED = 0.5, 1.0, 32, 1e-4, 1.0, 1


def _composed(teacher: str):
    from rwkd.cli import compose_train

    return compose_train(["task=mrpc"] + (["teacher=mpnet"] if teacher == "mpnet" else []))


def _student_layers(teacher: str) -> list[int]:
    return list(_composed(teacher).student.model.layers)


def save_teacher(folder: Path) -> None:
    from rwkd.models import build_classifier, load_tokenizer

    build_classifier("embedded", 2, seed=0).save_pretrained(folder)
    load_tokenizer("embedded").save_pretrained(folder)


def run_rwkd(teacher: Path | None, work: Path, steps: int | None, group_by_length: bool) -> dict:
    """`teacher` None: the task's committed MPNet outputs (`teacher=mpnet`), else a teacher folder."""
    command = [
        sys.executable, "-m", "rwkd.cli", "train", "task=mrpc", "weighting=fixed", f"weighting.alpha={ALPHA}",
        f"kd.temperature={TAU}", f"data.batch_size={BATCH}", f"optim.lr={LR}", "optim.weight_decay=0",
        "optim.warmup_ratio=0", f"optim.grad_clip={CLIP}", "trainer.max_epochs=1", f"seed={SEED}",
        *([f"teacher.path={teacher}"] if teacher is not None else ["teacher=mpnet"]), f"paths.outputs={work}", "export=false", "trainer.enable_progress_bar=false",
        f"data.group_by_length={str(group_by_length).lower()}",
    ] + ([f"trainer.limit_train_batches={steps}"] if steps else [])
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"rwkd train failed (exit {done.returncode})")
    record = json.loads(next(work.rglob("results.json")).read_text())
    timing = record["timing"]
    what = ("rwkd train, cached logits" if teacher is not None else "rwkd train, committed MPNet outputs") \
        + (", length-grouped" if group_by_length else "")
    return {"what": what, "samples": timing["train_samples"],
            "step_seconds": timing["train_step_seconds"], "samples_per_s": timing["samples_per_second"],
            "steps": timing["steps"], "wall_seconds": wall, "command": " ".join(command[1:])}


def run_trainer(teacher: Path | str, work: Path, layers: list[int], steps: int | None, student_model: str) -> dict:
    """The Trainer recipe. `teacher` is a model folder or an embedded name; when its tokenizer is not the
    student's (MPNet), every batch also carries the rows tokenized for the teacher."""
    import torch
    import torch.nn.functional as F
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from rwkd.data.datamodule import GlueDataModule, PadCollator
    from rwkd.data.sources import default_glue_dir
    from rwkd.models import build_classifier, load_tokenizer

    started = time.perf_counter()
    tokenizer = load_tokenizer(student_model)
    teacher_tokenizer = load_tokenizer(str(teacher))
    own_tokens = type(teacher_tokenizer) is not type(tokenizer) or teacher_tokenizer.vocab_size != tokenizer.vocab_size
    views = {"teacher": teacher_tokenizer} if own_tokens else None
    dm = GlueDataModule("mrpc", tokenizer, dir=default_glue_dir(), batch_size=BATCH,  # rwkd's defaults: same rows
                        teacher_tokenizers=views)
    dm.setup("fit")
    pad = PadCollator(tokenizer.pad_token_id, regression=False,
                      view_pad_ids={"teacher": teacher_tokenizer.pad_token_id} if own_tokens else None)

    def collate(items):
        batch = pad(items)
        batch.pop("idx")
        return batch

    teacher_model = build_classifier(str(teacher), 2, seed=0).eval()
    student = build_classifier(student_model, 2, layers=layers, seed=SEED)

    class KDTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            teacher_inputs = inputs.pop("teacher_inputs", {}).get("teacher", inputs)
            outputs = model(**inputs)
            with torch.no_grad():
                teacher_logits = teacher_model(**teacher_inputs).logits
            ce = F.cross_entropy(outputs.logits, labels)
            kl = F.kl_div(F.log_softmax(outputs.logits / TAU, -1), F.log_softmax(teacher_logits / TAU, -1),
                          reduction="batchmean", log_target=True) * TAU**2
            loss = (1 - ALPHA) * ce + ALPHA * kl
            return (loss, outputs) if return_outputs else loss

    class StepClock(TrainerCallback):
        def __init__(self):
            self.seconds, self.steps, self._t = 0.0, 0, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds += time.perf_counter() - self._t
            self.steps += 1

    clock = StepClock()
    args = TrainingArguments(
        output_dir=str(work / "trainer"), per_device_train_batch_size=BATCH, learning_rate=LR, weight_decay=0.0,
        warmup_steps=0, max_grad_norm=CLIP, num_train_epochs=1, max_steps=steps or -1, lr_scheduler_type="linear",
        seed=SEED, use_cpu=True, report_to=[], save_strategy="no", eval_strategy="no", logging_strategy="no",
        disable_tqdm=True, remove_unused_columns=False, dataloader_num_workers=0,
    )
    trainer = KDTrainer(model=student, args=args, train_dataset=dm.train_set, data_collator=collate,
                        callbacks=[clock])
    trainer.train()
    samples = min(len(dm.train_set), clock.steps * BATCH)
    return {"what": "HF Trainer KD recipe (live teacher)", "samples": samples, "step_seconds": clock.seconds,
            "samples_per_s": samples / clock.seconds, "steps": clock.steps,
            "wall_seconds": time.perf_counter() - started, "optimizer": type(getattr(trainer.optimizer, "optimizer", trainer.optimizer)).__name__}


def teacher_one_time_costs() -> dict:
    """The MPNet teacher's costs paid once per task, not per run: its fine-tuning (the committed outputs'
    record) and its outputs pass, timed here: the forward over every row rwkd caches (train pool and dev)."""
    import torch

    from rwkd.data.datamodule import GlueDataModule
    from rwkd.data.sources import default_glue_dir
    from rwkd.models import build_classifier, load_tokenizer, model_inputs

    outputs = Path(_composed("mpnet").teacher.outputs)
    record = json.loads((outputs / "outputs.json").read_text())
    tokenizer = load_tokenizer("embedded-mpnet")
    dm = GlueDataModule("mrpc", tokenizer, dir=default_glue_dir(), batch_size=BATCH)
    dm.setup("fit")
    model = build_classifier("embedded-mpnet", 2, seed=0).eval()
    rows = [*dm.train_set, *dm.meta_set, *(row for split in dm.dev_sets.values() for row in split)]
    started = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(rows), 64):
            model(**model_inputs(dm.collate(rows[i:i + 64])))
    return {"fine_tune_seconds": record["fine_tune_seconds"], "fine_tune_threads": record.get("fine_tune_threads"),
            "fine_tune_hardware": record.get("hardware", {}).get("cpu"), "outputs_rows": len(rows),
            "outputs_pass_seconds": time.perf_counter() - started, "outputs_record": str(outputs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="stop after this many steps (default: one epoch)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-grouped", action="store_true", help="skip the rwkd run with data.group_by_length=true")
    parser.add_argument("--json", help="also write the figures as JSON here")
    parser.add_argument("--teacher", choices=["minilm", "mpnet"], default="minilm",
                        help="mpnet: the 110M teacher, live in the Trainer recipe, its committed outputs in rwkd")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    layers = _student_layers(args.teacher)
    one_time = None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.teacher == "mpnet":
            teacher, student_model, rwkd_teacher = "embedded-mpnet", "embedded", None
        else:
            save_teacher(tmp / "teacher")
            teacher = student_model = rwkd_teacher = tmp / "teacher"
        trainer = run_trainer(teacher, tmp, layers, args.steps, str(student_model))
        print(f"  measured the Trainer recipe: {trainer['samples_per_s']:.1f} samples/s", file=sys.stderr, flush=True)
        runs = [run_rwkd(rwkd_teacher, tmp / "rwkd", args.steps, group_by_length=False)]
        if not args.no_grouped:
            runs.append(run_rwkd(rwkd_teacher, tmp / "rwkd_grouped", args.steps, group_by_length=True))
        if args.teacher == "mpnet":
            one_time = teacher_one_time_costs()
    print(f"\nMRPC KD job, teacher {args.teacher}, student layers {layers}, batch {BATCH}, alpha {ALPHA}, tau {TAU}, lr {LR}, wd 0, no warm-up, "
          f"clip {CLIP}, {'one epoch' if not args.steps else f'{args.steps} steps'}; torch threads {args.threads}")
    print(f"{'run':<40} {'steps':>6} {'samples':>8} {'step s':>8} {'samples/s':>10} {'wall s':>8} {'x Trainer':>10}")
    for r in (trainer, *runs):
        r["ratio_to_trainer"] = r["samples_per_s"] / trainer["samples_per_s"]
        print(f"{r['what']:<40} {r['steps']:>6} {r['samples']:>8} {r['step_seconds']:>8.1f} {r['samples_per_s']:>10.1f} "
              f"{r['wall_seconds']:>8.1f} {r['ratio_to_trainer']:>10.2f}")
    if one_time:
        live_teacher_s = trainer["step_seconds"] - runs[0]["step_seconds"]  # per epoch, the live teacher's part and more
        print(f"teacher, once per task: fine-tuning {one_time['fine_tune_seconds'] / 60:.1f} min (its record: "
              f"{one_time['fine_tune_hardware']}, {one_time['fine_tune_threads']} threads); outputs pass over "
              f"{one_time['outputs_rows']} rows {one_time['outputs_pass_seconds']:.1f} s (timed here). The Trainer "
              f"recipe's steps take {live_teacher_s:.1f} s more per epoch than rwkd's cached run: the outputs pass pays "
              f"back after {one_time['outputs_pass_seconds'] / max(live_teacher_s, 1e-9):.2f} epochs of one run.")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [trainer, *runs], "layers": layers, "args": vars(args),
                                               "teacher_one_time": one_time}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
