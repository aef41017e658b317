"""RW-KD's two-term scores by the second-order reference, and the two-term normalisation b / (a + b): the
independent forms the exactness and golden tests hold the package's K-term code against (rwkd/weighting/meta.py)."""

from __future__ import annotations

import torch

from rwkd.weighting.meta import label_and_teacher_terms, reference_term_scores
from rwkd.weighting.meta_context import MetaContext


def reference_scores(ctx: MetaContext, virtual_lr: float, meta_loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(u^label, u^kd): the two-term scores, by the second-order reference."""
    u = reference_term_scores(ctx, label_and_teacher_terms(ctx), virtual_lr, meta_loss)
    return u[0], u[1]


def normalise(u_label: torch.Tensor, u_kd: torch.Tensor, delta: float) -> torch.Tensor:
    """The teacher term's weight of the two-term objective: b / (a + b), a and b the floored scores."""
    a = u_label.clamp_min(delta)
    b = u_kd.clamp_min(delta)
    return b / (a + b)
