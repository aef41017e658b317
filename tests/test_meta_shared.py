"""weighting.impl=shared: the scores (RW-KD) and Phi's gradient (metanet) taken in the real step's own training
forward, which carries the meta gradient g as its tangent (rwkd/weighting/meta_context.py, `tangent_forward`).

What they must equal, in float64: with the same dropout masks (the same seed before the forward), the first-order
identity u_i^k = (eta / n) <g, grad l_i^k> from per-sample gradients; in eval mode (no dropout) the fast impl's
scores; the update of the step is the plain step's update for the same weights. Then the same through the
LightningModule's real training step (float32), and K terms.
"""

from __future__ import annotations

import copy

import pytest
import torch
from test_k_terms import _setup as k_term_setup
from test_training_step import _fit
from tiny_models import batch, context, tiny_student
from torch.func import functional_call

from rwkd import losses
from rwkd.models import load_tokenizer, model_inputs
from rwkd.terms import projector
from rwkd.training.module import DistillationModule
from rwkd.weighting.base import Signals, WeightingScheme
from rwkd.weighting.meta import RWKD
from rwkd.weighting.meta_context import MetaContext, differentiable_attention, meta_gradient, tangent_forward
from rwkd.weighting.metanet import MetaWeightNet

ETA = 0.5
SEED = 11  # the seed before each training forward: the same dropout masks in every pass that sets it


def _terms(ctx, params) -> tuple[object, list[torch.Tensor]]:
    """The training batch's forward at `params` in the student's own mode, and its K per-sample terms, as the
    training step computes them (rwkd/training/module.py)."""
    needs_hidden = ctx.term_set is not None and ctx.term_set.needs_hidden_states
    out = functional_call(ctx.student, params, (), model_inputs(ctx.batch) | ({"output_hidden_states": True}
                                                                               if needs_hidden else {}))
    label, kd = ctx.loss_terms(out.logits, ctx.batch["labels"], ctx.teacher_logits)
    extra = ctx.term_set.values(out, ctx.extra_targets, projector(params)) if ctx.term_set is not None else []
    return out, [label, kd, *extra]


def shared_signals(ctx, scheme, train: bool = True) -> Signals:
    """The signals of the step's forward with the scheme's direction as tangent (the shared impl's one pass)."""
    ctx.student.train(train)
    direction = scheme.forward_direction(ctx)
    torch.manual_seed(SEED)
    with tangent_forward(ctx.student, direction) as params:
        out, values = _terms(ctx, dict(ctx.student.named_parameters()) if params is None else params)
        s = Signals(values[0], values[1], out.logits, ctx.teacher_logits, ctx.batch["labels"], ctx.batch["idx"], 0,
                    0.0, ctx.regression, meta=ctx, extra_terms=tuple(values[2:]), extra_targets=ctx.extra_targets,
                    term_set=ctx.term_set)
        if direction is not None:
            s.split_tangents()
    return s


def identity_scores(ctx, kind: str = "label", train: bool = True) -> torch.Tensor:
    """(eta / n) <g, grad l_i^k>, one backward per (term, sample), the forward seeded as shared_signals seeds it."""
    g = meta_gradient(ctx, kind)
    ctx.student.train(train)
    params = ctx.params()
    torch.manual_seed(SEED)
    with differentiable_attention():
        _, values = _terms(ctx, params)
    n = values[0].shape[0]
    u = torch.zeros(len(values), n, dtype=torch.float64)
    for k, term in enumerate(values):
        for i in range(n):
            grads = torch.autograd.grad(term[i], list(params.values()), retain_graph=True, allow_unused=True)
            u[k, i] = ETA / n * sum((a * g[name]).sum() for name, a in zip(params, grads, strict=True) if a is not None)
    return u


@pytest.fixture
def ctx():
    return context(tiny_student(), batch(4, 9, seed=0), batch(3, 7, seed=5))


def test_the_tiny_student_has_dropout():
    assert tiny_student().config.hidden_dropout_prob > 0 and tiny_student().config.attention_probs_dropout_prob > 0


@pytest.mark.parametrize("meta_loss", ["label", "mix"])
def test_shared_scores_are_the_first_order_identity_with_the_steps_dropout_masks(ctx, meta_loss):
    scheme = RWKD(impl="shared", virtual_lr=ETA, meta_loss=meta_loss)
    got = scheme.term_scores(shared_signals(ctx, scheme))
    expected = identity_scores(ctx, meta_loss)
    assert expected.abs().max() > 1e-4
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-14)
    # the masks matter: the dropout-free scores of impl=fast are another thing
    fast = RWKD(impl="fast", virtual_lr=ETA, meta_loss=meta_loss).term_scores(shared_signals(ctx, RWKD(), train=False))
    assert (got - fast).abs().max() > 1e-3 * fast.abs().max()


