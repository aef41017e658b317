"""Paired differences over seeds (rwkd/report/paired.py) against values worked by hand."""

from __future__ import annotations

import math

import pytest

from rwkd.report.paired import cell, holm, paired


def test_interval_and_p_value_of_three_seeds():
    # mean 2, sd 1, n 3: half-width t_{0.975, 2} / sqrt(3) = 4.302653 / 1.732051; t = 2 sqrt(3), two-sided p
    stat = paired([1.0, 2.0, 3.0])
    assert stat.mean == 2.0 and stat.above == 3 and stat.n == 3
    assert (stat.low, stat.high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    assert stat.p == pytest.approx(0.0741799, abs=1e-6)


def test_one_seed_or_no_spread_has_no_interval_or_test():
    one = paired([0.5])
    assert math.isnan(one.low) and math.isnan(one.p) and one.above == 1
    assert math.isnan(paired([1.0, 1.0]).p) and math.isnan(paired([-0.34, -0.34 + 2e-5, -0.34]).p)


def test_holm_multiplies_by_the_tests_left_and_keeps_the_order():
    assert holm([0.01, 0.04, 0.03, math.nan])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([0.01, math.nan])[1]) and holm([0.01, math.nan])[0] == pytest.approx(0.01)
    assert holm([0.6, 0.5]) == [1.0, 1.0]


def test_holm_over_a_family_fixed_in_advance_counts_the_tests_that_gave_no_p_value():
    # four comparisons named, two tested: as if the other two had p = 1 (last in the order)
    assert holm([0.01, 0.04, math.nan], tests=4)[:2] == pytest.approx([0.04, 0.12])
    assert holm([0.01, 0.04], tests=1) == pytest.approx([0.02, 0.04])  # never fewer than the p-values given


def test_a_difference_that_is_not_a_number_gives_no_interval_and_no_test():
    stat = paired([1.0, math.nan, 2.0])
    assert stat.n == 3 and math.isnan(stat.low) and math.isnan(stat.p)


def test_a_cell_shows_mean_interval_wins_and_the_adjusted_p():
    assert cell(paired([1.0, 2.0, 3.0]), 0.2) == "+2.00 [-0.48, +4.48], 3/3 above, p=0.200"
    assert cell(paired([-0.5]), math.nan) == "-0.50, 0/1 above"
