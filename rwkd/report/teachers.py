"""Which teachers a study's runs distilled, from their results.json: per task and teacher position, each
distinct set of weights (by SHA-256) with its scores and how many runs used it.

A fine-tuned teacher lives in a cache that a fresh machine does not have, so a study run over several
machines fine-tunes it again. Its folder name comes from its settings and is the same each time; only the
weights' hash tells whether the new one is the same teacher. Where a task's runs distilled two different
teachers, a difference between schemes can be the teachers' difference: the page says so, and says apart
the milder case of a rebuild on another kind of CPU that kept the same epoch and scores
(`teacher.accept_rebuild=same_scores`): the same training, rounded differently.
"""

from __future__ import annotations

from collections import defaultdict

from rwkd import markdown
from rwkd.records.format import same_scores, teacher_identity


def _role(position: int) -> str:
    return "teacher" if position == 0 else f"teacher {position + 1} (kd.teachers[{position - 1}])"


def _headline(metrics: dict, split: str) -> str:
    value = (metrics or {}).get(f"{split}/headline")
    return "" if value is None else f"{100 * value:.2f}"


def teacher_key(teacher: dict) -> str:
    """A teacher's key in the report: its bits where recorded (a teacher fine-tuned again on another machine
    keeps its folder's name but not its weights), else its folder."""
    found = teacher_identity(teacher)
    return found.weights or found.settings


def teachers_by_task(results: list[dict]) -> dict:
    """{(task, position): {identity: {"record": teacher record, "runs": n}}}, identity the weights' SHA-256
    where the record has one, else the teacher's path."""
    found: dict = defaultdict(dict)
    for r in results:
        for position, t in enumerate([r.get("teacher"), *(r.get("more_teachers") or [])]):
            if not t:
                continue
            entry = found[(r["task"], position)].setdefault(teacher_key(t), {"record": t, "runs": 0, "cpus": set()})
            entry["runs"] += 1
            entry["cpus"].add((r.get("hardware") or {}).get("cpu") or "an unrecorded CPU")
    return found


def teachers_table(results: list[dict]) -> str | None:
    """Markdown: a row per distinct teacher, and a warning under the table for each task whose runs distilled
    more than one teacher in the same position; None where no run recorded a teacher."""
    found = teachers_by_task(results)
    if not found:
        return None
    lines = markdown.table_lines(["task", "teacher", "weights (SHA-256, first 12)", "dev headline", "meta headline",
                                  "fine-tuning, CPU-min", "runs"])
    mixed, rebuilt = [], []
    for (task, position), versions in sorted(found.items()):
        for entry in versions.values():
            t = entry["record"]
            sha = (t.get("weights_sha256") or "not recorded")[:12]
            cost = t.get("fine_tune_cpu_seconds")
            lines.append(markdown.row([task, _role(position), sha, _headline(t.get("dev_metrics"), "val"),
                                       _headline(t.get("dev_metrics"), "meta"), "" if cost is None else f"{cost / 60:.1f}",
                                       entry["runs"]]))
        first, *others = (entry["record"] for entry in versions.values())
        if others and all(same_scores(first, other) for other in others):
            builds = "; ".join(f"{(sha or '')[:12]} on {', '.join(sorted(e['cpus']))}, {e['runs']} runs"
                               for sha, e in versions.items())
            rebuilt.append(f"{task} ({_role(position)}: {builds})")
        elif others:
            mixed.append(f"{task} ({_role(position)}: {len(versions)} different weights)")
    if rebuilt:
        lines.append(f"\n**Rebuilt teachers**: the runs of {'; and '.join(rebuilt)} distilled builds of one teacher "
                     "fine-tuned with the same settings on different kinds of CPU, which round differently; every "
                     "build kept the same epoch with the same dev and meta scores, so they differ in rounding, but a "
                     "difference between schemes can still be partly the builds' difference.")
    if mixed:
        lines.append(f"\n**Mixed teachers**: the runs of {', '.join(mixed)} did not all distil the same teacher; "
                     "a difference between their schemes can be the teachers' difference.")
    if not mixed and not rebuilt:
        lines.append("\nEvery task's runs distilled one teacher in each position (the same weights, by their hash).")
    return "\n".join(lines)
