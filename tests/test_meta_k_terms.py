"""RW-KD's meta step over K per-sample terms (docs/method.md §3d), in float64 on a tiny BERT: the
first-order scores against the second-order reference and against finite differences, for K = 3 and 4,
on a regression and a 3-class task; and the two-term degeneracy on a two-class task that a hidden-state
term lifts.

The terms: the label loss, the KL to one or two teachers' logits, and a hidden-state term, the squared
distance between the student's [CLS] state mapped by a learned linear layer (a student parameter, so the
meta step differentiates through it) and a teacher's [CLS] state.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tiny_models import TINY_CONFIG, batch
from two_term_reference import normalise

from rwkd import losses
from rwkd.models import build_classifier
from rwkd.weighting.meta import fast_scores, fast_term_scores, normalise_terms, reference_term_scores
from rwkd.weighting.meta_context import MetaContext

ETA = 0.5
TEACHER_WIDTH = 12


class StudentWithProjection(torch.nn.Module):
    """The student and the linear map of its [CLS] state into the teacher's hidden space."""

    def __init__(self, num_labels: int):
        super().__init__()
        self.bert = build_classifier("embedded", num_labels, random_init=True, config_overrides=TINY_CONFIG,
                                     attn_implementation="eager", seed=0)
        self.project = torch.nn.Linear(TINY_CONFIG["hidden_size"], TEACHER_WIDTH)
        g = torch.Generator().manual_seed(1234)
        with torch.no_grad():  # weights from one seeded generator, large enough that every term matters
            for _, p in sorted(self.named_parameters()):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.double()

    def forward(self, **inputs):
        out = self.bert(**inputs, output_hidden_states=True)
        return SimpleNamespace(logits=out.logits, projected_cls=self.project(out.hidden_states[-1][:, 0]))


def _setup(num_labels: int, meta_seed: int = 5):
    regression = num_labels == 1
    train, meta = batch(5, 9, num_labels=max(num_labels, 2), seed=0), batch(4, 7, num_labels=max(num_labels, 2), seed=meta_seed)
    if regression:
        for b in (train, meta):
            b["labels"] = b["labels"].double() * 2.5
    g = torch.Generator().manual_seed(7)
    teachers = [torch.randn(5, num_labels, generator=g, dtype=torch.float64) * 2 for _ in range(2)]
    meta_teacher = torch.randn(4, num_labels, generator=g, dtype=torch.float64) * 2
    teacher_cls = torch.randn(5, TEACHER_WIDTH, generator=g, dtype=torch.float64)
    student = StudentWithProjection(num_labels)
    ctx = MetaContext(student=student, batch=train, teacher_logits=teachers[0], meta_batch=meta,
                      meta_teacher_logits=meta_teacher, regression=regression, kd_temperature=2.0, kd_kind="kl")
    return ctx, teachers, teacher_cls


def _terms(ctx: MetaContext, teachers, teacher_cls, names: tuple[str, ...]):
    def terms(params):
        out = ctx.outputs(params, ctx.batch)
        z, y = out.logits, ctx.batch["labels"]
        table = {
            "label": lambda: losses.label_loss(z, y, ctx.regression),
            "teacher0": lambda: losses.kd_loss(z, teachers[0], ctx.regression, 2.0, "kl"),
            "teacher1": lambda: losses.kd_loss(z, teachers[1], ctx.regression, 2.0, "kl"),
            "hidden": lambda: ((out.projected_cls - teacher_cls) ** 2).mean(dim=-1),
        }
        return [table[name]() for name in names]

    return terms


def _meta_loss_after_virtual_step(ctx, terms, eps: torch.Tensor) -> float:
    """L_meta(theta - eta grad (1/n) sum_k sum_i eps_i^k l_i^k), with no second-order graph at all."""
    params = ctx.params()
    values = terms(params)
    inner = sum((eps[k] * v).sum() for k, v in enumerate(values)) / values[0].shape[0]
    grads = torch.autograd.grad(inner, list(params.values()), allow_unused=True)
    theta_hat = {k: p.detach() - ETA * (0 if g is None else g) for (k, p), g in zip(params.items(), grads, strict=True)}
    with torch.no_grad():
        return ctx.meta_loss(theta_hat).item()


