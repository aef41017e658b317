"""The power of the paired comparisons (rwkd/report/power.py) against published and hand-worked values."""

from __future__ import annotations

import math

import pytest

from rwkd.report.paired import paired
from rwkd.report.power import detectable, pooled_sd, power_of, power_table, seeds_for


def test_power_matches_the_published_one_sample_t_value():
    # R: power.t.test(n = 10, delta = 1, sd = 1, type = "one.sample") -> power = 0.8030969
    assert power_of(1.0, 1.0, 10, 0.05) == pytest.approx(0.8030969, abs=1e-6)
    # it depends on the difference over the spread only
    assert power_of(2.5, 2.5, 10, 0.05) == pytest.approx(0.8030969, abs=1e-6)


def test_with_no_difference_the_test_rejects_at_its_level():
    assert power_of(0.0, 1.3, 5, 0.05) == pytest.approx(0.05, abs=1e-9)
    assert power_of(0.0, 0.7, 5, 0.05 / 70) == pytest.approx(0.05 / 70, abs=1e-9)


def test_strict_levels_and_large_differences_give_a_power_not_nan():
    # scipy's lower-tail nct.cdf is NaN here; the mirrored upper tail is not
    assert power_of(30.0, 1.0, 5, 0.05 / 200) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 < power_of(5.0, 1.0, 5, 0.05 / 200) < 1.0


def test_the_detectable_difference_has_the_asked_power_and_grows_with_stricter_levels():
    found = detectable(1.0, 10, 0.05)
    assert power_of(found, 1.0, 10, 0.05) == pytest.approx(0.8, abs=1e-7)
    assert found < 1.0  # ten seeds give 0.803 at a difference of one sd
    assert detectable(1.0, 10, 0.05 / 70) > found and detectable(1.0, 5, 0.05) > found
    assert detectable(2.0, 10, 0.05) == pytest.approx(2 * found, rel=1e-6)


def test_seeds_for_a_difference_is_the_first_count_with_enough_power():
    assert seeds_for(1.0, 1.0, 0.05) == 10
    assert power_of(1.0, 1.0, 9, 0.05) < 0.8
    assert seeds_for(0.001, 1.0, 0.05) is None  # beyond the thousand seeds looked at


def test_the_spread_is_pooled_by_degrees_of_freedom_over_comparisons_that_vary():
    sd, n = pooled_sd([paired([1.0, 2.0, 3.0]), paired([0.0, 4.0, 2.0, 6.0, 8.0]), paired([0.5])])
    # variances 1 (2 df) and 10 (4 df): (2 * 1 + 4 * 10) / 6 = 7; one seed has no spread and no say
    assert sd == pytest.approx(math.sqrt(7.0)) and n == 3
    assert pooled_sd([paired([1.0, 1.0]), paired([0.2])]) is None
    # equal differences (untested by the t-test) neither shrink the spread nor set the seeds
    assert pooled_sd([paired([1.0, 2.0, 3.0]), paired([4.0, 4.0]), paired([2.0, 2.0 + 1e-6])]) == (1.0, 3)


def _job(scheme: str, seed: int, dev: float, meta=()) -> dict:
    best = {"epoch": 0, "step": 1, "metrics": {"val/headline": dev}}
    history = [{"epoch": e, "val/headline": dev, "meta/headline": m} for e, m in enumerate(meta)]
    return {"task": "mrpc", "weighting": scheme, "seed": seed, "history": history, "best": best, "last": best}


def test_the_power_table_pools_the_tables_comparisons_and_counts_its_tests():
    results = [_job("none", 1, 0.70), _job("none", 2, 0.60), _job("none", 3, 0.65),
               _job("meta", 1, 0.71), _job("meta", 2, 0.62), _job("meta", 3, 0.64),
               *[_job("fixed(alpha=0.5)", s, 0.66, meta=[0.7]) for s in (1, 2, 3)],
               *[_job("fixed(alpha=0.25)", s, 0.50, meta=[0.6]) for s in (1, 2, 3)]]
    table = power_table(results, "none")
    # against none: meta +1, +2, -1 (variance 7/3) and the tuned alpha -4, +6, +1 (variance 25), 2 df each;
    # two tests, so Holm's first rejection needs p < 0.025
    sd = math.sqrt((7 / 3 + 25) / 2)
    assert "after Holm (p < 0.025, 2 tests)" in table
    alone, after_holm = detectable(sd, 3, 0.05), detectable(sd, 3, 0.025)
    assert f"| mrpc | 3 | {sd:.2f} | {alone:.2f} | {after_holm:.2f} | " in table
    assert table.count("\n| ") == 1  # one task: no mean over tasks
    assert power_table([_job("none", 1, 0.7), _job("meta", 1, 0.7)], "none") is None  # one seed: no spread
