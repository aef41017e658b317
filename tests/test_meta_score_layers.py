"""weighting.score_layers (rwkd/weighting/score_scope.py): the virtual step moves only the head, the pooler and the
student's last N layers, and the scores are the exact scores of that restricted step. Held, in float64, to a
reference built here from parameter names alone: central finite differences in eps of the meta loss after a
virtual SGD step that moves only those parameters, and the first-order identity from per-sample gradients over
them. null stays the old step; N = every layer is the old step with the embeddings frozen."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch
from conftest import TINY, run_rwkd
from test_k_terms import _setup as k_term_setup
from test_meta_exactness import _signals
from test_meta_shared import identity_scores, shared_signals
from tiny_models import batch, context, tiny_student
from torch.func import functional_call

from rwkd.errors import RwkdError
from rwkd.models import model_inputs
from rwkd.weighting.meta import RWKD
from rwkd.weighting.meta_context import differentiable_attention, eval_mode
from rwkd.weighting.metanet import MetaWeightNet
from rwkd.weighting.score_scope import ScoreScope, fixed_names

ETA = 0.5
LAYERS = 2  # tiny_student's depth


def moved_by_name(student, n: int) -> list[str]:
    """The parameters a step over the top n layers moves, from the names of a BERT alone (not from score_scope)."""
    low = [f"bert.encoder.layer.{i}." for i in range(LAYERS - n)]
    return [k for k, _ in student.named_parameters()
            if not k.startswith("bert.embeddings.") and not any(k.startswith(p) for p in low)]


@pytest.fixture
def ctx():
    return context(tiny_student(), batch(4, 9, seed=0), batch(3, 7, seed=5))


def _meta_loss_after_restricted_step(ctx, moved: list[str], eps: torch.Tensor) -> float:
    """L_meta(theta - eta grad_moved (1/n) sum_i eps_i . l_i), only `moved` stepped; first-order autograd only."""
    everything = {k: p.detach().clone() for k, p in ctx.student.named_parameters()}
    leaves = {k: everything[k].requires_grad_(True) for k in moved}

    def logits(params, b):
        with eval_mode(ctx.student), differentiable_attention():
            return functional_call(ctx.student, params, (), model_inputs(b)).logits

    label, kd = ctx.loss_terms(logits(everything, ctx.batch), ctx.batch["labels"], ctx.teacher_logits)
    inner = (eps[0] * label + eps[1] * kd).sum() / label.shape[0]
    grads = torch.autograd.grad(inner, [leaves[k] for k in moved])
    stepped = {k: p.detach() for k, p in everything.items()} | {k: leaves[k].detach() - ETA * g
                                                               for k, g in zip(moved, grads, strict=True)}
    with torch.no_grad():
        meta = ctx.meta_batch
        return ctx.loss_terms(logits(stepped, meta), meta["labels"], ctx.meta_teacher_logits)[0].mean().item()


@pytest.mark.parametrize("n", [0, 1, 2])
def test_the_scope_moves_the_head_and_the_last_n_layers(ctx, n):
    moved = {k for k, _ in ctx.student.named_parameters()}
    fixed = fixed_names(ctx.student, n)
    assert sorted(moved - fixed) == sorted(moved_by_name(ctx.student, n))
    assert {"classifier.weight", "bert.pooler.dense.weight"} <= moved - fixed


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_scores_match_finite_differences_of_the_restricted_virtual_step(ctx, impl):
    u = RWKD(impl=impl, virtual_lr=ETA, score_layers=1).term_scores(_signals(ctx))
    moved, h = moved_by_name(ctx.student, 1), 1e-4
    fd = torch.zeros(2, 4, dtype=torch.float64)
    for k in range(2):
        for i in range(4):
            e = torch.zeros(2, 4, dtype=torch.float64)
            e[k, i] = h
            up, down = (_meta_loss_after_restricted_step(ctx, moved, s * e) for s in (1, -1))
            fd[k, i] = -(up - down) / (2 * h)
    assert fd.abs().max() > 1e-4
    torch.testing.assert_close(u, fd, rtol=1e-6, atol=1e-10)
    full = RWKD(impl=impl, virtual_lr=ETA).term_scores(_signals(ctx))
    assert (u - full).abs().max() > 1e-3 * full.abs().max()  # the restriction changes the scores: not a no-op


@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize("meta_loss", ["label", "mix"])
def test_fast_scores_are_the_identity_over_the_moved_parameters(ctx, n, meta_loss):
    """(eta / n) <g_top, grad_top l_i^k>, every gradient taken by plain backward over the moved parameters."""
    moved = moved_by_name(ctx.student, n)
    params = {k: p.detach().requires_grad_(k in moved) for k, p in ctx.student.named_parameters()}
    g = torch.autograd.grad(ctx.meta_loss(params, meta_loss), [params[k] for k in moved])
    values = ctx.train_terms(params)
    expected = torch.zeros(2, 4, dtype=torch.float64)
    for k, term in enumerate(values):
        for i in range(4):
            gi = torch.autograd.grad(term[i], [params[m] for m in moved], retain_graph=True)
            expected[k, i] = ETA / 4 * sum((a * b).sum() for a, b in zip(g, gi, strict=True))
    got = RWKD(impl="fast", virtual_lr=ETA, meta_loss=meta_loss, score_layers=n).term_scores(_signals(ctx))
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-14)


def test_every_layer_is_the_full_step_with_the_embeddings_frozen(ctx):
    every = RWKD(virtual_lr=ETA, score_layers=LAYERS).term_scores(_signals(ctx))
    frozen = copy.deepcopy(ctx.student)
    frozen.bert.embeddings.requires_grad_(False)
    null_frozen = RWKD(virtual_lr=ETA).term_scores(_signals(dataclasses.replace(ctx, student=frozen)))
    torch.testing.assert_close(every, null_frozen, rtol=1e-10, atol=1e-15)
    null = RWKD(virtual_lr=ETA).term_scores(_signals(ctx))
    assert (every - null).abs().max() > 1e-6 * null.abs().max()  # the embeddings' own share, which N = L leaves out


def test_null_is_the_unrestricted_context(ctx):
    assert ScoreScope(None)(ctx) is ctx
    params = ctx.params()
    assert ctx.full(params) is params and set(params) == {k for k, _ in ctx.student.named_parameters()}


def test_shared_scores_are_the_identity_with_the_steps_dropout_over_the_moved_parameters(ctx):
    scheme = RWKD(impl="shared", virtual_lr=ETA, score_layers=1)
    assert set(scheme.forward_direction(ctx)) == set(moved_by_name(ctx.student, 1))  # no tangent below
    got = scheme.term_scores(shared_signals(ctx, scheme))
    restricted = scheme.scope(ctx)
    torch.testing.assert_close(got, identity_scores(restricted), rtol=1e-9, atol=1e-14)
    eval_shared = scheme.term_scores(shared_signals(ctx, scheme, train=False))
    fast = RWKD(impl="fast", virtual_lr=ETA, score_layers=1).term_scores(_signals(ctx))
    torch.testing.assert_close(eval_shared, fast, rtol=1e-10, atol=1e-15)


def test_k_terms_with_a_hidden_state_term_fast_against_the_reference():
    k_ctx, _ = k_term_setup(3)
    s = shared_signals(k_ctx, RWKD(), train=False)
    fast = RWKD(impl="fast", virtual_lr=ETA, score_layers=1).term_scores(s)
    reference = RWKD(impl="reference", virtual_lr=ETA, score_layers=1).term_scores(s)
    assert fast.shape == (4, 5) and reference.abs().max() > 1e-6
    torch.testing.assert_close(fast, reference, rtol=1e-7, atol=1e-14)


@pytest.mark.parametrize("n", [0, 1])
def test_metanet_fast_gradient_matches_its_restricted_reference(ctx, n):
    scheme = MetaWeightNet(inputs=("label_loss", "kd_loss", "teacher_confidence"), hidden=6, virtual_lr=ETA,
                           meta_loss="mix", score_layers=n).double()
    s = _signals(ctx)
    x = scheme.signals_matrix(s)
    reference, fast = scheme.reference_gradient(s, x), scheme.fast_gradient(s, x)
    assert max(g.abs().max().item() for g in reference) > 1e-8
    for a, b in zip(fast, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-12)
    unrestricted = MetaWeightNet(inputs=("label_loss", "kd_loss", "teacher_confidence"), hidden=6, virtual_lr=ETA,
                                 meta_loss="mix").double().fast_gradient(s, x)
    assert any((a - b).abs().max() > 1e-6 * b.abs().max() for a, b in zip(fast, unrestricted, strict=True))


def test_bad_values_are_one_line_errors(ctx):
    with pytest.raises(RwkdError) as err:
        RWKD(score_layers=-1)
    assert str(err.value) == "weighting.score_layers=-1 is outside [0, inf); accepted: null or an integer >= 0"
    with pytest.raises(RwkdError) as err:
        RWKD(virtual_lr=ETA, score_layers=3).term_scores(_signals(ctx))
    assert str(err.value) == ("weighting.score_layers=3 is outside [0, 2] for this 2-layer student; accepted: null "
                              "(every parameter) or an integer in [0, 2] (the head and the last N layers)")

    class NoLayers(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(2, 2)

    with pytest.raises(RwkdError, match=r"^weighting.score_layers=1 needs the student's transformer layers.*NoLayers"):
        fixed_names(NoLayers(), 1)


def test_the_config_check_names_the_students_depth():
    from rwkd.cli import compose_train
    from rwkd.config.settings import check_settings

    check_settings(compose_train(["task=rte", "weighting=meta", "weighting.score_layers=1"]))
    with pytest.raises(RwkdError) as err:
        check_settings(compose_train(["task=rte", "student=tiny", "weighting=metanet", "weighting.score_layers=2"]))
    assert str(err.value) == ("weighting.score_layers=2 is more than the student's 1 layers; accepted: null (every "
                              "parameter) or an integer in [0, 1] (the head and the last N layers)")


@pytest.mark.slow
@pytest.mark.parametrize("scheme", [["weighting=meta", "weighting.score_layers=1"],
                                    ["weighting=metanet", "weighting.impl=shared", "weighting.score_layers=0"]])
def test_rwkd_train_runs_with_scores_from_the_top(tmp_path, scheme):
    proc = run_rwkd(["train", "task=rte", *TINY, *scheme, "trainer.max_epochs=1", f"hydra.run.dir={tmp_path / 'run'}"],
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert scheme[-1].replace("weighting.", "") in results["weighting"]