CASES = [
    ("regression, K=3", 1, ("label", "teacher0", "hidden")),
    ("regression, K=4", 1, ("label", "teacher0", "teacher1", "hidden")),
    ("3 classes, K=3", 3, ("label", "teacher0", "teacher1")),
    ("3 classes, K=4", 3, ("label", "teacher0", "teacher1", "hidden")),
]


@pytest.mark.parametrize(("num_labels", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_k_term_scores_first_order_equal_second_order_and_finite_differences(num_labels, names):
    ctx, teachers, teacher_cls = _setup(num_labels)
    terms = _terms(ctx, teachers, teacher_cls, names)
    reference = reference_term_scores(ctx, terms, ETA, "label")
    fast = fast_term_scores(ctx, terms, ETA, "label")
    assert reference.shape == (len(names), 5) and reference.abs().min() > 1e-8  # every term scored, none zero
    torch.testing.assert_close(fast, reference, rtol=1e-9, atol=1e-13)
    h = 1e-4
    fd = torch.zeros_like(reference)
    for k in range(len(names)):
        for i in range(5):
            e = torch.zeros_like(reference)
            e[k, i] = h
            fd[k, i] = -(_meta_loss_after_virtual_step(ctx, terms, e) - _meta_loss_after_virtual_step(ctx, terms, -e)) / (2 * h)
    torch.testing.assert_close(reference, fd, rtol=1e-6, atol=1e-10)


def test_the_k_term_path_with_two_terms_is_the_two_term_path():
    ctx, teachers, teacher_cls = _setup(3)
    u_label, u_kd = fast_scores(ctx, ETA, "mix")
    u = fast_term_scores(ctx, _terms(ctx, teachers, teacher_cls, ("label", "teacher0")), ETA, "mix")
    assert torch.equal(u, torch.stack([u_label, u_kd]))
    assert torch.equal(normalise_terms(u, 1e-8)[1], normalise(u_label, u_kd, 1e-8))


def test_weights_lie_on_the_simplex_and_the_floor_decides_non_positive_scores():
    u = torch.tensor([[0.3, -1.0, -2.0, 0.0], [0.1, 2.0, -1.0, 0.0], [0.6, -3.0, -0.5, 1.0]], dtype=torch.float64)
    w = normalise_terms(u, 1e-8)
    torch.testing.assert_close(w.sum(dim=0), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(w[:, 0], torch.tensor([0.3, 0.1, 0.6], dtype=torch.float64))
    assert w[1, 1] == pytest.approx(1.0, abs=1e-8)  # the only positive score takes the sample
    torch.testing.assert_close(w[:, 2], torch.full((3,), 1 / 3, dtype=torch.float64))  # all floored: equal shares


def _ratios(num_labels: int, names: tuple[str, ...], meta_seed: int) -> torch.Tensor:
    ctx, teachers, teacher_cls = _setup(num_labels, meta_seed=meta_seed)
    u = fast_term_scores(ctx, _terms(ctx, teachers, teacher_cls, names), ETA, "label")
    return u[1:] / u[0]


def test_two_classes_leave_the_meta_set_one_sign_per_sample_a_hidden_term_more():
    # two logits: the label and teacher terms' gradients are parallel per sample, so u^kd / u^label is a
    # function of the sample's own outputs, the same whatever the meta batch (docs/method.md §3d)
    two = [_ratios(2, ("label", "teacher0"), seed) for seed in (5, 6, 8)]
    for other in two[1:]:
        torch.testing.assert_close(other, two[0], rtol=1e-9, atol=0)
    # three classes, or a hidden-state term on two: the meta batch moves the ratios
    three = [_ratios(3, ("label", "teacher0"), seed) for seed in (5, 6)]
    assert (three[1] - three[0]).abs().max() > 1e-3 * three[0].abs().max()
    hidden = [_ratios(2, ("label", "teacher0", "hidden"), seed) for seed in (5, 6)]
    torch.testing.assert_close(hidden[1][0], hidden[0][0], rtol=1e-9, atol=0)  # label vs teacher: still tied
    assert (hidden[1][1] - hidden[0][1]).abs().max() > 1e-3 * hidden[0][1].abs().max()  # hidden vs label: free
