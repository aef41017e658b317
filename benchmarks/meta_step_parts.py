"""What an exact RW-KD step is made of: the passes it needs, each timed alone on the same batches.

    python benchmarks/meta_step_parts.py [--task mrpc] [--layers 0 1 2 3] [--batches 6] [--meta-batch-sizes 16 8]

(1) the real step: forward and backward on a training batch, AdamW step; (2) forward and backward on a meta
batch in eval mode (the meta gradient g); (3) the forward-mode pass (JVP) over the training batch along a
direction, giving every sample's directional derivatives; (4) the shared impl's real step: the training forward
(train mode, dropout) carrying the direction as its tangent, then backward and AdamW; (2, M rows) the meta
gradient from a meta batch of M rows. A plain fine-tuning step is (1); the fast meta step is (1) + (2) + (3),
the shared one (4) + (2), so those sums over (1) are the floors of their ratios to plain fine-tuning; the
meta-weight net's fast step adds a virtual step's forward and backward on the training batch (about (2)), its
shared step is the shared meta step plus a tiny net. Medians over `--batches` real batches of the task's train
file (the first is dropped as warm-up), the parts interleaved batch by batch; embedded MiniLM layers as the
student.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from real_batch_args import real_batch_parser


def main() -> int:
    parser = real_batch_parser(__doc__)
    parser.add_argument("--meta-batch-sizes", type=int, nargs="*", default=[16, 8], help="smaller meta batches to time")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: the main thread's CPU time (use with --threads 1 on a busy machine)")
    parser.add_argument("--json", help="also write the parts and floors here")
    args = parser.parse_args()

    import torch
    from torch.autograd import forward_ad
    from torch.func import functional_call, jvp

    from rwkd import losses
    from rwkd.data.datamodule import GlueDataModule
    from rwkd.data.sources import default_glue_dir
    from rwkd.models import build_classifier, load_tokenizer, model_inputs
    from rwkd.tasks import get_task
    from rwkd.weighting.meta_context import MetaContext, tangent_forward

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
    # one direction for (3) and (4), drawn before the clock starts (22M normal draws are not part of a step)
    direction = {k: torch.randn(p.shape, generator=gen) for k, p in student.named_parameters()}

    def context(batch):
        n = batch["labels"].shape[0]
        teacher = torch.randn(n, task.num_labels, generator=gen)
        return MetaContext(student, batch, teacher, batch, teacher, task.is_regression, 1.0, "kl")

    def real_step(batch):
        loss = losses.label_loss(student(**model_inputs(batch)).logits, batch["labels"], task.is_regression).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def meta_gradient(batch, rows=None):
        ctx = context(batch if rows is None else {k: v[:rows] for k, v in batch.items()})
        params = ctx.params()
        torch.autograd.grad(ctx.meta_loss(params), list(params.values()), allow_unused=True)

    def scores_jvp(batch):
        ctx = context(batch)
        primal = {k: p.detach() for k, p in ctx.params().items()}
        jvp(ctx.train_terms, (primal,), (direction,))

    def shared_step(batch):
        ctx = context(batch)
        with tangent_forward(student, direction) as params:
            logits = functional_call(student, params, (), model_inputs(batch)).logits
            terms = torch.stack(ctx.loss_terms(logits, batch["labels"], ctx.teacher_logits))
            primal, tangent = forward_ad.unpack_dual(terms)
            tangent.detach()
        loss = primal.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    parts = {"(1) real step: F+B+AdamW": real_step, "(2) meta batch F+B (eval)": meta_gradient,
             "(3) JVP over the training batch": scores_jvp, "(4) shared real step: F+tangent+B+AdamW": shared_step}
    for rows in args.meta_batch_sizes:
        parts[f"(2) meta batch F+B, {rows} rows"] = lambda batch, rows=rows: meta_gradient(batch, rows)
    seconds = {name: [] for name in parts}
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    for batch in batches:  # interleaved: a slow spell of a shared machine hits every part alike
        for name, fn in parts.items():
            started = clock()
            fn(batch)
            seconds[name].append(clock() - started)
    medians = {name: statistics.median(s[1:]) for name, s in seconds.items()}
    base = medians["(1) real step: F+B+AdamW"]
    print(f"{args.task}, student layers {args.layers}, batch {args.batch_size}, {args.threads} threads, "
          f"median of {len(batches) - 1} batches, {args.clock} clock")
    for name, s in medians.items():
        print(f"{name:<42} {s * 1000:8.1f} ms  {s / base:5.2f} x (1)")
    one, meta, jvp_s, shared = (medians[k] for k in list(parts)[:4])
    floors = {"fast meta: (1+2+3)/(1)": (one + meta + jvp_s) / one,
              "shared meta: (4+2)/(1)": (shared + meta) / one,
              **{f"shared meta, meta batch {r}: (4+2_{r})/(1)": (shared + medians[f"(2) meta batch F+B, {r} rows"]) / one
                 for r in args.meta_batch_sizes},
              "fast metanet: (1+2+2+3)/(1), virtual step ~ (2)": (one + 2 * meta + jvp_s) / one}
    for name, f in floors.items():
        print(f"floor of {name:<52} {f:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "part_s": medians, "floors": floors}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
