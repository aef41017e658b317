"""The K-term objective as rwkd runs it (rwkd/terms.py): the terms a MetaContext computes, every scheme's
weights over them, and the loss. Float64 on a tiny BERT whose hidden-state projection lives inside the
student, as in a real run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_models import batch, teacher_logits, tiny_student

from rwkd import losses
from rwkd.errors import RwkdError
from rwkd.terms import (
    PROJECTIONS,
    ExtraTerm,
    TermSet,
    add_projections,
    drop_projection_weights,
    plan_extra_terms,
    resolve_layers,
    without_projections,
)
from rwkd.weighting.annealed import AnnealedWeight
from rwkd.weighting.base import Signals, split_teacher_side
from rwkd.weighting.fixed import FixedWeight
from rwkd.weighting.heuristic import HeuristicWeight
from rwkd.weighting.meta import RWKD
from rwkd.weighting.meta_context import MetaContext
from rwkd.weighting.metanet import MetaWeightNet

TEACHER_WIDTH = 12


def _setup(num_labels: int = 2, hidden: bool = True, second_teacher: bool = True):
    """A MetaContext and Signals over label, kd, [kd1], [hidden0: student state 2 vs teacher state 1]."""
    regression = num_labels == 1
    classes = max(num_labels, 2)
    train, meta = batch(5, 9, num_labels=classes, seed=0), batch(4, 7, num_labels=classes, seed=5)
    if regression:
        for b in (train, meta):
            b["labels"] = b["labels"].double() * 2.5
    extras = ([ExtraTerm("kd1", 1)] if second_teacher else []) + \
        ([ExtraTerm("hidden0", 0, student_layer=2, teacher_layer=1)] if hidden else [])
    student = tiny_student(num_labels)
    add_projections(student, extras, [TEACHER_WIDTH, TEACHER_WIDTH])
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # a projection that is not the identity, large enough to matter
        for p in student.get_submodule(PROJECTIONS).parameters() if hidden else ():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    student.double()
    targets = []
    for term in extras:
        targets.append(torch.randn(5, TEACHER_WIDTH, generator=g, dtype=torch.float64) if term.is_hidden
                       else teacher_logits(5, num_labels, seed=11))
    term_set = TermSet(extras, regression, 2.0, "kl")
    ctx = MetaContext(student=student, batch=train, teacher_logits=teacher_logits(5, num_labels), meta_batch=meta,
                      meta_teacher_logits=teacher_logits(4, num_labels, seed=2), regression=regression,
                      kd_temperature=2.0, kd_kind="kl", term_set=term_set, extra_targets=tuple(targets))
    values = ctx.all_terms(ctx.params())
    signals = Signals(values[0], values[1], ctx.forward(ctx.params(), train), ctx.teacher_logits, train["labels"],
                      train["idx"], 0, 0.0, regression, meta=ctx, extra_terms=tuple(values[2:]),
                      extra_targets=tuple(targets), term_set=term_set)
    return ctx, signals


def test_the_terms_are_label_kl_per_teacher_and_projected_cls_distance():
    ctx, s = _setup()
    params = ctx.params()
    out = ctx.outputs(params, ctx.batch, hidden_states=True)
    z, y = out.logits, ctx.batch["labels"]
    projected = F.linear(out.hidden_states[2][:, 0], params[f"{PROJECTIONS}.hidden0.weight"],
                         params[f"{PROJECTIONS}.hidden0.bias"])
    expected = [F.cross_entropy(z, y, reduction="none"),
                losses.kd_loss(z, ctx.teacher_logits, False, 2.0),
                losses.kd_loss(z, ctx.extra_targets[0], False, 2.0),
                ((projected - ctx.extra_targets[1]) ** 2).mean(-1)]
    for got, want in zip(ctx.all_terms(params), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert s.terms().shape == (4, 5) and s.term_set.names == ("label", "kd", "kd1", "hidden0")


def test_mix_terms_is_the_weighted_sum_and_keeps_two_terms_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    terms, w = torch.rand(2, 7, generator=g), torch.rand(7, generator=g)
    assert torch.equal(losses.mix_terms(terms, split_teacher_side(w, 2)), losses.mix(terms[0], terms[1], w))
    terms4 = torch.rand(4, 7, generator=g)
    weights = torch.rand(4, 7, generator=g).softmax(0)
    manual = sum(weights[k] * terms4[k] for k in range(4)).mean()
    torch.testing.assert_close(losses.mix_terms(terms4, weights), manual, rtol=1e-6, atol=0)


def test_the_default_contract_splits_the_teacher_side_equally():
    w = torch.tensor([0.0, 0.3, 0.9])
    two = split_teacher_side(w, 2)
    assert torch.equal(two[1], w) and torch.equal(two[0], 1 - w)
    four = split_teacher_side(w, 4)
    torch.testing.assert_close(four, torch.stack([1 - w, w / 3, w / 3, w / 3]))
    torch.testing.assert_close(four.sum(0), torch.ones(3))


@pytest.mark.parametrize("num_labels", [1, 2, 3], ids=["regression", "2 classes", "3 classes"])
def test_k_term_rwkd_fast_equals_the_second_order_reference_on_the_real_terms(num_labels):
    _, s = _setup(num_labels)
    fast = RWKD(impl="fast", virtual_lr=0.5).term_weights(s)
    reference = RWKD(impl="reference", virtual_lr=0.5).term_weights(s)
    assert fast.shape == (4, 5)
    torch.testing.assert_close(fast, reference, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(fast.sum(0), torch.ones(5, dtype=fast.dtype))


def test_k_term_rwkd_scores_match_finite_differences_through_the_projection():
    ctx, s = _setup()
    eta, h = 0.5, 1e-6
    u = RWKD(impl="fast", virtual_lr=eta).term_scores(s)
    params = ctx.params()
    names = list(params)

    def meta_after(k, i, eps):
        values = ctx.all_terms(params)
        inner = (eps * values[k][i]) / values[0].shape[0]
        grads = torch.autograd.grad(inner, [params[n] for n in names], allow_unused=True)
        stepped = {n: (params[n] - eta * g if g is not None else params[n]).detach() for n, g in zip(names, grads, strict=True)}
        return ctx.meta_loss(stepped).item()

    for k, i in [(0, 1), (1, 3), (2, 0), (3, 2), (3, 4)]:
        numeric = -(meta_after(k, i, h) - meta_after(k, i, -h)) / (2 * h)
        assert u[k, i].item() == pytest.approx(numeric, rel=1e-5, abs=1e-12)


def test_the_hidden_term_gives_the_two_class_meta_step_a_direction_the_logit_terms_lack():
    # two terms on two classes: u_label / u_kd is fixed by the sample's own outputs (METHOD §3d)...
    _, two = _setup(hidden=False, second_teacher=False)
    u2 = RWKD(impl="fast", virtual_lr=0.5).term_scores(two)
    # ...the hidden-state term's gradient is not parallel to them, so its score is not a multiple of theirs
    _, s = _setup(second_teacher=False)
    u3 = RWKD(impl="fast", virtual_lr=0.5).term_scores(s)
    torch.testing.assert_close(u3[:2], u2, rtol=1e-10, atol=1e-14)  # the extra term changes nothing of the first two
    ratio = u3[2] / u3[0]
    assert ratio.std() > 0.1 * ratio.abs().mean()


def test_k_term_metanet_fast_gradient_equals_the_reference_and_gives_simplex_weights():
    _, s = _setup()
    net = MetaWeightNet(inputs=("term_losses", "teacher_confidence"), hidden=8, virtual_lr=0.5)
    net.configure_terms(s.term_set)
    net.double()
    x = net.signals_matrix(s)
    assert x.shape == (5, 5)  # four term losses and the teacher's confidence
    fast = net.fast_gradient(s, x)
    reference = net.reference_gradient(s, x)
    for a, b in zip(fast, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-14)
    w = net.term_weights(s)
    assert w.shape == (4, 5)
    torch.testing.assert_close(w.sum(0), torch.ones(5, dtype=w.dtype))


def test_metanet_with_two_terms_keeps_its_one_output_head():
    net = MetaWeightNet(hidden=8)
    net.configure_terms(None)
    assert net.net[-1].out_features == 1


def test_confidence_aware_splits_alpha_across_teachers_by_their_gold_label_loss():
    _, s = _setup()
    w = HeuristicWeight(rule="confidence_aware", alpha=0.6).term_weights(s)
    ce = torch.stack([F.cross_entropy(s.teacher_logits, s.labels, reduction="none"),
                      F.cross_entropy(s.extra_targets[0], s.labels, reduction="none")])
    p = ce.exp() / ce.exp().sum(0)
    share = 1 - p  # two teachers: (1 - softmax) / (T - 1) with T - 1 = 1
    expected = torch.stack([torch.full((5,), 0.4, dtype=w.dtype), 0.6 * share[0] / 2, 0.6 * share[1], 0.6 * share[0] / 2])
    torch.testing.assert_close(w, expected)
    # the teacher with the lower loss on the gold label gets the larger share
    better = (ce[0] < ce[1])
    assert torch.equal(w[1] + w[3] > w[2], better)


def test_confidence_aware_with_one_teacher_is_fixed_alpha():
    _, s = _setup(hidden=False, second_teacher=False)
    torch.testing.assert_close(HeuristicWeight(rule="confidence_aware", alpha=0.3).weights(s),
                               FixedWeight(alpha=0.3).weights(s))


def test_fixed_weight_vector_and_its_length_check():
    _, s = _setup()
    scheme = FixedWeight(term_weights=[0.4, 0.3, 0.2, 0.1])
    scheme.configure_terms(s.term_set)
    w = scheme.term_weights(s)
    assert w.shape == (4, 5) and torch.equal(w[:, 0], torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=w.dtype))
    with pytest.raises(RwkdError, match=r"^weighting.term_weights has 3 weights and this run has 4 terms"):
        FixedWeight(term_weights=[0.5, 0.25, 0.25]).configure_terms(s.term_set)
    with pytest.raises(RwkdError, match=r"^weighting.term_weights=\[0.5, 0.6\] is not a weight vector"):
        FixedWeight(term_weights=[0.5, 0.6])


def test_annealing_kd_refuses_more_than_two_terms():
    _, s = _setup()
    with pytest.raises(RwkdError, match=r"^weighting.schedule=annealing_kd defines one teacher term"):
        AnnealedWeight(schedule="annealing_kd").configure_terms(s.term_set)
    AnnealedWeight(schedule="linear").configure_terms(s.term_set)


@pytest.mark.parametrize(("kd", "message"), [
    ({"teachers": [{"seed": 2}]}, r"^kd.teachers\[0\].seed is not a teacher setting; accepted: name, path"),
    ({"teachers": "minilm"}, r"^kd.teachers='minilm' is not a list"),
    ({"hidden": [{"student_layer": 1, "teacher": 1}]}, r"^kd.hidden\[0\].teacher=1 names no teacher; accepted: 0"),
    ({"hidden": [{"layer": 1}]}, r"^kd.hidden\[0\].layer is not a setting of a hidden-state term"),
    ({"hidden": [{"student_layer": "last"}]}, r"^kd.hidden\[0\].student_layer='last' is not an integer"),
])
def test_malformed_term_settings_get_one_line(kd, message):
    with pytest.raises(RwkdError, match=message):
        plan_extra_terms(kd)


def test_layer_indices_resolve_against_the_models_and_out_of_range_is_refused():
    terms = plan_extra_terms({"teachers": [{"finetune": {"seed": 2}}], "hidden": [{"teacher": 1}]})
    assert [t.name for t in terms] == ["kd1", "hidden0"]
    resolved = resolve_layers(terms, student_layers=4, teacher_layers=[6, 6])
    assert (resolved[1].student_layer, resolved[1].teacher_layer) == (4, 6)
    with pytest.raises(RwkdError, match=r"^kd.hidden\[0\].student_layer=5 is not a hidden state of the student \(5 states"):
        resolve_layers(plan_extra_terms({"hidden": [{"student_layer": 5}]}), student_layers=4, teacher_layers=[6])


def test_projections_start_as_the_identity_and_are_left_out_of_the_model():
    student = tiny_student(2)
    before = set(student.state_dict())
    add_projections(student, [ExtraTerm("hidden0", 0, 2, 2)], [16])
    linear = student.get_submodule(f"{PROJECTIONS}.hidden0")
    assert torch.equal(linear.weight, torch.eye(16, dtype=linear.weight.dtype)) and not linear.bias.any()
    assert set(drop_projection_weights(student.state_dict())) == before
    with without_projections(student):
        assert set(student.state_dict()) == before
    assert f"{PROJECTIONS}.hidden0.weight" in student.state_dict()


def test_rwkd_reports_how_many_scores_the_floor_replaced_and_the_summary_counts_them():
    from rwkd.records.weight_summary import pool, summarise_log

    _, s = _setup()
    scheme = RWKD(impl="fast", virtual_lr=0.5)
    w = scheme.term_weights(s)
    floored = scheme.sample_diagnostics()["floored_terms"]
    assert torch.equal(floored, (scheme.last_scores <= scheme.delta).sum(0))
    everything = floored == 4
    assert torch.allclose(w[:, everything], torch.full_like(w[:, everything], 0.25))
    # a hand-made log: two terms, three rows: no score floored, one floored, both floored
    columns = {"epoch": [0, 0, 0], "step": [1, 1, 1], "idx": [0, 1, 2], "weight": [0.3, 1.0, 0.5],
               "label_loss": [1.0] * 3, "kd_loss": [1.0] * 3, "teacher_correct": [1.0] * 3,
               "teacher_confidence": [0.9] * 3, "floored_terms": [0, 1, 2]}
    summary = summarise_log(columns)
    assert summary["floored_terms"] == [1, 1, 1]
    assert pool([summary, summary])["floored_terms"] == [2, 2, 2]