def test_shared_scores_in_eval_mode_are_the_fast_scores(ctx):
    scheme = RWKD(impl="shared", virtual_lr=ETA, meta_loss="mix")
    shared = scheme.term_scores(shared_signals(ctx, scheme, train=False))
    fast = RWKD(impl="fast", virtual_lr=ETA, meta_loss="mix").term_scores(shared_signals(ctx, RWKD(), train=False))
    torch.testing.assert_close(shared, fast, rtol=1e-10, atol=1e-15)
    torch.testing.assert_close(shared, identity_scores(ctx, "mix", train=False), rtol=1e-9, atol=1e-14)


def test_the_shared_forward_gives_the_plain_forwards_terms_and_update(ctx):
    """Primal of the dual forward = the plain forward (same masks), and the real backward through the dual
    parameters reaches the student's own parameters with the plain step's gradient for the same weights."""
    scheme = RWKD(impl="shared", virtual_lr=ETA)
    w = torch.tensor([[0.3, 0.9, 0.5, 0.1], [0.7, 0.1, 0.5, 0.9]], dtype=torch.float64)
    student = ctx.student.train()
    s = shared_signals(ctx, scheme)
    losses.mix_terms(s.terms(), w).backward()
    shared = {k: p.grad.clone() for k, p in student.named_parameters()}
    student.zero_grad(set_to_none=True)
    torch.manual_seed(SEED)
    logits = student(**model_inputs(ctx.batch)).logits
    label, kd = ctx.loss_terms(logits, ctx.batch["labels"], ctx.teacher_logits)
    torch.testing.assert_close(s.terms(), torch.stack([label, kd]).detach(), rtol=1e-12, atol=1e-14)
    losses.mix_terms(torch.stack([label, kd]), w).backward()
    for k, p in student.named_parameters():
        torch.testing.assert_close(shared[k], p.grad, rtol=1e-10, atol=1e-14)
    assert s.term_tangents.shape == (2, 4) and not s.term_tangents.requires_grad


@pytest.mark.parametrize("num_labels", [1, 3])
def test_k_term_shared_scores_with_a_hidden_state_term(num_labels):
    k_ctx, _ = k_term_setup(num_labels)
    scheme = RWKD(impl="shared", virtual_lr=ETA)
    s = shared_signals(k_ctx, scheme)
    u = scheme.term_scores(s)
    assert u.shape == (4, 5)
    torch.testing.assert_close(u, identity_scores(k_ctx), rtol=1e-9, atol=1e-14)
    eval_u = scheme.term_scores(shared_signals(k_ctx, scheme, train=False))
    fast = RWKD(impl="fast", virtual_lr=ETA).term_scores(shared_signals(k_ctx, RWKD(), train=False))
    torch.testing.assert_close(eval_u, fast, rtol=1e-10, atol=1e-15)
    w = scheme.term_weights(s)
    torch.testing.assert_close(w.sum(0), torch.ones(5, dtype=w.dtype))


def _linearised_phi_gradient(ctx, scheme: MetaWeightNet, x: torch.Tensor, train: bool) -> list[torch.Tensor]:
    """d/dPhi of -eta <g, grad_theta L(theta; w(Phi))> by double backward, the forward seeded as shared_signals."""
    g = meta_gradient(ctx, scheme.meta_loss)
    ctx.student.train(train)
    params = ctx.params()
    torch.manual_seed(SEED)
    with differentiable_attention():
        _, values = _terms(ctx, params)
    terms = torch.stack(values)
    weights = scheme.term_weights_of(x) if scheme.num_terms > 2 else torch.stack([1 - scheme.weight_of(x),
                                                                                   scheme.weight_of(x)])
    inner = (weights * terms).sum(0).mean()
    grads = torch.autograd.grad(inner, list(params.values()), create_graph=True, allow_unused=True)
    objective = -ETA * sum((a * g[k]).sum() for k, a in zip(params, grads, strict=True) if a is not None)
    return list(torch.autograd.grad(objective, list(scheme.net.parameters())))


@pytest.mark.parametrize("train", [True, False], ids=["dropout", "eval"])
def test_metanet_shared_gradient_is_the_linearised_objectives(ctx, train):
    scheme = MetaWeightNet(inputs=("label_loss", "kd_loss", "teacher_confidence"), hidden=6, virtual_lr=ETA,
                           meta_loss="mix", impl="shared").double()
    s = shared_signals(ctx, scheme, train=train)
    x = scheme.signals_matrix(s)
    got = scheme.shared_gradient(s, x)
    expected = _linearised_phi_gradient(ctx, scheme, x, train)
    assert max(g.abs().max().item() for g in expected) > 1e-8
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-14)


def test_metanet_k_term_shared_gradient():
    k_ctx, _ = k_term_setup(3)
    scheme = MetaWeightNet(inputs=("term_losses",), hidden=5, virtual_lr=ETA, impl="shared").double()
    scheme.configure_terms(k_ctx.term_set)
    s = shared_signals(k_ctx, scheme)
    x = scheme.signals_matrix(s)
    for a, b in zip(scheme.shared_gradient(s, x), _linearised_phi_gradient(k_ctx, scheme, x, True), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-14)


