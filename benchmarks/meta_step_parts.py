"""What an exact RW-KD step is made of: the three passes it needs, each timed alone on the same batches.

    python benchmarks/meta_step_parts.py [--task mrpc] [--layers 0 1 2 3] [--batches 6]

(1) the real step: forward and backward on a training batch, AdamW step; (2) forward and backward on a meta
batch in eval mode (the meta gradient g); (3) the forward-mode pass (JVP) over the training batch along a
direction, giving every sample's directional derivatives. A plain fine-tuning step is (1); the fast meta
step is (1) + (2) + (3), so (1 + 2 + 3) / (1) is the floor of its ratio to plain fine-tuning. Medians over
`--batches` real batches of the task's train file (the first is dropped as warm-up); embedded MiniLM layers
as the student.
"""

from __future__ import annotations

import statistics
import sys
import time

from real_batch_args import real_batch_parser


def main() -> int:
    parser = real_batch_parser(__doc__)
    args = parser.parse_args()

    import torch
    from torch.func import jvp

    from rwkd import losses
    from rwkd.data.datamodule import GlueDataModule
    from rwkd.data.sources import default_glue_dir
    from rwkd.models import build_classifier, load_tokenizer, model_inputs
    from rwkd.tasks import get_task
    from rwkd.weighting.meta_context import MetaContext

    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    tokenizer = load_tokenizer("embedded")
    dm = GlueDataModule(args.task, tokenizer, dir=default_glue_dir(), max_len=128, batch_size=args.batch_size,
                        max_train_samples=args.batch_size * (args.batches + 2) + 200, meta_size=200)
    dm.setup("fit")
    batches = [b for _, b in zip(range(args.batches), dm.train_dataloader(), strict=False)]
    student = build_classifier("embedded", task.num_labels, layers=args.layers, seed=1).train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-5, fused=True)
    gen = torch.Generator().manual_seed(0)

    def context(batch):
        n = batch["labels"].shape[0]
        teacher = torch.randn(n, task.num_labels, generator=gen)
        return MetaContext(student, batch, teacher, batch, teacher, task.is_regression, 1.0, "kl")

    def real_step(batch):
        loss = losses.label_loss(student(**model_inputs(batch)).logits, batch["labels"], task.is_regression).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def meta_gradient(batch):
        ctx = context(batch)
        params = ctx.params()
        torch.autograd.grad(ctx.meta_loss(params), list(params.values()), allow_unused=True)

    def scores_jvp(batch):
        ctx = context(batch)
        primal = {k: p.detach() for k, p in ctx.params().items()}
        direction = {k: torch.randn(p.shape, generator=gen) for k, p in primal.items()}
        jvp(ctx.train_terms, (primal,), (direction,))

    def timed(fn) -> float:
        seconds = []
        for batch in batches:
            started = time.perf_counter()
            fn(batch)
            seconds.append(time.perf_counter() - started)
        return statistics.median(seconds[1:])

    parts = {"(1) real step: F+B+AdamW": timed(real_step), "(2) meta batch F+B (eval)": timed(meta_gradient),
             "(3) JVP over the training batch": timed(scores_jvp)}
    base = parts["(1) real step: F+B+AdamW"]
    print(f"{args.task}, student layers {args.layers}, batch {args.batch_size}, {args.threads} threads, "
          f"median of {len(batches) - 1} batches")
    for name, s in parts.items():
        print(f"{name:<34} {s * 1000:8.1f} ms  {s / base:5.2f} x (1)")
    print(f"{'floor of meta / plain: (1+2+3)/(1)':<34} {sum(parts.values()) / base:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
