"""The cases of tests/test_golden_values.py: a tiny float64 BERT whose weights come from one seeded
generator (not from transformers' initialisers, which may change between versions), hand-made batches and
teacher logits. Run this file to print the values that test pins (after a change that is meant to alter them)."""

from __future__ import annotations

import torch
from tiny_models import TINY_CONFIG, batch
from two_term_reference import reference_scores

from rwkd.models import build_classifier
from rwkd.weighting.base import Signals
from rwkd.weighting.meta import fast_scores
from rwkd.weighting.meta_context import MetaContext
from rwkd.weighting.metanet import MetaWeightNet

ETA = 0.5
# (name, classes (1: regression), kd loss, temperature)
CASES = [
    ("3 classes, kl, tau 1", 3, "kl", 1.0),
    ("3 classes, kl, tau 4", 3, "kl", 4.0),
    ("3 classes, mse", 3, "mse", 2.0),
    ("regression", 1, "kl", 2.0),
]


def student(num_labels: int) -> torch.nn.Module:
    model = build_classifier("embedded", num_labels, random_init=True, config_overrides=TINY_CONFIG,
                             attn_implementation="eager", seed=0).double()
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.3)
    return model


def context(num_labels: int, kd_loss: str, temperature: float) -> MetaContext:
    regression = num_labels == 1
    train, meta = batch(4, 9, num_labels=max(num_labels, 2), seed=0), batch(3, 7, num_labels=max(num_labels, 2), seed=5)
    if regression:
        for b in (train, meta):
            b["labels"] = b["labels"].double() * 2.5
    g = torch.Generator().manual_seed(7)
    t_train = torch.randn(4, num_labels, generator=g, dtype=torch.float64) * 2
    t_meta = torch.randn(3, num_labels, generator=g, dtype=torch.float64) * 2
    return MetaContext(student=student(num_labels), batch=train, teacher_logits=t_train, meta_batch=meta,
                       meta_teacher_logits=t_meta, regression=regression, kd_temperature=temperature, kd_kind=kd_loss)


def signals(ctx: MetaContext) -> Signals:
    logits = ctx.forward(ctx.params(), ctx.batch)
    label, kd = ctx.loss_terms(logits, ctx.batch["labels"], ctx.teacher_logits)
    return Signals(label, kd, logits, ctx.teacher_logits, ctx.batch["labels"], ctx.batch["idx"], 0, 0.0,
                   ctx.regression, meta=ctx)


def metanet() -> MetaWeightNet:
    return MetaWeightNet(inputs=("label_loss", "kd_loss"), hidden=3, virtual_lr=ETA, meta_loss="mix", seed=0).double()


def values(case) -> dict:
    _, num_labels, kd_loss, tau = case
    ctx = context(num_labels, kd_loss, tau)
    scheme = metanet()
    s = signals(ctx)
    grads = scheme.fast_gradient(s, scheme.signals_matrix(s))
    return {
        "scores": torch.stack(fast_scores(ctx, ETA, "mix")),
        "reference_scores": torch.stack(reference_scores(ctx, ETA, "mix")),
        "metanet_grad": torch.cat([g.reshape(-1) for g in grads]),
        "metanet_reference_grad": torch.cat([g.reshape(-1) for g in scheme.reference_gradient(s, scheme.signals_matrix(s))]),
    }


if __name__ == "__main__":
    torch.set_printoptions(precision=12)
    for case in CASES:
        v = values(case)
        print(case[0])
        print("  scores", [[float(f"{x:.12e}") for x in row] for row in v["scores"].tolist()])
        print("  metanet_grad", [float(f"{x:.12e}") for x in v["metanet_grad"].tolist()])
