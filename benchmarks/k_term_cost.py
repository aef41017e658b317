"""What more terms cost RW-KD's meta step: the exact first-order scores for K = 2, 3 and 4 terms, timed on
the same real batches in one run.

    python benchmarks/k_term_cost.py [--task mrpc] [--layers 0 1 2 3] [--batches 6] [--json out.json]

K = 2: the label term and one teacher's logits (today's step); K = 3: a second teacher's logits; K = 4:
also a hidden-state term, the student's [CLS] state mapped by a learned linear layer onto a teacher's
(384-wide, as MiniLM's); only K = 4 runs the student with its hidden states and the projection. Teacher logits and states are random: the cost does not depend on their values.
Each variant runs `fast_term_scores` (one backward on the meta batch, one JVP over the training batch);
the figure is the median over `--batches` batches (the first dropped as warm-up) and its ratio to K = 2.
"""

from __future__ import annotations

import json
import statistics
import time
from types import SimpleNamespace

from real_batch_args import real_batch_parser


def main() -> int:
    parser = real_batch_parser(__doc__)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from rwkd import losses
    from rwkd.data.datamodule import GlueDataModule
    from rwkd.data.sources import default_glue_dir
    from rwkd.models import build_classifier, load_tokenizer
    from rwkd.tasks import get_task
    from rwkd.weighting.meta import fast_term_scores
    from rwkd.weighting.meta_context import MetaContext

    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    dm = GlueDataModule(args.task, load_tokenizer("embedded"), dir=default_glue_dir(), max_len=128,
                        batch_size=args.batch_size, max_train_samples=args.batch_size * (args.batches + 2) + 200,
                        meta_size=200)
    dm.setup("fit")
    batches = [b for _, b in zip(range(args.batches), dm.train_dataloader(), strict=False)]
    metas = [dm.next_meta_batch() for _ in range(args.batches)]

    class WithProjection(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = build_classifier("embedded", task.num_labels, layers=args.layers, seed=1)
            self.project = torch.nn.Linear(self.bert.config.hidden_size, 384)

        def forward(self, **inputs):
            out = self.bert(**inputs, output_hidden_states=True)
            return SimpleNamespace(logits=out.logits, projected_cls=self.project(out.hidden_states[-1][:, 0]))

    student = WithProjection().train()
    gen = torch.Generator().manual_seed(0)

    def run(k: int, batch: dict, meta: dict) -> float:
        n, m = batch["labels"].shape[0], meta["labels"].shape[0]
        teachers = [torch.randn(n, task.num_labels, generator=gen) for _ in range(2)]
        cls = torch.randn(n, 384, generator=gen)
        # without a hidden-state term the student alone, so K = 2 and 3 pay nothing for the projection
        model = student if k == 4 else student.bert
        ctx = MetaContext(model, batch, teachers[0], meta, torch.randn(m, task.num_labels, generator=gen),
                          task.is_regression, 2.0, "kl")

        def terms(params):
            out = ctx.outputs(params, batch)
            z, y = out.logits, batch["labels"]
            found = [losses.label_loss(z, y, task.is_regression)]
            found += [losses.kd_loss(z, t, task.is_regression, 2.0, "kl") for t in teachers[: min(k - 1, 2)]]
            if k == 4:
                found.append(((out.projected_cls - cls) ** 2).mean(dim=-1))
            return found

        started = time.perf_counter()
        u = fast_term_scores(ctx, terms, 1e-4, "label")
        elapsed = time.perf_counter() - started
        assert u.shape == (k, n)
        return elapsed

    seconds = {k: [] for k in (2, 3, 4)}
    for batch, meta in zip(batches, metas, strict=True):
        for k in seconds:  # interleaved, so a slow moment of the machine hits every variant alike
            seconds[k].append(run(k, batch, meta))
    median = {k: statistics.median(v[1:]) for k, v in seconds.items()}
    rows = [{"terms": k, "median_seconds": median[k], "ratio_to_two": median[k] / median[2]} for k in seconds]
    print(f"{args.task}, student layers {args.layers}, batch {args.batch_size}, {args.batches - 1} timed batches")
    for r in rows:
        print(f"K={r['terms']}: {r['median_seconds']:.3f} s per meta step's scores, {r['ratio_to_two']:.2f}x K=2")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"task": args.task, "layers": args.layers, "batch_size": args.batch_size, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
