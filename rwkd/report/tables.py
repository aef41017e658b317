"""A report's tables: Markdown (at the chosen epoch, rwkd/records/epochs.py, and the last epoch) and CSV, from a summary (report/summary.py)."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from rwkd.atomic import write_text
from rwkd.markdown import table as markdown_table
from rwkd.records.epochs import caption
from rwkd.report.summary import NA
from rwkd.tasks import TASKS

MAJORITY = "majority answer"


def _fmt(stats: dict | None, note: str = "") -> str:
    if stats is None:
        return ""
    if stats == NA:
        return NA
    std = "" if stats["std"] is None else f" ± {stats['std']:.2f}"
    return f"{stats['mean']:.2f}{std} (n={stats['n']}{note})"


def average_label(tasks: list[str]) -> str:
    """The GLUE average is over all nine tasks; over fewer it is only the mean of those (docs/method.md §5)."""
    return "GLUE avg" if set(TASKS) <= set(tasks) else f"mean of {len(tasks)} task{'' if len(tasks) == 1 else 's'}"


def _rows(summary: dict, which: str) -> tuple[list[str], list[list[str]]]:
    tasks = list(summary["table"])
    schemes = sorted({s for t in tasks for s in summary["table"][t]})
    header = ["scheme", *tasks, average_label(tasks)]
    rows = []
    teachers = [("teacher", summary["teacher"])]
    teachers += [(f"teacher {i + 2} (kd.teachers[{i}])", more) for i, more in enumerate(summary.get("more_teachers", []))]
    for label, by_task in teachers:
        if not by_task:
            continue
        values = [by_task.get(t) for t in tasks]
        avg = statistics.fmean(values) if all(v is not None for v in values) else None
        rows.append([label, *["" if v is None else f"{v:.2f}" for v in values], "" if avg is None else f"{avg:.2f}"])
    majority = [summary.get("majority", {}).get(t, NA) for t in tasks]
    avg = statistics.fmean(majority) if all(isinstance(v, float) for v in majority) else None
    rows.append([MAJORITY, *[v if isinstance(v, str) else f"{v:.2f}" for v in majority],
                 "" if avg is None else f"{avg:.2f}"])
    for scheme in schemes:
        entries = [summary["table"][t].get(scheme, {}) for t in tasks]
        cells = [NA if "not_applicable" in e else e.get(which) for e in entries]
        notes = [f", {e['chosen']['scheme']}" if "chosen" in e else "" for e in entries]
        avg = statistics.fmean(c["mean"] for c in cells) if all(isinstance(c, dict) for c in cells) else None
        rows.append([scheme, *[_fmt(c, n) for c, n in zip(cells, notes, strict=True)], "" if avg is None else f"{avg:.2f}"])
    return header, rows


def markdown(summary: dict, failed: list[Path]) -> str:
    out = io.StringIO()
    chosen = caption(summary.get("select_on", "record"))
    for which, title in (("best", chosen), ("last", "last epoch")):
        header, rows = _rows(summary, which)
        out.write(f"### Dev headline x 100, {title}: mean ± std over seeds\n\n")
        out.write(markdown_table(header, rows) + "\n")
        out.write("\n")
    repeated = [f"{task}/{scheme}" for task, schemes in summary["table"].items() for scheme, c in schemes.items()
                if "seeds" in c and len(set(c["seeds"])) < len(c["seeds"])]
    if repeated:
        out.write(f"Warning: a seed appears twice in {', '.join(repeated)}: those cells mix runs of different configs.\n")
    undefined = sorted({(scheme, task, c["not_applicable"]) for task, schemes in summary["table"].items()
                        for scheme, c in schemes.items() if "not_applicable" in c})
    for scheme, task, reason in undefined:
        out.write(f"n/a: {scheme} on {task}, not run: {reason}\n")
    if failed:
        out.write(f"Failed jobs, not in the table: {', '.join(str(p) for p in failed)}\n")
    return out.getvalue()


def write_csv(summary: dict, path: Path) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["task", "scheme", "epoch", "n", "mean", "std", "seeds"])
    for task, teacher in summary["teacher"].items():
        writer.writerow([task, "teacher", "best", 1, f"{teacher:.4f}", "", ""])
    for task, value in summary.get("majority", {}).items():
        writer.writerow([task, MAJORITY, NA if isinstance(value, str) else "dev", 1,
                         "" if isinstance(value, str) else f"{value:.4f}", "", ""])
    for task, schemes in summary["table"].items():
        for scheme, cell in schemes.items():
            if "not_applicable" in cell:
                writer.writerow([task, scheme, NA, 0, "", "", ""])
                continue
            for which in ("best", "last"):
                s = cell[which]
                writer.writerow([task, scheme, which, s["n"], f"{s['mean']:.4f}",
                                 "" if s["std"] is None else f"{s['std']:.4f}", " ".join(map(str, cell["seeds"]))])
    write_text(path, buf.getvalue())


