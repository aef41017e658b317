"""`weighting=metanet`: a parametric meta-learner (docs/method.md §4, after Meta-Weight-Net).

A small MLP maps per-sample signals to w_i in (0, 1). Each step: theta_hat(Phi) = theta - eta *
grad L(theta; w(Phi)); Phi takes one step of its own Adam on the meta loss at theta_hat (`update`); the
student's real step then uses w from the updated Phi, detached (`weights`). The scheme owns Phi and its
optimizer; both travel in the LightningModule's state_dict (the optimizer as the scheme's extra state),
so a checkpoint holds them and a resumed run continues them exactly.

With K terms (rwkd/terms.py) the head has K outputs and a softmax over them: W[:, i] on the simplex. With
two it keeps one output and a sigmoid, w_i = sigmoid(z_i), which is the two-way softmax with one logit
pinned at 0 (and keeps two-term runs as they were). The input `term_losses` feeds every term's loss.

impl=fast and reference give Phi the exact gradient of L_meta(theta_hat(Phi)) (dropout-free); impl=shared
gives the exact gradient of its first-order expansion in eta, L_meta(theta) - eta <g, grad_theta L(theta; w(Phi))>
with g = grad L_meta(theta), the virtual step's gradient taken with the real step's dropout masks: g is the
meta gradient at theta rather than theta_hat (they differ by O(eta)), so no virtual step is needed, and the
terms' derivatives along g come from the step's own training forward (`forward_direction`), as RW-KD's shared
scores do. The cost of a metanet step is then that of an RW-KD step.
"""

from __future__ import annotations

import torch
from torch.func import jvp

from rwkd import distributed
from rwkd.errors import RwkdError
from rwkd.setting_rules import COUNT, INTEGER, POSITIVE, OneOf, SubsetOf
from rwkd.weighting import features
from rwkd.weighting.base import Signals, WeightingScheme
from rwkd.weighting.meta_context import (
    IMPLS,
    META_LOSSES,
    MetaContext,
    global_gradient,
    shared_direction,
    shared_tangents,
    virtual_step,
)
from rwkd.weighting.score_scope import RULE as SCORE_LAYERS
from rwkd.weighting.score_scope import ScoreScope

DEFAULT_LR = 1e-3  # the meta-weight net's own Adam


