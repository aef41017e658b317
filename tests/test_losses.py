"""Golden values for the loss terms (docs/method.md §1), computed by hand with math, not torch."""

from __future__ import annotations

import math

import pytest
import torch

from rwkd import losses


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    return [v / sum(e) for v in e]


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


STUDENT = [[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]]
TEACHER = [[1.0, 0.0, 3.0], [-2.0, 1.0, 0.5]]


def test_cross_entropy_is_per_sample():
    z = torch.tensor(STUDENT, dtype=torch.float64)
    y = torch.tensor([0, 2])
    got = losses.label_loss(z, y, regression=False)
    expected = [-math.log(softmax(STUDENT[0])[0]), -math.log(softmax(STUDENT[1])[2])]
    assert got.shape == (2,)
    assert got.tolist() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
def test_kl_divides_both_logits_by_tau_and_scales_by_tau_squared(tau):
    zs = torch.tensor(STUDENT, dtype=torch.float64)
    zt = torch.tensor(TEACHER, dtype=torch.float64)
    got = losses.kd_loss(zs, zt, regression=False, temperature=tau, kind="kl")
    expected = [
        tau**2 * kl(softmax([v / tau for v in t]), softmax([v / tau for v in s]))
        for s, t in zip(STUDENT, TEACHER, strict=True)
    ]
    assert got.tolist() == pytest.approx(expected, rel=1e-12)


def test_kl_golden_numbers():
    # Pinned figures: a regression in the formula (missing tau^2, tau on one side) changes them.
    zs = torch.tensor(STUDENT, dtype=torch.float64)
    zt = torch.tensor(TEACHER, dtype=torch.float64)
    got = losses.kd_loss(zs, zt, regression=False, temperature=2.0)
    assert got.tolist() == pytest.approx([1.215127, 0.560231], abs=1e-6)


def test_kl_per_sample_value_does_not_depend_on_the_rest_of_the_batch():
    zs = torch.tensor(STUDENT, dtype=torch.float64)
    zt = torch.tensor(TEACHER, dtype=torch.float64)
    together = losses.kd_loss(zs, zt, regression=False, temperature=2.0)
    alone = losses.kd_loss(zs[:1], zt[:1], regression=False, temperature=2.0)
    assert together[0].item() == pytest.approx(alone[0].item(), rel=1e-14)


def test_kl_is_zero_when_student_matches_teacher():
    z = torch.tensor(TEACHER, dtype=torch.float64)
    assert losses.kd_loss(z, z.clone(), regression=False, temperature=3.0).abs().max().item() < 1e-14


def test_logit_mse_averages_over_classes():
    zs = torch.tensor(STUDENT, dtype=torch.float64)
    zt = torch.tensor(TEACHER, dtype=torch.float64)
    got = losses.kd_loss(zs, zt, regression=False, kind="mse")
    expected = [sum((a - b) ** 2 for a, b in zip(s, t, strict=True)) / 3 for s, t in zip(STUDENT, TEACHER, strict=True)]
    assert got.tolist() == pytest.approx(expected, rel=1e-12)


def test_regression_terms_are_squared_errors():
    zs = torch.tensor([[1.5], [4.0]], dtype=torch.float64)
    y = torch.tensor([2.0, 3.0], dtype=torch.float64)
    zt = torch.tensor([[1.0], [5.0]], dtype=torch.float64)
    assert losses.label_loss(zs, y, regression=True).tolist() == [0.25, 1.0]
    # temperature does not apply to a regression teacher term
    assert losses.kd_loss(zs, zt, regression=True, temperature=4.0).tolist() == [0.25, 1.0]


def test_mix_is_the_convex_combination_averaged_over_the_batch():
    label = torch.tensor([1.0, 2.0, 3.0])
    kd = torch.tensor([10.0, 20.0, 30.0])
    w = torch.tensor([0.0, 0.5, 1.0])
    assert losses.mix(label, kd, w).item() == pytest.approx((1.0 + 11.0 + 30.0) / 3)
    assert torch.equal(losses.mix(label, kd, torch.zeros(3)), label.mean())
    assert torch.equal(losses.mix(label, None, torch.zeros(3)), label.mean())


def test_unknown_kd_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown kd loss 'l1'"):
        losses.kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), regression=False, kind="l1")
