"""A study's pre-registered primary comparisons (`study.primary` in its experiment config, carried by every
record's `config`), tested on the mean over tasks with Holm's correction over those comparisons alone.

Each entry names a scheme and a reference, each a family of `study.families` (its variant chosen on the meta
split, rwkd/study/tuning.py) or a `weighting` config name, and the term set: `two` (label and kd) or `k` (the
study's runs with more terms, one term set):

    study:
      primary:
        - {scheme: meta, reference: fixed, terms: two}   # RW-KD minus the tuned fixed alpha, two terms

Every other paired table on the page is exploratory: its own Holm correction stands, over its own cells.
"""

from __future__ import annotations

import json
import math

from rwkd import markdown
from rwkd.errors import RwkdError
from rwkd.report.pair_check import left_out_lines, pairs_left_out
from rwkd.report.paired import EQUAL, cell, holm
from rwkd.report.paired_tables import paired_cells, unscored_pairs
from rwkd.report.power import LEVEL, TARGET, detectable, seeds_for
from rwkd.study.tuning import family_of, is_tuned_row, terms_suffix, tuned_row, with_tuned_rows

TERMS = ("two", "k")
FEWEST_SEEDS = 5  # "seeds needed" is never fewer: fewer seeds say too little about the spread itself


def read_primaries(results: list[dict]) -> list[dict]:
    """The records' `study.primary` (one list for all of them), checked; [] where no record has one."""
    found = {json.dumps(p, sort_keys=True) for r in results
             if (p := ((r.get("config") or {}).get("study") or {}).get("primary"))}
    if not found:
        return []
    if len(found) > 1:
        raise RwkdError(f"the records carry {len(found)} different study.primary lists; report one study at a time")
    primaries = json.loads(found.pop())
    for p in primaries:
        if not isinstance(p, dict) or not {"scheme", "reference"} <= set(p) or p.get("terms", "two") not in TERMS:
            raise RwkdError(f"study.primary entry {p!r} is not understood; accepted: "
                            f"{{scheme: NAME, reference: NAME, terms: {'|'.join(TERMS)}}} with NAME a family or weighting")
    names = [label(p) for p in primaries]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise RwkdError(f"study.primary names {', '.join(twice)} more than once; accepted: each comparison once "
                        "(Holm's correction counts the list)")
    return primaries


def label(primary: dict) -> str:
    terms = "two terms" if primary.get("terms", "two") == "two" else "K terms"
    return f"{primary['scheme']} − {primary['reference']} ({terms})"


def _suffixes(results: list[dict], terms: str) -> list[str]:
    found = sorted({terms_suffix(r["weighting"]) for r in results})
    return [""] if terms == "two" else [s for s in found if s]


def _row_of(records: list[dict], name: str, suffix: str) -> str | None:
    """The label a name stands for among one task's records (tuned rows included): the family's tuned row where
    it has one, else the one label of the family's or config's runs with that term set."""
    labels = {r["weighting"] for r in records if terms_suffix(r["weighting"]) == suffix}
    if tuned_row(name, suffix) in labels:
        return tuned_row(name, suffix)
    own = {r["weighting"] for r in records if r["weighting"] in labels and not is_tuned_row(r["weighting"])
           and name in (family_of(r), (r.get("choices") or {}).get("weighting"), r["weighting"])}
    if len(own) > 1:
        raise RwkdError(f"study.primary names {name!r}, which stands for {len(own)} rows ({', '.join(sorted(own))}); "
                        "name a family of study.families or one weighting config")
    return own.pop() if own else None


