"""What a meta-learned scheme gets from the training step: the student as a function of its
parameters, the training batch and the step's meta batch from the held-out meta split (never dev), each
with its teacher logits. Plain data: the step fetches everything before the scheme sees it.

The meta batch's computations run the student in eval mode (no dropout). So do the `fast` and `reference`
passes over the training batch: their weights are a deterministic function of the parameters and the two
batches, and the real update that follows runs with dropout as usual. The `shared` impl instead takes the
training batch's directional derivatives in the real step's own forward (`tangent_forward`): train mode, the
step's dropout masks, one forward for the update and the scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch.autograd import forward_ad
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from rwkd import distributed, losses
from rwkd.errors import RwkdError
from rwkd.models import model_inputs
from rwkd.terms import TermSet, projector

META_LOSSES = ("label", "kd", "mix")
# the meta step of RW-KD and metanet: fast (meta backward, then a JVP over the training batch, eval mode), shared
# (meta backward, then the scores in the real step's own forward: train mode, its dropout), reference (second order)
IMPLS = ("fast", "shared", "reference")


def differentiable_attention():
    """SDPA restricted to its math backend, which is built from differentiable ops: forward-mode AD and
    double backward work through it, while the fused CPU kernels implement neither. Only the meta
    computations run under it; the real step keeps the fast kernel."""
    return sdpa_kernel(SDPBackend.MATH)


@contextmanager
def eval_mode(module: torch.nn.Module):
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@dataclass
class MetaContext:
    student: torch.nn.Module
    batch: dict  # the training batch
    teacher_logits: torch.Tensor | None  # of the training batch
    meta_batch: dict  # this step's batch of the meta split
    meta_teacher_logits: torch.Tensor | None  # of the meta batch
    regression: bool
    kd_temperature: float
    kd_kind: str  # kd.loss: "kl" or "mse"
    term_set: TermSet | None = None  # the terms after label and kd (rwkd/terms.py); None: none
    extra_targets: tuple[torch.Tensor, ...] = ()  # their teacher outputs for the training batch
    # trainable parameters the virtual step keeps fixed (weighting.score_layers: rwkd/weighting/score_scope.py): not
    # in params(), so no gradient or tangent reaches them; they enter every forward as constants. Empty: none
    fixed: frozenset[str] = frozenset()

    def params(self) -> dict[str, torch.Tensor]:
        """Detached leaf copies of the student's trainable parameters that the virtual step moves, requiring grad."""
        return {k: p.detach().requires_grad_(True) for k, p in self.student.named_parameters()
                if p.requires_grad and k not in self.fixed}

    def full(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`params` and the fixed parameters (detached constants): every parameter a forward needs."""
        if not self.fixed:
            return params
        return {k: p.detach() for k, p in self.student.named_parameters() if k in self.fixed} | params

    def outputs(self, params: dict[str, torch.Tensor], batch: dict, hidden_states: bool = False):
        """The student's whole output at `params`, as every meta computation runs it (eval mode, attention
        that forward-mode AD and double backward go through): for terms beyond the logits."""
        inputs = model_inputs(batch) | ({"output_hidden_states": True} if hidden_states else {})
        with eval_mode(self.student), differentiable_attention():
            return functional_call(self.student, self.full(params), (), inputs)

    def forward(self, params: dict[str, torch.Tensor], batch: dict) -> torch.Tensor:
        return self.outputs(params, batch).logits

    def loss_terms(self, logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None):
        """Per-sample (label term, teacher term or None)."""
        label = losses.label_loss(logits, labels, self.regression)
        if teacher_logits is None:
            return label, None
        return label, losses.kd_loss(logits, teacher_logits, self.regression, self.kd_temperature, self.kd_kind)

    def train_terms(self, params: dict[str, torch.Tensor]):
        return self.loss_terms(self.forward(params, self.batch), self.batch["labels"], self.teacher_logits)

    def all_terms(self, params: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Every per-sample term of the training batch at `params`: label, kd, then the extra terms."""
        if self.term_set is None:
            return list(self.train_terms(params))
        outputs = self.outputs(params, self.batch, self.term_set.needs_hidden_states)
        label, kd = self.loss_terms(outputs.logits, self.batch["labels"], self.teacher_logits)
        return [label, kd, *self.term_set.values(outputs, self.extra_targets, projector(self.full(params)))]

    def meta_loss(self, params: dict[str, torch.Tensor], kind: str = "label") -> torch.Tensor:
        """Mean loss on the meta batch at `params`: gold labels, the teacher, or their average."""
        batch = self.meta_batch
        label, kd = self.loss_terms(self.forward(params, batch), batch["labels"], self.meta_teacher_logits)
        if kind == "label":
            return label.mean()
        if kd is None:
            raise ValueError("a teacher meta loss needs teacher logits for the meta batch")
        return kd.mean() if kind == "kd" else 0.5 * (label.mean() + kd.mean())


