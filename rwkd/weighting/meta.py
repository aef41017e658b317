"""`weighting=meta`: RW-KD, per-sample weights from a meta step on the held-out meta split
(docs/method.md §3).

Each sample gets perturbations eps_i^label = eps_i^kd = 0 on its two loss terms; a virtual SGD step
theta_hat(eps) = theta - eta * grad (1/n) sum_i (eps_i^label l_i^label + eps_i^kd l_i^kd) is taken, the
meta loss is measured at theta_hat on a meta batch, and u_i^k = -dL_meta/d eps_i^k says how much
up-weighting each term of each sample would have helped. Then a_i = max(u_i^label, delta),
b_i = max(u_i^kd, delta) and w_i = b_i / (a_i + b_i): each sample's two weights sum to 1.

With K terms (kd.teachers, kd.hidden: rwkd/terms.py) each sample gets K perturbations, the same one JVP
gives all K scores, and W[k, i] = max(u_i^k, delta) / sum_j max(u_i^j, delta).

Three impls of the same scores u_i^k = (eta / n) <g, grad l_i^k>, g = grad L_meta(theta) on the meta batch:
`fast` (g, then a JVP over the training batch in eval mode: the dropout-free scores), `shared` (g before the
step's forward, which then carries g as its tangent: the scores of the step actually taken, its dropout masks
included, with no pass of their own) and `reference` (second order, through the virtual step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.func import jvp

from rwkd import distributed
from rwkd.errors import RwkdError
from rwkd.setting_rules import POSITIVE, OneOf
from rwkd.weighting.base import Signals, WeightingScheme
from rwkd.weighting.meta_context import (
    IMPLS,
    META_LOSSES,
    MetaContext,
    meta_gradient,
    shared_direction,
    shared_tangents,
    virtual_step,
)
from rwkd.weighting.score_scope import RULE as SCORE_LAYERS
from rwkd.weighting.score_scope import ScoreScope

# params -> the K per-sample loss terms of the training batch at those parameters, each of shape [n]
TermsFn = Callable[[dict[str, torch.Tensor]], Sequence[torch.Tensor]]


def reference_term_scores(ctx: MetaContext, terms: TermsFn, virtual_lr: float, meta_loss: str) -> torch.Tensor:
    """u [K, n]: -dL_meta/d eps_i^k, differentiating through a functional virtual step (second order), with
    one perturbation per sample and term (docs/method.md §3)."""
    if distributed.active():
        raise RwkdError("weighting.impl=reference runs in one process only; use impl=fast under data parallelism")
    params = ctx.params()
    values = list(terms(params))
    n = values[0].shape[0]
    eps = torch.zeros(len(values), n, dtype=values[0].dtype, device=values[0].device, requires_grad=True)
    inner = sum((eps[k] * term).sum() for k, term in enumerate(values)) / n
    theta_hat = virtual_step(params, inner, virtual_lr)
    (d_eps,) = torch.autograd.grad(ctx.meta_loss(theta_hat, meta_loss), [eps])
    return -d_eps.detach()


def fast_term_scores(ctx: MetaContext, terms: TermsFn, virtual_lr: float, meta_loss: str) -> torch.Tensor:
    """The same u [K, n] with no second-order graph.

    At eps = 0 the virtual step is the identity, so u_i^k = (eta / n) <g, grad l_i^k(theta)> exactly, with
    g = grad L_meta(theta): one backward on the meta batch for g, then every (sample, term) directional
    derivative along g in one forward-mode pass (a JVP) over the training batch, whatever K is.
    """
    direction = meta_gradient(ctx, meta_loss)
    primal = {k: p.detach() for k, p in ctx.params().items()}
    _, tangents = jvp(lambda p: torch.stack(list(terms(p))), (primal,), (direction,))
    return scores_from_tangents(tangents.detach(), virtual_lr)


def scores_from_tangents(tangents: torch.Tensor, virtual_lr: float) -> torch.Tensor:
    """u [K, n] = (eta / n) <g, grad l_i^k> from the terms' derivatives along g, n the global batch."""
    return (virtual_lr / (tangents.shape[1] * distributed.world_size())) * tangents


