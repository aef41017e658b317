"""`weighting=meta`: RW-KD, per-sample weights from a meta step on the held-out meta split
(METHOD.md section 3a).

Each sample gets perturbations eps_i^label = eps_i^kd = 0 on its two loss terms; a virtual SGD step
theta_hat(eps) = theta - eta * grad (1/n) sum_i (eps_i^label l_i^label + eps_i^kd l_i^kd) is taken, the
meta loss is measured at theta_hat on a meta batch, and u_i^k = -dL_meta/d eps_i^k says how much
up-weighting each term of each sample would have helped. Then a_i = max(u_i^label, delta),
b_i = max(u_i^kd, delta) and w_i = b_i / (a_i + b_i): each sample's two weights sum to 1.
"""

from __future__ import annotations

import torch

from rwkd.errors import RwkdError
from rwkd.weighting.base import Signals, WeightingScheme
from rwkd.weighting.meta_context import META_LOSSES, MetaContext, virtual_step

IMPLS = ("reference",)


def reference_scores(ctx: MetaContext, virtual_lr: float, meta_loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(u^label, u^kd) by differentiating through a functional virtual step (second order)."""
    params = ctx.params()
    label, kd = ctx.train_terms(params)
    if kd is None:
        raise RwkdError("weighting=meta needs a teacher term, and this run has no teacher")
    n = label.shape[0]
    eps = torch.zeros(2, n, dtype=label.dtype, device=label.device, requires_grad=True)
    inner = (eps[0] * label + eps[1] * kd).sum() / n
    theta_hat = virtual_step(params, inner, virtual_lr)
    (d_eps,) = torch.autograd.grad(ctx.meta_loss(theta_hat, meta_loss), [eps])
    return -d_eps[0].detach(), -d_eps[1].detach()


def normalise(u_label: torch.Tensor, u_kd: torch.Tensor, delta: float) -> torch.Tensor:
    a = u_label.clamp_min(delta)
    b = u_kd.clamp_min(delta)
    return b / (a + b)


class RWKD(WeightingScheme):
    name = "meta"
    needs_meta = True
    needs_double_backward = True

    def __init__(self, meta_loss: str = "label", impl: str = "reference", virtual_lr: float = 1e-4,
                 delta: float = 1e-8):
        super().__init__()
        if meta_loss not in META_LOSSES:
            raise RwkdError(f"weighting.meta_loss={meta_loss!r} is unknown; accepted: {', '.join(META_LOSSES)}")
        if impl not in IMPLS:
            raise RwkdError(f"weighting.impl={impl!r} is unknown; accepted: {', '.join(IMPLS)}")
        if not float(virtual_lr) > 0:
            raise RwkdError(f"weighting.virtual_lr={virtual_lr} must be > 0")
        self.meta_loss, self.impl = meta_loss, impl
        self.virtual_lr, self.delta = float(virtual_lr), float(delta)
        self.last_scores: tuple[torch.Tensor, torch.Tensor] | None = None

    def scores(self, s: Signals) -> tuple[torch.Tensor, torch.Tensor]:
        if s.meta is None:
            raise RwkdError("weighting=meta was called without a meta context")
        return reference_scores(s.meta, self.virtual_lr, self.meta_loss)

    def weights(self, s: Signals) -> torch.Tensor:
        u_label, u_kd = self.scores(s)
        self.last_scores = (u_label, u_kd)
        return normalise(u_label, u_kd, self.delta)

    def describe(self) -> str:
        return f"meta(rwkd, meta_loss={self.meta_loss})"
