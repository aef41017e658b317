"""Golden values for the fixed, annealed and heuristic schemes, and the one contract all schemes share."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from rwkd.cli import compose_train
from rwkd.errors import RwkdError
from rwkd.weighting.annealed import AnnealedWeight
from rwkd.weighting.base import Signals, WeightingScheme
from rwkd.weighting.fixed import FixedWeight
from rwkd.weighting.heuristic import HeuristicWeight

CONF = Path(__file__).resolve().parents[1] / "conf" / "weighting"


def signals(progress: float = 0.0, regression: bool = False) -> Signals:
    student = torch.tensor([[2.0, 0.0], [0.0, 0.0], [-1.0, 1.0]])
    teacher = torch.tensor([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    label_loss = torch.nn.functional.cross_entropy(student, labels, reduction="none")
    return Signals(label_loss, torch.ones(3), student, teacher, labels, torch.arange(3), 0, progress, regression)


def test_every_weighting_config_builds_a_scheme():
    names = sorted(p.stem for p in CONF.glob("*.yaml"))
    assert {"annealed", "fixed", "heuristic", "meta", "metanet", "none", "fixed_a25", "annealed_kd"} <= set(names)
    assert len(names) == 21  # the six families and fifteen named variants
    for name in names:
        assert isinstance(instantiate(compose_train([f"weighting={name}"]).weighting), WeightingScheme)


def test_fixed_is_alpha_everywhere_and_checks_its_range():
    assert FixedWeight(0.3).weights(signals()).tolist() == pytest.approx([0.3] * 3)
    for bad in (-0.01, 1.01):
        with pytest.raises(RwkdError, match=r"outside \[0, 1\]"):
            FixedWeight(bad)


def test_linear_and_cosine_schedules():
    lin = AnnealedWeight("linear", alpha_start=0.9, alpha_end=0.1)
    assert [lin.alpha(t) for t in (0.0, 0.5, 1.0)] == pytest.approx([0.9, 0.5, 0.1])
    cos = AnnealedWeight("cosine", alpha_start=1.0, alpha_end=0.0)
    assert [cos.alpha(t) for t in (0.0, 0.25, 0.5, 1.0)] == pytest.approx([1.0, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5, 0.0])
    assert lin.weights(signals(progress=0.5)).tolist() == pytest.approx([0.5] * 3)


def test_annealing_kd_two_phases_and_stepwise_teacher_scale():
    a = AnnealedWeight("annealing_kd", max_temperature=4, phase1_fraction=0.5)
    # T steps 4, 3, 2, 1 over phase 1, so phi = 1 - (T - 1) / 4 rises 0.25, 0.5, 0.75, 1
    assert [a.teacher_scale(t) for t in (0.0, 0.13, 0.26, 0.38, 0.49)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert a.alpha(0.2) == 1.0 and a.alpha(0.5) == 0.0 and a.alpha(0.9) == 0.0
    s = signals(progress=0.0)
    expected = ((s.student_logits - 0.25 * s.teacher_logits) ** 2).mean(-1)
    torch.testing.assert_close(a.teacher_term(s), expected)
    assert AnnealedWeight("linear").teacher_term(s) is None


def test_teacher_confidence_and_correctness_rules():
    s = signals()
    p = s.teacher_logits.softmax(-1)
    conf = torch.stack([p[0, 0], p[1, 0], p[2, 1]])
    torch.testing.assert_close(HeuristicWeight("teacher_confidence").weights(s), conf)
    # the teacher is right on sample 0 only (sample 2 is a tie: argmax picks class 0, gold is 1)
    torch.testing.assert_close(HeuristicWeight("teacher_correct").weights(s), conf * torch.tensor([1.0, 0.0, 0.0]))


def test_student_entropy_rule_is_normalised():
    w = HeuristicWeight("student_entropy").weights(signals())
    assert w[1].item() == pytest.approx(1.0)  # uniform student: maximal entropy
    p = torch.softmax(torch.tensor([2.0, 0.0]), 0)
    assert w[0].item() == pytest.approx(float(-(p * p.log()).sum() / math.log(2)))
    with pytest.raises(RwkdError, match="not defined for a regression task"):
        HeuristicWeight("student_entropy").weights(signals(regression=True))


def test_loss_ratio_rule():
    # w = 1 - exp(-student's label loss / teacher's label loss), on logits whose cross-entropies are known by hand:
    # teacher [ln 3, 0] with label 0 gives ln(4/3), [0, 0] with label 1 gives ln 2; the label losses are set to
    # 1x and 2x those, so the ratios are 1 and 2 and the weights 1 - 1/e and 1 - 1/e^2
    teacher = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1])
    label_loss = torch.tensor([math.log(4 / 3), 2 * math.log(2.0)])
    s = Signals(label_loss, torch.ones(2), torch.zeros(2, 2), teacher, labels, torch.arange(2), 0, 0.0, False)
    w = HeuristicWeight("loss_ratio").weights(s)
    torch.testing.assert_close(w, torch.tensor([0.6321205588, 0.8646647168]), rtol=1e-6, atol=1e-7)


def test_unknown_settings_are_rejected_with_accepted_values():
    with pytest.raises(RwkdError, match=r"weighting.rule='magic' is unknown; accepted: teacher_confidence"):
        HeuristicWeight("magic")
    with pytest.raises(RwkdError, match=r"weighting.schedule='step' is unknown; accepted: linear, cosine, annealing_kd"):
        AnnealedWeight("step")


def test_schemes_that_need_class_probabilities_are_undefined_on_a_regression_task():
    from rwkd.tasks import get_task
    from rwkd.weighting.metanet import MetaWeightNet

    stsb, rte = get_task("stsb"), get_task("rte")
    assert "not defined for the regression task stsb" in HeuristicWeight("student_entropy").undefined_for(stsb)
    assert HeuristicWeight("student_entropy").undefined_for(rte) is None
    assert all(HeuristicWeight(r).undefined_for(stsb) is None for r in ("teacher_confidence", "teacher_correct", "loss_ratio"))
    assert "student_entropy" in MetaWeightNet(inputs=["label_loss", "student_entropy"]).undefined_for(stsb)
    assert MetaWeightNet(inputs=["label_loss", "kd_loss"]).undefined_for(stsb) is None
    assert FixedWeight(0.5).undefined_for(stsb) is None


def test_metanet_names_its_learning_rate_only_where_it_is_not_the_default():
    # runs recorded before the rate could vary keep the label they were filed under
    assert instantiate(compose_train(["weighting=metanet"]).weighting).describe() == \
        "metanet(label_loss+kd_loss, meta_loss=label, impl=fast)"
    assert instantiate(compose_train(["weighting=metanet_lr1e-4"]).weighting).describe() == \
        "metanet(label_loss+kd_loss, meta_loss=label, impl=fast, lr=0.0001)"