def label_and_teacher_terms(ctx: MetaContext) -> TermsFn:
    def terms(params):
        label, kd = ctx.train_terms(params)
        if kd is None:
            raise RwkdError("weighting=meta needs a teacher term, and this run has no teacher")
        return label, kd

    return terms


def fast_scores(ctx: MetaContext, virtual_lr: float, meta_loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(u^label, u^kd): the two-term scores, first order (one meta backward, one JVP)."""
    u = fast_term_scores(ctx, label_and_teacher_terms(ctx), virtual_lr, meta_loss)
    return u[0], u[1]


def normalise_terms(u: torch.Tensor, delta: float) -> torch.Tensor:
    """w [K, n] on the simplex per sample: w_i^k = max(u_i^k, delta) / sum_j max(u_i^j, delta)."""
    floored = u.clamp_min(delta)
    return floored / floored.sum(dim=0, keepdim=True)


class RWKD(WeightingScheme):
    name = "meta"
    needs_meta = True
    needs_higher_order_ad = True
    # delta: the floor of the scores; with both scores at or below it a sample's weight is 1/2 (0 would divide 0 by 0)
    SETTINGS = {"meta_loss": OneOf(META_LOSSES), "impl": OneOf(IMPLS), "virtual_lr": POSITIVE, "delta": POSITIVE,
                "score_layers": SCORE_LAYERS}

    def __init__(self, meta_loss: str = "label", impl: str = "fast", virtual_lr: float = 1e-4,
                 delta: float = 1e-8, score_layers: int | None = None):
        super().__init__()
        self.check_settings({"meta_loss": meta_loss, "impl": impl, "virtual_lr": virtual_lr, "delta": delta,
                             "score_layers": score_layers})
        self.meta_loss, self.impl = meta_loss, impl
        self.scope = ScoreScope(score_layers)  # null: the virtual step moves every parameter (score_scope.py)
        self.virtual_lr, self.delta = float(virtual_lr), float(delta)
        self.last_scores: torch.Tensor | None = None  # u [K, n] of the last batch, for diagnostics

    def forward_direction(self, meta: MetaContext | None) -> dict[str, torch.Tensor] | None:
        """impl=shared: the meta gradient g, so that the step's one training forward gives every score."""
        return shared_direction(self.name, self.impl, self.scope(meta), self.meta_loss)

    def term_scores(self, s: Signals) -> torch.Tensor:
        """u [K, n] over every term of the run."""
        if self.impl == "shared":
            return scores_from_tangents(shared_tangents(s.term_tangents), self.virtual_lr)
        if s.meta is None:
            raise RwkdError("weighting=meta was called without a meta context")
        compute = fast_term_scores if self.impl == "fast" else reference_term_scores
        ctx = self.scope(s.meta)
        terms = label_and_teacher_terms(ctx) if ctx.term_set is None else ctx.all_terms
        return compute(ctx, terms, self.virtual_lr, self.meta_loss)

    def term_weights(self, s: Signals) -> torch.Tensor:
        u = self.term_scores(s)
        self.last_scores = u
        # with two terms W[1] is b / (a + b) of `normalise`, bit for bit: a two-term run is unchanged
        return normalise_terms(u, self.delta)

    def weights(self, s: Signals) -> torch.Tensor:
        return self.term_weights(s)[1]

    def sample_diagnostics(self) -> dict[str, torch.Tensor]:
        """`floored_terms`: how many of a sample's K scores the delta floor replaced. K: its weights are uniform
        (1/K each, two terms: 0.5), set by the floor alone; 0: set by the scores alone; in between, the floored
        terms get (almost) nothing and the others share by their scores (two terms: 0 or 1)."""
        if self.last_scores is None:
            return {}
        return {"floored_terms": (self.last_scores <= self.delta).sum(0)}

    def describe(self) -> str:
        return f"meta(rwkd, meta_loss={self.meta_loss}, impl={self.impl}{self.scope.label()})"
