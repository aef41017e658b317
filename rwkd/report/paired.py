"""Paired differences between two schemes over seeds: the mean, its 95% interval, how many seeds each side
won, and a p-value corrected for the number of comparisons a table makes (Holm).

Runs of two schemes with the same task and seed share the student's start and batch order, so their
difference cancels the seed's own luck; the seeds are the samples. The interval is Student's t on the
per-seed differences, the test the paired t-test of mean 0 (two-sided).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# differences (in points, x 100) that vary by less than this are equal: one dev sample is worth 0.01 points
# on the largest dev set
EQUAL = 1e-4


@dataclass(frozen=True)
class Paired:
    mean: float
    low: float  # 95% interval; NaN with fewer than 2 seeds
    high: float
    above: int  # seeds on which the scheme scored above the reference
    n: int
    p: float  # two-sided paired t-test of mean 0; NaN with fewer than 2 seeds or equal differences
    sd: float = math.nan  # of the per-seed differences; NaN with fewer than 2 seeds


def paired(differences: list[float]) -> Paired:
    from scipy import stats

    n = len(differences)
    mean = statistics.fmean(differences)
    above = sum(d > 0 for d in differences)
    if n < 2 or not all(map(math.isfinite, differences)):  # the tables leave out pairs without a score first
        return Paired(mean, math.nan, math.nan, above, n, math.nan)
    sd = statistics.stdev(differences)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    # equal differences (scores are counts of right answers, so this happens) leave the t-test undefined;
    # the float32 metrics leave a spread of about 1e-5 points, which would pass for certainty
    p = math.nan if sd < EQUAL else float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return Paired(mean, float(mean - half), float(mean + half), above, n, p, sd)


def holm(p_values: list[float], tests: int | None = None) -> list[float]:
    """Holm's step-down adjustment of the given p-values (NaN stays NaN). `tests`: the size of the family the
    correction is over, where it was fixed in advance (pre-registered comparisons): a test of it that gave no
    p-value counts as one not rejected (p = 1, last in the order). By default the family is the p-values given."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    family = max(len(tested), tests or 0)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (family - rank) * p))
        adjusted[i] = running
    return adjusted


def cell(stat: Paired, p_adjusted: float) -> str:
    """`+1.23 [-0.50, +2.96], 4/5 above, p=0.031`; the p-value is the Holm-adjusted one."""
    text = f"{stat.mean:+.2f}"
    if not math.isnan(stat.low):
        text += f" [{stat.low:+.2f}, {stat.high:+.2f}]"
    text += f", {stat.above}/{stat.n} above"
    if not math.isnan(p_adjusted):
        text += f", p={p_adjusted:.3f}"
    return text