def virtual_step(params: dict[str, torch.Tensor], loss: torch.Tensor, lr: float) -> dict[str, torch.Tensor]:
    """theta_hat = theta - lr * grad(loss), keeping the graph so theta_hat can be differentiated."""
    names = list(params)
    grads = torch.autograd.grad(loss, [params[k] for k in names], create_graph=True, allow_unused=True)
    return {k: params[k] if g is None else params[k] - lr * g for k, g in zip(names, grads, strict=True)}


def global_gradient(loss: torch.Tensor, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """grad(loss) for every tensor of `params` (zeros where the loss does not reach it), averaged across
    processes: every process then steps or scores along the same, global direction."""
    names = list(params)
    grads = torch.autograd.grad(loss, [params[k] for k in names], allow_unused=True)
    direction = {k: torch.zeros_like(params[k]) if g is None else g for k, g in zip(names, grads, strict=True)}
    distributed.mean_(list(direction.values()))
    return direction


def meta_gradient(ctx: MetaContext, kind: str = "label") -> dict[str, torch.Tensor]:
    """g = grad L_meta(theta) on the meta batch (eval mode), one tensor per trainable parameter."""
    params = ctx.params()
    return global_gradient(ctx.meta_loss(params, kind), params)


def shared_direction(scheme: str, impl: str, meta: MetaContext | None, kind: str) -> dict[str, torch.Tensor] | None:
    """A meta scheme's `forward_direction`: with impl=shared the meta gradient g, which the step's training forward
    then carries as its tangent; None for the other impls (they make their own passes)."""
    if impl != "shared":
        return None
    if meta is None:
        raise RwkdError(f"weighting={scheme} was called without a meta context")
    return meta_gradient(meta, kind)


def shared_tangents(term_tangents: torch.Tensor | None) -> torch.Tensor:
    """Signals.term_tangents, which impl=shared cannot do without."""
    if term_tangents is None:
        raise RwkdError("weighting.impl=shared needs the terms' tangents along the meta gradient, and the "
                        "training step gave none (it must call forward_direction before its forward)")
    return term_tangents


@contextmanager
def tangent_forward(student: torch.nn.Module, direction: dict[str, torch.Tensor] | None
                    ) -> Iterator[dict[str, torch.Tensor] | None]:
    """The parameters for the step's training forward. No direction: None (the student's own parameters, its
    fused attention). A direction: for each trainable parameter a dual tensor whose primal is the live parameter
    (a view: the real backward reaches it, and under data parallelism its gradient is reduced as usual) and whose
    tangent is direction[name]; a forward through them (functional_call) gives, beside every output, its
    derivative along the direction, in the same pass and with the same dropout masks. Tangents exist only inside
    this block: read them (Signals.split_tangents) before leaving it, and run the backward after leaving it (inside,
    autograd would carry tangents through the backward too: about three times the cost of a plain step)."""
    if direction is None:
        yield None
        return
    with forward_ad.dual_level(), differentiable_attention():
        yield {k: forward_ad.make_dual(p, direction[k].to(p.dtype)) if k in direction else p
               for k, p in student.named_parameters()}
