"""The tables of paired differences on a study's page: each scheme minus a reference (the tuned fixed alpha,
`none`, or the same scheme with two terms) on the same task and seed, per task and on the mean over tasks,
Holm-adjusted over each table (the statistics: rwkd/report/paired.py)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from rwkd import markdown
from rwkd.report.pair_check import left_out_lines, pairs_left_out
from rwkd.report.paired import cell, holm, paired
from rwkd.study.tuning import terms_suffix, tuned_candidates, tuned_row, with_tuned_rows


def _scores(results: list[dict]) -> dict:
    """{(task, scheme, seed): dev headline x 100 at the best epoch}, tuned rows (report/tuning.py) included."""
    return {(r["task"], r["weighting"], r["seed"]): 100 * r["best"]["metrics"]["val/headline"]
            for r in with_tuned_rows(results)}


def _records(results: list[dict]) -> dict:
    """{(task, scheme, seed): record}, keyed as _scores: what pair_check compares."""
    return {(r["task"], r["weighting"], r["seed"]): r for r in with_tuned_rows(results)}


def unscored_pairs(score: dict, comparisons: dict[str, tuple[str, str]]) -> dict[tuple, str]:
    """The pairs of `comparisons` {row: (scheme, reference)}, keyed (task, scheme, reference, seed), in which a
    run's dev headline is not a number (a run that collapsed, e.g. a constant STS-B prediction's Pearson)."""
    out = {}
    for scheme, reference in comparisons.values():
        for (task, name, seed), value in score.items():
            if name != scheme or (task, reference, seed) not in score:
                continue
            bad = [side for side, v in (("scheme", value), ("reference", score[(task, reference, seed)]))
                   if not math.isfinite(v)]
            if bad:
                whose = "both runs'" if len(bad) == 2 else f"the {bad[0]}'s run's"
                out[(task, scheme, reference, seed)] = f"{whose} dev headline is not a number"
    return out


def left_out_pairs(results: list[dict], comparisons: dict[str, tuple[str, str]]) -> dict[tuple, str]:
    """The pairs of `comparisons` whose runs are no pair (rwkd/report/pair_check.py) or have no score to pair
    (unscored_pairs), with the reason."""
    return {**pairs_left_out(_records(results), comparisons), **unscored_pairs(_scores(results), comparisons)}


def paired_cells(score: dict, comparisons: dict[str, tuple[str, str]], undefined: set = frozenset(),
                 left_out: dict | set = frozenset()) -> dict:
    """{(row, task, or None for the mean over tasks): Paired} for each comparison {row: (scheme, reference)}: the
    scheme minus the reference on the same task and seed, per task and on the mean over tasks (per seed, over the
    seeds that have every task). `left_out`: the (task, scheme, reference, seed) pairs not formed (left_out_pairs)."""
    tasks = sorted({task for task, _, _ in score})
    cells: dict = {}
    for row, (scheme, reference) in comparisons.items():
        per_seed: dict = defaultdict(dict)
        for task in tasks:
            if (task, scheme) in undefined:
                continue
            diffs = {seed: score[(task, scheme, seed)] - score[(task, reference, seed)]
                     for t, s, seed in score if t == task and s == scheme and (task, reference, seed) in score
                     and (task, scheme, reference, seed) not in left_out}
            if diffs:
                cells[(row, task)] = paired(list(diffs.values()))
                for seed, d in diffs.items():
                    per_seed[seed][task] = d
        complete = [statistics.fmean(d.values()) for d in per_seed.values() if len(d) == len(tasks)]
        if complete and len(tasks) > 1:
            cells[(row, None)] = paired(complete)
    return cells


def _paired_lines(score: dict, comparisons: dict[str, tuple[str, str]], undefined: set = frozenset(),
                  left_out: dict | None = None) -> str:
    """One row per comparison (paired_cells), Holm-adjusted over every comparison in the table; under it, the pairs
    left out (`left_out`: left_out_pairs) and why."""
    tasks = sorted({task for task, _, _ in score})
    left_out = left_out or {}
    cells = paired_cells(score, comparisons, undefined, left_out)
    keys = list(cells)
    adjusted = dict(zip(keys, holm([cells[k].p for k in keys]), strict=True))
    lines = markdown.table_lines(["scheme", *tasks, "mean over tasks"])
    for row, (scheme, _) in comparisons.items():
        cols = ["n/a" if (task, scheme) in undefined else cell(cells[(row, task)], adjusted[(row, task)])
                if (row, task) in cells else "" for task in tasks]
        overall = cell(cells[(row, None)], adjusted[(row, None)]) if (row, None) in cells else ""
        lines.append(markdown.row([row, *cols, overall]))
    return "\n".join(lines + ([""] + left_out_lines(left_out) if left_out else []))


def against_reference(results: list[dict], reference: str, undefined: set = frozenset()) -> tuple[dict, dict]:
    """The scores (_scores) and the comparisons {scheme: (scheme, reference)} of paired_table."""
    score = _scores(results)
    schemes = sorted(({scheme for _, scheme, _ in score} | {s for _, s in undefined}) - {reference}
                     - tuned_candidates(results))
    return score, {s: (s, reference) for s in schemes}


def paired_table(results: list[dict], reference: str, undefined: set = frozenset()) -> str:
    """Each scheme minus the reference on the same task and seed (same student start and batch order, so
    the seed's own luck cancels), dev headline x 100 at the best epoch: the mean difference, its 95% interval,
    the seeds won and the paired t-test's p-value (rwkd/report/paired.py). A tuned family (report/tuning.py)
    is one row, its chosen variant's runs, and its variants are not compared one by one; `reference` may be
    such a row (TUNED: the fixed alpha chosen per task). `undefined` holds the (task, scheme) pairs that are
    not applicable, shown as n/a."""
    score, comparisons = against_reference(results, reference, undefined)
    return _paired_lines(score, comparisons, undefined, left_out_pairs(results, comparisons))


def more_terms_table(results: list[dict]) -> str | None:
    """Each scheme run with more than two terms minus the same scheme (or tuned row) with two, by seed; None
    where no scheme was run both ways. A scheme whose K-term form has a label of its own (metanet reads each
    term's loss there) is paired with its kind's two-term row chosen on the meta split, where the K-term runs
    have no tuned row of that kind."""
    score, variants = _scores(results), tuned_candidates(results)
    names = {scheme for _, scheme, _ in score}
    pairs = {}
    for s in sorted(names):
        if not (suffix := terms_suffix(s)) or s in variants:
            continue
        two_terms, kind = s[:-len(suffix)], s.split("(")[0].split(",")[0]
        if two_terms in names:
            pairs[s] = (s, two_terms)
        elif tuned_row(kind) in names and tuned_row(kind, suffix) not in names:
            pairs[s] = (s, tuned_row(kind))
    return _paired_lines(score, pairs, left_out=left_out_pairs(results, pairs)) if pairs else None
