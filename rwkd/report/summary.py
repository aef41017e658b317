"""The numbers of a report: every run's record found, grouped by task and scheme, with per-cell statistics
over seeds, the majority answer per task, and each family's variant chosen on the meta split (report/tuning.py)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path

from rwkd.records.epochs import select_on_of
from rwkd.report.teachers import teacher_key
from rwkd.study.tuning import choose_variants
from rwkd.tasks import TASKS

NA = "n/a"  # a cell with no defined value (the majority answer of a regression task)


def _stats(values: list[float]) -> dict:
    # a run that collapsed may score NaN (a constant prediction's Pearson): the cell says nan, the report goes on
    spread = (statistics.stdev(values) if all(map(math.isfinite, values)) else math.nan) if len(values) > 1 else None
    return {"n": len(values), "mean": statistics.fmean(values), "std": spread}


def summarise(results: list[dict], not_applicable: list[dict] = ()) -> dict:
    """{task: {scheme: {"best": stats, "last": stats, "seeds": [...]}}} plus each task's teacher (and those
    of kd.teachers, by position) and what chose the "best" epoch (`select_on`, rwkd/records/epochs.py); a combination recorded as not applicable (and never run) is
    {"not_applicable": reason}."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: {"best": [], "last": [], "seeds": []}))
    teachers: dict = defaultdict(dict)
    further: dict = defaultdict(lambda: defaultdict(dict))
    for r in results:
        cell = cells[r["task"]][r["weighting"]]
        cell["best"].append(100 * r["best"]["metrics"]["val/headline"])
        cell["last"].append(100 * r["last"]["metrics"]["val/headline"])
        cell["seeds"].append(r["seed"])
        if r.get("teacher"):
            teachers[r["task"]][teacher_key(r["teacher"])] = 100 * r["teacher"]["dev_metrics"]["val/headline"]
        for i, more in enumerate(r.get("more_teachers") or []):  # kd.teachers: a row each, by position
            further[i][r["task"]][teacher_key(more)] = 100 * more["dev_metrics"]["val/headline"]
    table = {task: {scheme: {"best": _stats(c["best"]), "last": _stats(c["last"]), "seeds": sorted(c["seeds"])}
                    for scheme, c in sorted(schemes.items())} for task, schemes in sorted(cells.items())}
    teacher = {task: statistics.fmean(v.values()) for task, v in teachers.items()}
    majority = {task: majority_headline(task, [r for r in results if r["task"] == task]) for task in cells}
    for task, rows in choose_variants(results).items():
        for row, choice in rows.items():
            table[task][row] = {**table[task][choice["scheme"]], "chosen": choice}
    for record in not_applicable:
        table.setdefault(record["task"], {}).setdefault(record["weighting"], {"not_applicable": record["reason"]})
    more = [{task: statistics.fmean(v.values()) for task, v in further[i].items()} for i in sorted(further)]
    return {"table": table, "teacher": teacher, "more_teachers": more, "majority": majority,
            "select_on": select_on_of(results) or "record"}


def majority_headline(task: str, records: list[dict]) -> float | str:
    """The majority answer's dev headline x 100 for `task`: from the runs' records, or (records written
    before rwkd kept it) from the dev labels of the data folder the runs name, else of the default one;
    NA where undefined (regression) or where no dev labels can be read."""
    from rwkd.baselines import majority_metrics
    from rwkd.data.sources import GlueSource, default_glue_dir

    stored = [r["majority"]["val/headline"] for r in records if r.get("majority")]
    if stored:
        value = stored[0]
    else:
        spec = TASKS[task]
        dirs = [d for d in (*(r.get("data", {}).get("dir") for r in records), default_glue_dir()) if d]
        readable = next((d for d in dirs if Path(d, spec.folder, f"{spec.dev_splits[0]}.tsv").is_file()), None)
        if readable is None:
            return NA
        labels = [e.label for e in GlueSource(spec, readable).read(spec.dev_splits[0])]
        value = majority_metrics(spec, labels)["headline"]
    return NA if value is None else 100 * value
