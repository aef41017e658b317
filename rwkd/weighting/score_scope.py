"""`weighting.score_layers`: a virtual step that moves only the top of the student (docs/method.md §3, "Scores from
the top layers").

null (the default): the virtual step of RW-KD and of the meta-weight net moves every trainable parameter, as ever.
N: it moves only the parameters above the student's embeddings and its lowest L - N transformer layers: the last N
layers, the pooler and everything outside the base model (the classifier head, the hidden terms' projections). The
meta gradient g is then the meta loss's gradient w.r.t. those parameters alone (the meta batch's backward stops at
the lowest moved layer) and the training batch's derivatives along g need forward-mode work only above it (the
layers below run a plain forward; in impl=shared they carry no tangent). The scores are the exact scores of that
restricted virtual step, u_i^k = (eta / n) <g_top, grad_top l_i^k>: not the scores of the full step, which they
approximate. N = L moves everything but the embeddings (and, in MPNet, the relative attention bias every layer
reads).
"""

from __future__ import annotations

import dataclasses

import torch

from rwkd.errors import RwkdError
from rwkd.models import layer_list
from rwkd.setting_rules import Number
from rwkd.weighting.meta_context import MetaContext

RULE = Number(integer=True, low=0, optional=True)  # the upper bound, the student's depth, is checked against the model


def fixed_names(student: torch.nn.Module, score_layers: int) -> frozenset[str]:
    """The trainable parameters a virtual step restricted to the top `score_layers` layers keeps fixed: those of the
    base model (embeddings, the lower layers) outside its top layers and its pooler."""
    try:
        layers = layer_list(student)
    except (RwkdError, AttributeError):
        raise RwkdError(f"weighting.score_layers={score_layers} needs the student's transformer layers, and rwkd finds "
                        f"none in a {type(student).__name__} (it reads base_model.encoder.layer or "
                        "base_model.transformer.layer); accepted for it: weighting.score_layers=null") from None
    depth = len(layers)
    if not 0 <= score_layers <= depth:
        raise RwkdError(f"weighting.score_layers={score_layers} is outside [0, {depth}] for this {depth}-layer student; "
                        f"accepted: null (every parameter) or an integer in [0, {depth}] (the head and the last N layers)")
    base = getattr(student, "base_model", student)
    moved = [*layers[depth - score_layers:], *([base.pooler] if getattr(base, "pooler", None) is not None else [])]
    moved_ids = {id(p) for module in moved for p in module.parameters()}
    below = {id(p) for p in base.parameters()} - moved_ids
    return frozenset(k for k, p in student.named_parameters() if p.requires_grad and id(p) in below)


class ScoreScope:
    """A meta scheme's view of its step's MetaContext: unchanged for null, else a copy whose virtual step moves only
    the top `score_layers` layers and the head (MetaContext.fixed). The names are read from the context's student
    at each call (a walk over its parameters, negligible beside a meta step), so nothing goes stale."""

    def __init__(self, score_layers: int | None):
        problem = RULE.problem("weighting.score_layers", score_layers)
        if problem is not None:
            raise RwkdError(problem)
        self.score_layers = score_layers

    def __call__(self, ctx: MetaContext | None) -> MetaContext | None:
        if self.score_layers is None or ctx is None:
            return ctx
        return dataclasses.replace(ctx, fixed=fixed_names(ctx.student, self.score_layers))

    def label(self) -> str:
        """The part of a scheme's describe() that names it: empty for null, so labels of earlier runs stay as they were."""
        return "" if self.score_layers is None else f", score_layers={self.score_layers}"
