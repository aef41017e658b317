"""What more terms cost an RW-KD training step: the step rwkd runs (rwkd/terms.py, weighting=meta) with
2, 3 and 4 terms, timed on the same real batches in one run.

    python benchmarks/k_term_cost.py [--task mrpc] [--layers 0 1 2 3] [--batches 6] [--json out.json]

Variants: `2` label + one teacher (today's step); `3 teachers` a second teacher's logits (kd1); `3 hidden`
a hidden-state term instead (the student's last [CLS] state through the projection inside the student
against a 384-wide teacher state, so the student runs with its hidden states); `4` both. Teacher outputs
are random: the cost does not depend on their values.

Each variant is timed twice per batch: the meta scores alone (one backward on the meta batch, one JVP
over the training batch) and the whole step as the LightningModule takes it (student forward, terms,
the scores, the K-term loss and its backward; the optimizer's step is the same for every K and left
out). Figures: medians over `--batches` batches (the first dropped as warm-up) and their ratios to K = 2.
"""

from __future__ import annotations

import json
import statistics
import time

from real_batch_args import real_batch_parser

VARIANTS = {"2": (False, False), "3 teachers": (True, False), "3 hidden": (False, True), "4": (True, True)}
TEACHER_WIDTH = 384


def main() -> int:
    parser = real_batch_parser(__doc__)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from rwkd import losses
    from rwkd.data.datamodule import GlueDataModule
    from rwkd.data.sources import default_glue_dir
    from rwkd.models import build_classifier, load_tokenizer, model_inputs
    from rwkd.tasks import get_task
    from rwkd.terms import ExtraTerm, TermSet, add_projections, projector
    from rwkd.weighting.base import Signals
    from rwkd.weighting.meta import RWKD
    from rwkd.weighting.meta_context import MetaContext

    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    dm = GlueDataModule(args.task, load_tokenizer("embedded"), dir=default_glue_dir(), max_len=128,
                        batch_size=args.batch_size, max_train_samples=args.batch_size * (args.batches + 2) + 200,
                        meta_size=200)
    dm.setup("fit")
    batches = [b for _, b in zip(range(args.batches), dm.train_dataloader(), strict=False)]
    metas = [dm.next_meta_batch() for _ in range(args.batches)]
    depth = len(args.layers)
    students, term_sets = {}, {}
    for name, (second_teacher, hidden) in VARIANTS.items():
        extras = ([ExtraTerm("kd1", 1)] if second_teacher else []) + \
            ([ExtraTerm("hidden0", 0, student_layer=depth, teacher_layer=6)] if hidden else [])
        student = build_classifier("embedded", task.num_labels, layers=args.layers, seed=1)
        add_projections(student, extras, [TEACHER_WIDTH, TEACHER_WIDTH])
        students[name], term_sets[name] = student.train(), TermSet(extras, task.is_regression, 2.0, "kl")
    scheme = RWKD(virtual_lr=1e-4)
    gen = torch.Generator().manual_seed(0)

    def step(name: str, batch: dict, meta: dict) -> tuple[float, float]:
        student, term_set = students[name], term_sets[name]
        n, m = batch["labels"].shape[0], meta["labels"].shape[0]
        teacher = torch.randn(n, task.num_labels, generator=gen)
        targets = tuple(torch.randn(n, TEACHER_WIDTH, generator=gen) if t.is_hidden
                        else torch.randn(n, task.num_labels, generator=gen) for t in term_set.extras)
        student.zero_grad(set_to_none=True)
        started = time.perf_counter()
        outputs = student(**model_inputs(batch), output_hidden_states=term_set.needs_hidden_states)
        label = losses.label_loss(outputs.logits, batch["labels"], task.is_regression)
        kd = losses.kd_loss(outputs.logits, teacher, task.is_regression, 2.0, "kl")
        extra = tuple(term_set.values(outputs, targets, projector(dict(student.named_parameters()))))
        ctx = MetaContext(student, batch, teacher, meta, torch.randn(m, task.num_labels, generator=gen),
                          task.is_regression, 2.0, "kl", term_set=term_set if extra else None, extra_targets=targets)
        signals = Signals(label, kd, outputs.logits, teacher, batch["labels"], batch["idx"], 0, 0.0,
                          task.is_regression, meta=ctx, extra_terms=extra, extra_targets=targets,
                          term_set=term_set if extra else None)
        scores_started = time.perf_counter()
        weights = scheme.term_weights(signals)
        scores_seconds = time.perf_counter() - scores_started
        losses.mix_terms(signals.terms(), weights.detach()).backward()
        assert weights.shape == (term_set.size, n)
        return scores_seconds, time.perf_counter() - started

    seconds = {name: {"scores": [], "step": []} for name in VARIANTS}
    for batch, meta in zip(batches, metas, strict=True):
        for name in VARIANTS:  # interleaved, so a slow moment of the machine hits every variant alike
            scores, whole = step(name, batch, meta)
            seconds[name]["scores"].append(scores)
            seconds[name]["step"].append(whole)
    median = {name: {part: statistics.median(v[1:]) for part, v in parts.items()} for name, parts in seconds.items()}
    rows = [{"variant": name, "terms": term_sets[name].size, **{f"median_{p}_seconds": median[name][p] for p in ("scores", "step")},
             **{f"{p}_ratio_to_two": median[name][p] / median["2"][p] for p in ("scores", "step")}} for name in VARIANTS]
    print(f"{args.task}, student layers {args.layers}, batch {args.batch_size}, {args.batches - 1} timed batches")
    for r in rows:
        print(f"K={r['variant']:<11} meta scores {r['median_scores_seconds']:.3f} s ({r['scores_ratio_to_two']:.2f}x K=2), "
              f"whole step {r['median_step_seconds']:.3f} s ({r['step_ratio_to_two']:.2f}x K=2)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"task": args.task, "layers": args.layers, "batch_size": args.batch_size, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
