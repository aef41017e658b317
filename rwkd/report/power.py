"""How large a difference a study's paired comparisons could find: from the spread of the per-seed differences,
the smallest true difference the paired t-test (rwkd/report/paired.py) finds with 80% probability over the
study's seeds, and the seeds a given difference would need.

A study that finds nothing has said little unless it could have found something; this is the page's answer to
"was there the power to tell schemes apart?". The spread is treated as known (the power of the t-test with the
non-central t), pooled over the schemes of a column, so it is a property of the design, not of any one scheme.
"""

from __future__ import annotations

import math

from rwkd import markdown
from rwkd.report.paired import EQUAL
from rwkd.report.paired_tables import against_reference, left_out_pairs, paired_cells

POWER = 0.8
LEVEL = 0.05
TARGET = 1.0  # points (dev headline x 100): the difference whose seed count the page gives
MOST_SEEDS = 1000


def power_of(difference: float, sd: float, n: int, level: float) -> float:
    """Probability that the two-sided paired t-test at `level` over n seeds rejects a true mean difference of
    `difference` when the per-seed differences have standard deviation `sd`."""
    from scipy import stats

    df = n - 1
    critical = stats.t.ppf(1 - level / 2, df)
    shift = difference * math.sqrt(n) / sd
    # the far tail as the upper tail of the mirrored shift: scipy's nct.cdf(-c, df, shift) is NaN for large shifts
    return float(stats.nct.sf(critical, df, shift) + stats.nct.sf(critical, df, -shift))


def detectable(sd: float, n: int, level: float, power: float = POWER) -> float:
    """The smallest difference found with probability `power` (power_of rises with the difference)."""
    from scipy.optimize import brentq

    high = sd
    while power_of(high, sd, n, level) < power:
        high *= 2
    return float(brentq(lambda d: power_of(d, sd, n, level) - power, 0.0, high, xtol=1e-9))


def seeds_for(difference: float, sd: float, level: float, power: float = POWER) -> int | None:
    """The fewest seeds (at least 2) with which a true `difference` is found with probability `power`; None
    beyond MOST_SEEDS."""
    return next((n for n in range(2, MOST_SEEDS + 1) if power_of(difference, sd, n, level) >= power), None)


def pooled_sd(stats) -> tuple[float, int] | None:
    """The standard deviation of per-seed differences pooled over the comparisons that vary (weighted by degrees
    of freedom) and the fewest seeds among them; None without a comparison of two or more seeds that vary."""
    # differences that vary by less than EQUAL are equal (float noise): the t-test leaves them untested, and
    # their zero spread says nothing of the spread of the comparisons it does test
    usable = [s for s in stats if s.n >= 2 and not math.isnan(s.sd) and s.sd >= EQUAL]
    if not usable:
        return None
    variance = sum((s.n - 1) * s.sd ** 2 for s in usable) / sum(s.n - 1 for s in usable)
    return math.sqrt(variance), min(s.n for s in usable)


def power_table(results: list[dict], reference: str, undefined: set = frozenset()) -> str | None:
    """Per task and on the mean over tasks, for the comparisons of paired_table(results, reference): the seeds,
    the pooled spread, the smallest difference found with 80% power for one comparison alone (p < 0.05) and for
    the first that Holm rejects among the table's m tests (p < 0.05 / m), and the seeds TARGET points would need
    in each case. None where no column has a spread."""
    score, comparisons = against_reference(results, reference, undefined)
    cells = paired_cells(score, comparisons, undefined, left_out_pairs(results, comparisons))  # identical pairs only
    tests = sum(not math.isnan(c.p) for c in cells.values())
    strict = LEVEL / max(tests, 1)
    columns = [*sorted({task for _, task in cells if task is not None}), None]
    lines = []
    for column in columns:
        if (spread := pooled_sd(c for (_, task), c in cells.items() if task == column)) is None:
            continue
        sd, n = spread
        alone, holm_first = (seeds_for(TARGET, sd, level) for level in (LEVEL, strict))
        lines.append([column or "mean over tasks", n, f"{sd:.2f}", f"{detectable(sd, n, LEVEL):.2f}",
                      f"{detectable(sd, n, strict):.2f}", alone or f"> {MOST_SEEDS}", holm_first or f"> {MOST_SEEDS}"])
    if not lines:
        return None
    header = [markdown.BLANK, "seeds", "sd of the differences", "found with 80% power: alone",
              f"after Holm (p < {strict:.2g}, {tests} tests)", f"seeds for {TARGET:g} point: alone", "after Holm"]
    return markdown.table(header, lines)