def _compared(results: list[dict], primaries: list[dict]) -> tuple[dict[str, object], dict[tuple, str]]:
    """({label: Paired} of each primary comparison on the mean over tasks (per seed, over the seeds with every
    task), {(task, scheme row, reference row, seed): reason} of the pairs left out because their runs are no pair
    (rwkd/report/pair_check.py)). A comparison missing on some task or seed is left out."""
    rows = with_tuned_rows(results)
    tasks = sorted({r["task"] for r in rows})
    cells, left_out = {}, {}
    for p in primaries:
        suffixes = _suffixes(rows, p.get("terms", "two"))
        if not suffixes:
            continue  # a study part-way: no run with more terms yet, so the comparison is "not run on every task"
        if len(suffixes) > 1:
            raise RwkdError(f"study.primary {label(p)}: the records hold {len(suffixes)} term sets with more than "
                            "two terms; a `k` comparison needs one (report one term set with the two-term runs)")
        score, records = {}, {}
        for task in tasks:
            on_task = [r for r in rows if r["task"] == task]
            names = {side: _row_of(on_task, p[side], suffixes[0]) for side in ("scheme", "reference")}
            for r in on_task:
                for side, name in names.items():
                    if name is not None and r["weighting"] == name:
                        score[(task, side, r["seed"])] = 100 * r["best"]["metrics"]["val/headline"]
                        records[(task, side, r["seed"])] = r
        sides = {label(p): ("scheme", "reference")}
        not_pairs = {**pairs_left_out(records, sides), **unscored_pairs(score, sides)}
        left_out.update({(task, records[(task, "scheme", seed)]["weighting"],
                          records[(task, "reference", seed)]["weighting"], seed): reason
                         for (task, _, _, seed), reason in not_pairs.items()})
        found = paired_cells(score, sides, left_out=not_pairs)
        if (label(p), None) in found and {t for t, _, _ in score} == set(tasks):
            cells[label(p)] = found[(label(p), None)]
    return cells, left_out


def primary_cells(results: list[dict], primaries: list[dict]) -> dict[str, object]:
    """{label: Paired} of each primary comparison on the mean over tasks, verified pairs only (_compared)."""
    return _compared(results, primaries)[0]


def primary_table(results: list[dict], primaries: list[dict]) -> str:
    """One row per primary comparison: the paired difference on the mean over tasks, its p-value Holm-adjusted
    over the primary comparisons alone, and the raw p-value."""
    cells, left_out = _compared(results, primaries)
    # the family is the list named before the study ran: a comparison that gave no p-value counts as not rejected
    adjusted = dict(zip(cells, holm([c.p for c in cells.values()], tests=len(primaries)), strict=True))
    rows = [[label(p), cell(cells[label(p)], adjusted[label(p)]) if label(p) in cells else "not run on every task",
             f"{cells[label(p)].p:.3f}" if label(p) in cells and not math.isnan(cells[label(p)].p) else markdown.BLANK]
            for p in primaries]
    table = markdown.table(["primary comparison", f"mean over tasks (Holm over the {len(primaries)} primaries)",
                            "p before Holm"], rows)
    return "\n".join([table, *([""] + left_out_lines(left_out) if left_out else [])])


def seeds_needed(sd: float, level: float) -> int | None:
    """The fewest seeds, at least FEWEST_SEEDS, at which the difference found with 80% power is at most TARGET."""
    needed = seeds_for(TARGET, sd, level)
    return None if needed is None else max(FEWEST_SEEDS, needed)


def primary_power_table(results: list[dict], primaries: list[dict]) -> str | None:
    """Per primary comparison, from the spread of its own per-seed differences on the mean over tasks: the
    smallest difference found with 80% power at the seeds run, alone and at the first Holm rejection among the
    primaries, and the seeds needed for TARGET points in each case."""
    cells = primary_cells(results, primaries)
    strict = LEVEL / max(1, len(primaries))  # the first Holm rejection among all the primaries named
    rows = []
    for name, c in cells.items():
        if c.n < 2 or math.isnan(c.sd) or c.sd < EQUAL:  # differences that do not vary are not tested
            continue
        alone, first = seeds_needed(c.sd, LEVEL), seeds_needed(c.sd, strict)
        rows.append([name, c.n, f"{c.sd:.2f}", f"{detectable(c.sd, c.n, LEVEL):.2f}", f"{detectable(c.sd, c.n, strict):.2f}",
                     alone or "> 1000", first or "> 1000"])
    if not rows:
        return None
    return markdown.table(["primary comparison", "seeds", "sd of the differences", "found with 80% power: alone",
                           f"after Holm over the primaries (p < {LEVEL:g}/{max(1, len(primaries))})",
                           f"seeds needed for {TARGET:g} point: alone", "after Holm"], rows)
