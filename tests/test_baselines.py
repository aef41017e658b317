"""The majority answer's dev scores: pinned on hand-counted labels and on the real MRPC dev file."""

from __future__ import annotations

import pytest

from rwkd.baselines import majority_label, majority_metrics
from rwkd.data.sources import GlueSource
from rwkd.tasks import get_task


def test_majority_of_hand_counted_labels():
    # 3 of 4 labels are 1: acc 0.75; F1 of the positive class: precision 0.75, recall 1 -> 2*0.75/1.75
    m = majority_metrics(get_task("mrpc"), [1, 1, 0, 1])
    assert m["acc"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(2 * 0.75 / 1.75)
    assert m["headline"] == pytest.approx((0.75 + 2 * 0.75 / 1.75) / 2)


def test_a_majority_of_zeros_has_no_positive_f1_and_cola_has_mcc_zero():
    assert majority_metrics(get_task("qqp"), [0, 0, 1])["f1"] == 0.0
    cola = majority_metrics(get_task("cola"), [1, 1, 0])
    assert cola == {"mcc": 0.0, "headline": 0.0}


def test_ties_go_to_the_smaller_label_and_regression_has_none():
    assert majority_label([1, 0, 1, 0]) == 0
    assert majority_metrics(get_task("stsb"), [0.5, 4.0]) == {"pearson": None, "spearman": None, "headline": None}


def test_mrpc_dev_always_paraphrase(real_glue_dir):
    labels = [e.label for e in GlueSource(get_task("mrpc"), str(real_glue_dir)).read("dev")]
    m = majority_metrics(get_task("mrpc"), labels)
    assert (len(labels), sum(labels)) == (408, 279)  # GLUE's MRPC dev: 279 paraphrases of 408
    assert m["acc"] == pytest.approx(279 / 408)
    assert 100 * m["headline"] == pytest.approx(74.80, abs=0.01)  # the figure quoted in the issue tracker
