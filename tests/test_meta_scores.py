"""benchmarks/meta_scores.py tells the delta floor apart from scores that are really non-positive."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "meta_scores.py"


@pytest.fixture(scope="module")
def summarise():
    spec = importlib.util.spec_from_file_location("meta_scores", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.summarise


def test_shares_separate_non_positive_scores_from_scores_under_the_floor(summarise):
    delta = 1e-8
    # sample 0: both terms hurt; 1: both help, but by less than the floor; 2: only the teacher term helps;
    # 3: only the label term helps, its score under the floor at eta=1e-4 and over it at eta=1e-2
    u_label = torch.tensor([-1e-6, 5e-9, -1e-6, 5e-9])
    u_kd = torch.tensor([-2e-6, 2e-9, 3e-6, -1e-6])
    s = summarise(u_label, u_kd, virtual_lr=1e-4, delta=delta)
    assert s["samples"] == 4
    assert s["share_both_scores_nonpositive"] == 0.25
    assert s["share_both_scores_at_or_below_delta"] == 0.75
    at_default, scaled = s["weights_by_virtual_lr"]["0.0001"], s["weights_by_virtual_lr"]["0.01"]
    assert at_default["share_exactly_0.5"] == 0.75  # samples 0, 1 and 3 all sit on the floor
    assert at_default["share_above_0.975"] == 0.25  # sample 2: 3e-6 / (3e-6 + 1e-8) = 0.9967
    # a hundred times the scores: sample 1 becomes 5e-7 against 2e-7, sample 3 clears the floor on its own
    assert scaled["share_exactly_0.5"] == 0.25
    assert scaled["share_below_0.025"] == 0.25
    assert scaled["mean_weight"] == pytest.approx((0.5 + 2 / 7 + 3e-4 / (3e-4 + 1e-8) + 1e-8 / (5e-7 + 1e-8)) / 4)


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("meta_scores", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spearman_is_one_for_a_monotone_map_and_minus_one_reversed(script):
    a = torch.tensor([0.3, -1.0, 2.0, 0.1, 5.0])
    assert script.spearman(a, a ** 3 + 1) == pytest.approx(1.0)
    assert script.spearman(a, -a) == pytest.approx(-1.0)
    assert script.spearman(a, torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])) == pytest.approx(0.5)  # ranks 2,0,3,1,4 vs 0..4


def test_agreement_counts_signs_ranks_and_the_weights_change(script):
    exact = torch.tensor([[1e-6, -2e-6, 3e-6, 4e-6], [2e-6, 1e-6, -1e-6, 3e-6]])
    same = {"exact": exact, "same": exact * 7.0}  # scaled scores: same ranks and signs, same weights
    a = script.agreement([same], "same", delta=1e-15)  # a floor far under the scores: scaling moves no weight
    assert a["label"] == {"spearman_mean": pytest.approx(1.0), "spearman_min": pytest.approx(1.0), "sign_agreement": 1.0}
    assert a["weight_mean_abs_change"] == pytest.approx(0.0, abs=1e-6)
    flipped = {"exact": exact, "flip": torch.stack([exact[0], -exact[1]])}  # every kd score's sign turned
    b = script.agreement([flipped], "flip", delta=1e-8)
    assert b["kd"]["sign_agreement"] == 0.0 and b["kd"]["spearman_mean"] == pytest.approx(-1.0)
    assert b["label"]["sign_agreement"] == 1.0 and b["weight_mean_abs_change"] > 0.3