class MetaWeightNet(WeightingScheme):
    name = "metanet"
    needs_meta = True
    needs_higher_order_ad = True
    SETTINGS = {"inputs": SubsetOf(tuple(features.FEATURES)), "hidden": COUNT, "lr": POSITIVE, "virtual_lr": POSITIVE,
                "meta_loss": OneOf(META_LOSSES), "impl": OneOf(IMPLS), "seed": INTEGER, "score_layers": SCORE_LAYERS}

    def __init__(self, inputs: tuple[str, ...] = ("label_loss", "kd_loss"), hidden: int = 100, lr: float = DEFAULT_LR,
                 virtual_lr: float = 1e-4, meta_loss: str = "label", impl: str = "fast", seed: int = 0,
                 score_layers: int | None = None):
        super().__init__()
        self.check_settings({"inputs": inputs, "hidden": hidden, "lr": lr, "virtual_lr": virtual_lr,
                             "meta_loss": meta_loss, "impl": impl, "seed": seed, "score_layers": score_layers})
        self.impl = impl
        self.scope = ScoreScope(score_layers)  # null: the virtual step moves every parameter (score_scope.py)
        self.inputs = tuple(inputs)
        if not self.inputs:
            raise RwkdError("weighting.inputs is empty; give at least one of " + ", ".join(features.FEATURES))
        self._features = [features.feature(name) for name in self.inputs]
        self.meta_loss, self.lr, self.virtual_lr = meta_loss, float(lr), float(virtual_lr)
        self.hidden, self.seed = int(hidden), int(seed)
        self.num_terms = 2
        self._build()

    def _input_width(self) -> int:
        return sum(self.num_terms if name == "term_losses" else 1 for name in self.inputs)

    def _build(self) -> None:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)  # the same initial Phi whatever the run seed did before
        outputs = 1 if self.num_terms == 2 else self.num_terms
        self.net = torch.nn.Sequential(
            torch.nn.Linear(self._input_width(), self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, outputs)
        )
        torch.random.set_rng_state(generator_state)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)

    def configure_terms(self, term_set) -> None:
        if term_set is not None and term_set.size != self.num_terms:
            self.num_terms = term_set.size
            self._build()

    def get_extra_state(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def set_extra_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])

    def signals_matrix(self, s: Signals) -> torch.Tensor:
        n = s.label_loss.shape[0]
        return torch.cat([f(s).to(s.label_loss.dtype).reshape(n, -1) for f in self._features], dim=1).detach()

    def weight_of(self, x: torch.Tensor) -> torch.Tensor:
        """Two terms: the teacher term's weight w [n]."""
        return torch.sigmoid(self.net(x.to(self.net[0].weight.dtype))).squeeze(-1)

    def term_weights_of(self, x: torch.Tensor) -> torch.Tensor:
        """W [K, n]: K > 2, a softmax over the head's K outputs."""
        return self.net(x.to(self.net[0].weight.dtype)).softmax(dim=-1).T

    def meta_objective(self, s: Signals, x: torch.Tensor) -> torch.Tensor:
        """L_meta(theta_hat(Phi)): differentiable in Phi through the virtual step."""
        ctx = self.scope(s.meta)
        params = ctx.params()
        if self.num_terms > 2:
            values = torch.stack(ctx.all_terms(params))
            inner = (self.term_weights_of(x).to(values.dtype) * values).sum(0).mean()
            return ctx.meta_loss(virtual_step(params, inner, self.virtual_lr), self.meta_loss)
        label, kd = ctx.train_terms(params)
        if kd is None:
            raise RwkdError("weighting=metanet needs a teacher term, and this run has no teacher")
        w = self.weight_of(x).to(label.dtype)
        inner = ((1.0 - w) * label + w * kd).mean()
        return ctx.meta_loss(virtual_step(params, inner, self.virtual_lr), self.meta_loss)

    def reference_gradient(self, s: Signals, x: torch.Tensor) -> list[torch.Tensor]:
        """dL_meta/dPhi by differentiating through the virtual step (second order)."""
        if distributed.active():
            raise RwkdError("weighting.impl=reference runs in one process only; use impl=fast under data parallelism")
        return list(torch.autograd.grad(self.meta_objective(s, x), list(self.net.parameters())))

    def fast_gradient(self, s: Signals, x: torch.Tensor) -> list[torch.Tensor]:
        """The same gradient with no second-order graph.

        grad_theta L(theta; w) is linear in w, so d theta_hat / d w_i = -(eta / n) (grad l_i^kd - grad l_i^label)
        at theta, and dL_meta/dw_i = -(eta / n) <g_hat, grad l_i^kd - grad l_i^label> with
        g_hat = grad L_meta(theta_hat): a virtual step, a backward at theta_hat on the meta batch, one JVP
        over the training batch along g_hat, then the chain rule through the small net. With K terms the
        same JVP gives every term's derivative: dL_meta/dW[k, i] = -(eta / n) <g_hat, grad l_i^k>.
        """
        ctx = self.scope(s.meta)
        params = ctx.params()
        values = ctx.all_terms(params)
        if values[1] is None:
            raise RwkdError("weighting=metanet needs a teacher term, and this run has no teacher")
        label, kd = values[0], values[1]
        n = label.shape[0] * distributed.world_size()  # the global batch
        if self.num_terms > 2:
            w = self.term_weights_of(x)
            inner = (w.detach().to(label.dtype) * torch.stack(values)).sum(0).mean()
        else:
            w = self.weight_of(x)
            inner = ((1.0 - w.detach().to(label.dtype)) * label + w.detach().to(label.dtype) * kd).mean()
        grads = global_gradient(inner, params)
        theta_hat = {k: (params[k] - self.virtual_lr * grads[k]).detach().requires_grad_(True) for k in params}
        direction = global_gradient(ctx.meta_loss(theta_hat, self.meta_loss), theta_hat)
        primal = {k: p.detach() for k, p in params.items()}
        _, tangents = jvp(lambda p: torch.stack(ctx.all_terms(p)), (primal,), (direction,))
        return self.gradient_from_tangents(w, tangents, n)

    def gradient_from_tangents(self, w: torch.Tensor, tangents: torch.Tensor, n: int) -> list[torch.Tensor]:
        """dL_meta/dPhi by the chain rule through the net's weights w of this process's samples, from the terms'
        derivatives along the meta gradient [K, n_local]: dL_meta/dW[k, i] = -(eta / n) tangents[k, i] (two terms:
        dL_meta/dw_i = -(eta / n) (tangents[1, i] - tangents[0, i])), n the global batch."""
        d_w = -(self.virtual_lr / n) * (tangents if self.num_terms > 2 else tangents[1] - tangents[0])
        phi_grads = torch.autograd.grad(w, list(self.net.parameters()), grad_outputs=d_w.to(w.dtype).detach())
        # each process holds the terms of its own samples; the global gradient is their sum
        return distributed.sum_(list(phi_grads))

    def shared_gradient(self, s: Signals, x: torch.Tensor) -> list[torch.Tensor]:
        """impl=shared: the gradient of L_meta(theta) - eta <g, grad_theta L(theta; w(Phi))>, from the tangents
        along g = grad L_meta(theta) that the step's training forward carried (Signals.term_tangents)."""
        tangents = shared_tangents(s.term_tangents)
        if s.kd_loss is None:
            raise RwkdError("weighting=metanet needs a teacher term, and this run has no teacher")
        w = self.term_weights_of(x) if self.num_terms > 2 else self.weight_of(x)
        return self.gradient_from_tangents(w, tangents, s.label_loss.shape[0] * distributed.world_size())

    def forward_direction(self, meta: MetaContext | None) -> dict[str, torch.Tensor] | None:
        """impl=shared: g = grad L_meta(theta), which the step's training forward then carries as its tangent."""
        return shared_direction(self.name, self.impl, self.scope(meta), self.meta_loss)

    def update(self, s: Signals) -> None:
        """One step of Phi's Adam on the meta loss after a virtual step of the student (impl=shared: on its first-order
        expansion, with no virtual step)."""
        if s.meta is None and self.impl != "shared":
            raise RwkdError("weighting=metanet was called without a meta context")
        x = self.signals_matrix(s)
        self.optimizer.zero_grad(set_to_none=True)
        gradient = {"fast": self.fast_gradient, "shared": self.shared_gradient, "reference": self.reference_gradient}
        grads = gradient[self.impl](s, x)
        for p, g in zip(self.net.parameters(), grads, strict=True):
            p.grad = g
        self.optimizer.step()

    def weights(self, s: Signals) -> torch.Tensor:
        with torch.no_grad():
            return self.weight_of(self.signals_matrix(s)).to(s.label_loss.dtype)

    def term_weights(self, s: Signals) -> torch.Tensor:
        if self.num_terms == 2:
            return super().term_weights(s)
        with torch.no_grad():
            return self.term_weights_of(self.signals_matrix(s)).to(s.label_loss.dtype)

    def undefined_for(self, task) -> str | None:
        if task.is_regression and "student_entropy" in self.inputs:
            return (f"weighting.inputs holds student_entropy, which is not defined for the regression task {task.name} "
                    f"(one output, no class distribution); accepted there: the other inputs of {list(self.inputs)}")
        return None

    def describe(self) -> str:
        # the net's learning rate is named only where it is not the default, so that labels recorded before
        # it could vary still name the same runs
        lr = "" if self.lr == DEFAULT_LR else f", lr={self.lr:g}"
        return f"metanet({'+'.join(self.inputs)}, meta_loss={self.meta_loss}, impl={self.impl}{lr}{self.scope.label()})"
