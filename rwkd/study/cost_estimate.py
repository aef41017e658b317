"""What a study run in parts has left to spend: the CPU-hours of the rows it has not run, estimated from runs that
were measured, never from a guess.

A row's cost is the mean `cpu_seconds` of its weighting config's runs on the same task in this study. A task or
config this study has not run yet takes its cost from an earlier study's records of the same term set (`prior`),
scaled by how much this study's runs cost against that study's on the rows both ran. A later seed whose rows are not
chosen yet (rwkd/study/tuning.py) runs one variant per family and every weighting outside a family: a family's row
costs the mean of its variants. A row with neither source stays unestimated and is counted as such.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

Cells = dict[tuple[str, str], float]  # (task, weighting config) -> mean CPU-hours of one run


def cell_costs(results: list[dict]) -> Cells:
    """The mean CPU-hours of one run per task and weighting config, over the records that measured it. The teacher
    stage a run timed apart is left out (rwkd/report/cost.py): the first run of a task fills the caches the others
    read, so a run still to come will not pay it again."""
    hours: dict = defaultdict(list)
    for r in results:
        timing = r.get("timing") or {}
        config, seconds = (r.get("choices") or {}).get("weighting"), timing.get("cpu_seconds")
        if config and seconds:
            hours[(r["task"], config)].append((seconds - (timing.get("teacher_stage_cpu_seconds") or 0)) / 3600)
    return {cell: statistics.fmean(values) for cell, values in hours.items()}


def prior_scale(cells: Cells, prior: Cells) -> float | None:
    """This study's cost over the earlier study's, on the cells both measured (None: no cell in common)."""
    common = sorted(set(cells) & set(prior))
    if not common:
        return None
    return sum(cells[c] for c in common) / sum(prior[c] for c in common)


def run_cost(task: str, config: str, cells: Cells, prior: Cells, scale: float | None) -> float | None:
    """One run's CPU-hours: measured here, else the earlier study's scaled, else None."""
    if (task, config) in cells:
        return cells[(task, config)]
    if scale is not None and (task, config) in prior:
        return prior[(task, config)] * scale
    return None


def later_rows(planned: list[str], families: dict[str, list[str]]) -> list[list[str]]:
    """The rows a later seed runs before its choices are known: each family in `planned` as the list of its
    variants (one of them will run), every other weighting config alone."""
    rows, seen = [], set()
    for config in planned:
        family = next((name for name, members in families.items() if config in members), None)
        if family is None:
            rows.append([config])
        elif family not in seen:
            seen.add(family)
            rows.append([c for c in planned if c in families[family]])
    return rows


def unit_estimate(task: str, left: list[str] | None, planned: list[str], families: dict[str, list[str]],
                  cells: Cells, prior: Cells, scale: float | None) -> tuple[float, int]:
    """(CPU-hours, rows without an estimate) of what a unit has left: its rows left, or, where they are not
    known yet (left None), the later-seed rows of the plan."""
    rows = [[config] for config in left] if left is not None else later_rows(planned, families)
    hours, unknown = 0.0, 0
    for variants in rows:
        costs = [run_cost(task, config, cells, prior, scale) for config in variants]
        known = [c for c in costs if c is not None]
        if known:
            hours += statistics.fmean(known)
        else:
            unknown += 1
    return hours, unknown


def models_fine_tuned_apart(results: list[dict]) -> float:
    """CPU-hours of the teachers and student sources the runs used but did not fine-tune themselves (a command
    before them did: `rwkd teacher`, the committed MPNet outputs' own fine-tuning), each build counted once by the
    SHA-256 of its weights, from the cost its record carries. A run that fine-tuned a model counts it in its own
    `cpu_seconds` already."""
    costs: dict[str, float] = {}
    in_a_run: set[str] = set()
    for r in results:
        models = [r.get("teacher") or {}, *(r.get("more_teachers") or []), (r.get("student") or {}).get("source") or {}]
        for model in models:
            if not (digest := model.get("weights_sha256")):
                continue
            if model.get("origin") == "fine-tuned":
                in_a_run.add(digest)
            elif model.get("fine_tune_cpu_seconds"):
                costs.setdefault(digest, model["fine_tune_cpu_seconds"] / 3600)
    return sum(hours for digest, hours in costs.items() if digest not in in_a_run)