def test_metanet_shared_gradient_differs_from_the_exact_one_by_order_eta(ctx):
    """Dropout off, the only difference left is g at theta against g at theta_hat: it shrinks with eta."""
    def relative_gap(eta):
        scheme = MetaWeightNet(inputs=("label_loss", "kd_loss"), hidden=6, virtual_lr=eta, impl="shared").double()
        s = shared_signals(ctx, scheme, train=False)
        x = scheme.signals_matrix(s)
        shared = torch.cat([g.reshape(-1) for g in scheme.shared_gradient(s, x)])
        exact = torch.cat([g.reshape(-1) for g in scheme.fast_gradient(s, x)])
        return ((shared - exact).norm() / exact.norm()).item()

    big, small = relative_gap(0.5), relative_gap(0.005)
    assert 0 < small < 0.02 * big and small < 1e-2


# ---- through the LightningModule's real training step (float32, real RTE rows, dropout on) -------------------

class RecordingModule(DistillationModule):
    """Keeps what the first step saw: the student before it, the RNG state its forward drew dropout from, the
    training batch and the meta batch."""

    def training_step(self, batch, batch_idx):
        if not hasattr(self, "seen"):
            self.seen = {"state": copy.deepcopy(self.student.state_dict()), "rng": torch.get_rng_state(), "batch": batch}
        return super().training_step(batch, batch_idx)

    def _next_meta_batch(self):
        meta = super()._next_meta_batch()
        self.seen.setdefault("meta", meta)
        return meta


class GivenWeights(WeightingScheme):
    name = "given"

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.given = weights

    def term_weights(self, s: Signals) -> torch.Tensor:
        return self.given


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("embedded")


def test_the_modules_shared_step_scores_and_update(glue_dir, tokenizer):
    eta = 0.05
    module, _ = _fit(glue_dir, tokenizer, RWKD(impl="shared", virtual_lr=eta), steps=1, module_class=RecordingModule)
    seen, u = module.seen, module.weighting.last_scores
    # the reference: the student as it was, g on the meta batch in eval mode, per-sample gradients of a forward
    # that draws its dropout from the RNG state the step's forward drew from
    student = copy.deepcopy(module.student)
    student.load_state_dict(seen["state"])
    (batch, meta), teacher = (seen["batch"], seen["meta"][0]), module.teacher
    ctx = MetaContext(student, batch, teacher(batch), meta, teacher(meta), False, module.kd_temperature, "kl")
    g = meta_gradient(ctx)

    def per_sample_scores(train: bool) -> torch.Tensor:
        params = ctx.params()
        student.train(train)
        torch.set_rng_state(seen["rng"])
        with differentiable_attention():
            _, values = _terms(ctx, params)
        n = values[0].shape[0]
        out = torch.zeros(2, n)
        for k, term in enumerate(values):
            for i in range(n):
                grads = torch.autograd.grad(term[i], list(params.values()), retain_graph=True)
                out[k, i] = eta / n * sum((a * g[name]).sum() for name, a in zip(params, grads, strict=True))
        return out

    expected = per_sample_scores(train=True)
    assert expected.abs().max() > 1e-7
    torch.testing.assert_close(u, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    dropout_free = per_sample_scores(train=False)
    assert (u - dropout_free).abs().max() > 0.01 * dropout_free.abs().max()  # the step's masks are in the scores
    # the update: a plain step with the shared step's weights, from the same seed, lands on the same student
    weights = module.last_step.term_weights
    plain, _ = _fit(glue_dir, tokenizer, GivenWeights(weights), steps=1)
    after, plain_after = module.student.state_dict(), plain.student.state_dict()
    for k in after:
        torch.testing.assert_close(after[k], plain_after[k], rtol=1e-5, atol=1e-6)
    assert not all(torch.equal(after[k], seen["state"][k]) for k in after)  # and the step did move the student


# ---- `rwkd train` end to end -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("rwkd_shared")


@pytest.mark.slow
@pytest.mark.parametrize("scheme", [
    ["weighting=meta", "weighting.impl=shared"],
    ["weighting=meta", "weighting.impl=shared", "terms=two_teachers_hidden", "data.meta_batch_size=4"],
    ["weighting=metanet", "weighting.impl=shared", "data.meta_batch_size=8"],
], ids=["meta", "meta-k4-meta-batch-4", "metanet-meta-batch-8"])
def test_rwkd_train_with_the_shared_impl(workdir, scheme):
    import json

    import pyarrow.parquet as pq
    from conftest import TINY, run_rwkd

    name = "_".join(a.split("=")[1] for a in scheme if a.startswith(("weighting=", "terms=", "data.")))
    proc = run_rwkd(["train", "task=rte", *TINY, *scheme, f"hydra.run.dir=runs/{name}"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = workdir / "runs" / name
    r = json.loads((run / "results.json").read_text())
    assert "impl=shared" in r["weighting"]
    table = pq.read_table(run / "sample_weights.parquet").to_pydict()
    assert len(table["idx"]) == 2 * r["data"]["train_samples"]
    assert all(0.0 <= w <= 1.0 for w in table["weight"])
    assert len(set(table["weight"])) > 1  # per-sample weights, not one number
