"""RW-KD weights and the meta-weight net's gradient against independent references, in float64."""

from __future__ import annotations

import pytest
import torch
from tiny_models import batch, context, tiny_student
from two_term_reference import normalise, reference_scores

from rwkd.weighting.base import Signals
from rwkd.weighting.meta import RWKD, fast_scores
from rwkd.weighting.metanet import MetaWeightNet

ETA = 0.5  # a large virtual step makes finite differences well conditioned; eta cancels in the weights


@pytest.fixture
def setup():
    student = tiny_student()
    return student, context(student, batch(4, 9, seed=0), batch(3, 7, seed=5))


def _signals(ctx) -> Signals:
    logits = ctx.forward(ctx.params(), ctx.batch)
    label, kd = ctx.loss_terms(logits, ctx.batch["labels"], ctx.teacher_logits)
    return Signals(label, kd, logits, ctx.teacher_logits, ctx.batch["labels"], ctx.batch["idx"], 0, 0.0, False, meta=ctx)


def _meta_loss_after_virtual_step(ctx, eps: torch.Tensor) -> float:
    """L_meta(theta - eta grad (1/n) sum eps*l), computed with no second-order graph at all."""
    params = ctx.params()
    label, kd = ctx.train_terms(params)
    inner = (eps[0] * label + eps[1] * kd).sum() / label.shape[0]
    grads = torch.autograd.grad(inner, list(params.values()), allow_unused=True)
    theta_hat = {k: p.detach() - ETA * (0 if g is None else g) for (k, p), g in zip(params.items(), grads, strict=True)}
    with torch.no_grad():
        return ctx.meta_loss(theta_hat).item()


def test_scores_match_central_finite_differences_in_eps(setup):
    _, ctx = setup
    u_label, u_kd = reference_scores(ctx, ETA, "label")
    h = 1e-4
    fd = torch.zeros(2, 4, dtype=torch.float64)
    for k in range(2):
        for i in range(4):
            e = torch.zeros(2, 4, dtype=torch.float64)
            e[k, i] = h
            fd[k, i] = -(_meta_loss_after_virtual_step(ctx, e) - _meta_loss_after_virtual_step(ctx, -e)) / (2 * h)
    got = torch.stack([u_label, u_kd])
    assert got.abs().max() > 1e-4  # not trivially zero
    torch.testing.assert_close(got, fd, rtol=1e-6, atol=1e-10)


def test_scores_match_the_first_order_identity(setup):
    """u_i^k = (eta / n) <grad L_meta(theta), grad l_i^k(theta)>, from per-sample gradients."""
    _, ctx = setup
    u_label, u_kd = reference_scores(ctx, ETA, "label")
    params = ctx.params()
    names = list(params)
    g_meta = torch.autograd.grad(ctx.meta_loss(params), [params[k] for k in names], allow_unused=True)
    label, kd = ctx.train_terms(params)
    expected = torch.zeros(2, 4, dtype=torch.float64)
    for k, term in enumerate((label, kd)):
        for i in range(4):
            g_i = torch.autograd.grad(term[i], [params[n] for n in names], retain_graph=True, allow_unused=True)
            expected[k, i] = ETA / 4 * sum((a * b).sum() for a, b in zip(g_meta, g_i, strict=True)
                                           if a is not None and b is not None)
    torch.testing.assert_close(torch.stack([u_label, u_kd]), expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("meta_loss", ["label", "kd", "mix"])
def test_fast_scores_match_the_reference(setup, meta_loss):
    _, ctx = setup
    reference = torch.stack(reference_scores(ctx, ETA, meta_loss))
    fast = torch.stack(fast_scores(ctx, ETA, meta_loss))
    assert reference.abs().max() > 1e-4
    torch.testing.assert_close(fast, reference, rtol=1e-6, atol=1e-12)
    w_ref = RWKD(meta_loss=meta_loss, impl="reference", virtual_lr=ETA).weights(_signals(ctx))
    w_fast = RWKD(meta_loss=meta_loss, impl="fast", virtual_lr=ETA).weights(_signals(ctx))
    torch.testing.assert_close(w_fast, w_ref, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("meta_loss", ["label", "kd", "mix"])
def test_weights_are_the_floored_score_ratio(setup, meta_loss):
    """w_i = max(u_kd, delta) / (max(u_label, delta) + max(u_kd, delta)), from the scores the scheme kept,
    computed here element by element in plain Python."""
    _, ctx = setup
    scheme = RWKD(meta_loss=meta_loss, virtual_lr=ETA, delta=1e-3)
    w = scheme.weights(_signals(ctx)).tolist()
    u_label, u_kd = (t.tolist() for t in scheme.last_scores)
    expected = [max(b, 1e-3) / (max(a, 1e-3) + max(b, 1e-3)) for a, b in zip(u_label, u_kd, strict=True)]
    assert w == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert all(0 <= x <= 1 for x in w)


def test_normalisation_formula():
    w = normalise(torch.tensor([1.0, -2.0, 3.0, -1.0]), torch.tensor([3.0, 1.0, -1.0, -5.0]), 1e-8)
    torch.testing.assert_close(w, torch.tensor([0.75, 1.0 / (1.0 + 1e-8), 1e-8 / (3.0 + 1e-8), 0.5]))


def test_meta_weights_do_not_touch_the_students_gradients(setup):
    student, ctx = setup
    RWKD(virtual_lr=ETA).weights(_signals(ctx))
    assert all(p.grad is None for p in student.parameters())


def test_metanet_gradient_matches_finite_differences(setup):
    _, ctx = setup
    torch.manual_seed(0)
    scheme = MetaWeightNet(inputs=("label_loss", "kd_loss", "teacher_confidence"), hidden=5, virtual_lr=ETA).double()
    s = _signals(ctx)
    x = scheme.signals_matrix(s)
    objective = scheme.meta_objective(s, x)
    grads = torch.autograd.grad(objective, list(scheme.net.parameters()))
    h = 1e-6
    for p, g in zip(scheme.net.parameters(), grads, strict=True):
        flat = p.data.view(-1)
        for j in range(0, flat.numel(), max(1, flat.numel() // 4)):  # a spread of coordinates per tensor
            old = flat[j].item()
            flat[j] = old + h
            up = scheme.meta_objective(s, x).item()
            flat[j] = old - h
            down = scheme.meta_objective(s, x).item()
            flat[j] = old
            assert g.view(-1)[j].item() == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-11)
    assert max(g.abs().max().item() for g in grads) > 1e-8


@pytest.mark.parametrize("meta_loss", ["label", "mix"])
def test_metanet_fast_gradient_matches_the_reference(setup, meta_loss):
    _, ctx = setup
    scheme = MetaWeightNet(inputs=("label_loss", "kd_loss", "teacher_confidence"), hidden=6, virtual_lr=ETA,
                           meta_loss=meta_loss).double()
    s = _signals(ctx)
    x = scheme.signals_matrix(s)
    reference, fast = scheme.reference_gradient(s, x), scheme.fast_gradient(s, x)
    assert max(g.abs().max().item() for g in reference) > 1e-8
    for a, b in zip(fast, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-12)


def test_metanet_step_moves_phi_and_returns_unit_weights(setup):
    _, ctx = setup
    scheme = MetaWeightNet(hidden=8, lr=0.1, virtual_lr=ETA).double()
    before = [p.detach().clone() for p in scheme.net.parameters()]
    s = _signals(ctx)
    w_before = scheme.weights(s)
    assert all(torch.equal(a, b) for a, b in zip(before, scheme.net.parameters(), strict=True))  # weights() is pure
    scheme.update(s)
    w = scheme.weights(s)
    assert w.shape == (4,) and torch.all((w > 0) & (w < 1))
    assert any(not torch.equal(a, b) for a, b in zip(before, scheme.net.parameters(), strict=True))
    assert not torch.equal(w, w_before)


@pytest.mark.parametrize("scores", [fast_scores, reference_scores], ids=["fast", "reference"])
def test_sdpa_student_gives_the_eager_scores(scores):
    """The student keeps SDPA attention for its real step; the meta computations run SDPA on its math
    backend (forward-mode AD and a double backward through the fused CPU kernel are not implemented),
    and must give what eager attention gives, to float64 round-off."""
    train, meta = batch(4, 9, seed=0), batch(3, 7, seed=5)
    eager = scores(context(tiny_student(), train, meta), ETA, "mix")
    sdpa_student = tiny_student(attn_implementation="sdpa")
    assert sdpa_student.config._attn_implementation == "sdpa"
    sdpa = scores(context(sdpa_student, train, meta), ETA, "mix")
    assert torch.stack(eager).abs().max() > 1e-6
    torch.testing.assert_close(torch.stack(sdpa), torch.stack(eager), rtol=1e-9, atol=1e-12)


def test_training_module_keeps_sdpa_for_a_meta_scheme():
    from rwkd.tasks import get_task
    from rwkd.training.module import DistillationModule

    module = DistillationModule(tiny_student(attn_implementation="sdpa"), RWKD(), get_task("mrpc"),
                                teacher=tiny_student(seed=1))
    assert module.student.config._attn_implementation == "sdpa"
