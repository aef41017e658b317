"""`rwkd report PATH...`: the task x scheme table of a sweep, from its results.json files.

Numbers are dev headline metrics x 100, mean +- sample standard deviation over seeds, for the best
epoch (the checkpoint rwkd exports) and, separately, the last epoch. The GLUE average is the mean of a
scheme's task means, given only where the scheme has every task of the table (labelled "mean of N tasks"
unless the table has all nine).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from rwkd.atomic import write_text
from rwkd.errors import RwkdError
from rwkd.resume import NOT_APPLICABLE, RESULTS
from rwkd.tasks import TASKS


def find_results(paths: list[str]) -> tuple[list[dict], list[Path], list[dict]]:
    """The results.json records under `paths`, the folders of failed jobs, and the not_applicable.json
    records of jobs whose combination is undefined."""
    results, failed, not_applicable = [], [], []
    for root in map(Path, paths):
        if not root.exists():
            raise RwkdError(f"{root} does not exist; give run or multirun folders holding results.json files")
        files = [root] if root.is_file() else sorted(root.rglob(RESULTS))
        for f in files:
            record = json.loads(f.read_text())
            record["_path"] = str(f.parent)
            results.append(record)
        if root.is_dir():
            failed += sorted(p.parent for p in root.rglob("failed.json"))
            not_applicable += [json.loads(p.read_text()) for p in sorted(root.rglob(NOT_APPLICABLE))]
    if not results:
        raise RwkdError(f"no results.json under {', '.join(paths)}")
    ran = {(r["task"], r["weighting"]) for r in results}
    return results, failed, [r for r in not_applicable if (r["task"], r["weighting"]) not in ran]


def _stats(values: list[float]) -> dict:
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None}


def summarise(results: list[dict], not_applicable: list[dict] = ()) -> dict:
    """{task: {scheme: {"best": stats, "last": stats, "seeds": [...]}}} plus each task's teacher; a
    combination recorded as not applicable (and never run) is {"not_applicable": reason}."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: {"best": [], "last": [], "seeds": []}))
    teachers: dict = defaultdict(dict)
    for r in results:
        cell = cells[r["task"]][r["weighting"]]
        cell["best"].append(100 * r["best"]["metrics"]["val/headline"])
        cell["last"].append(100 * r["last"]["metrics"]["val/headline"])
        cell["seeds"].append(r["seed"])
        if r.get("teacher"):
            teachers[r["task"]][r["teacher"]["path"]] = 100 * r["teacher"]["dev_metrics"]["val/headline"]
    table = {task: {scheme: {"best": _stats(c["best"]), "last": _stats(c["last"]), "seeds": sorted(c["seeds"])}
                    for scheme, c in sorted(schemes.items())} for task, schemes in sorted(cells.items())}
    teacher = {task: statistics.fmean(v.values()) for task, v in teachers.items()}
    majority = {task: majority_headline(task, [r for r in results if r["task"] == task]) for task in cells}
    for task, choice in choose_fixed_alpha(results).items():
        table[task][TUNED] = {**table[task][choice["scheme"]], "chosen": choice}
    for record in not_applicable:
        table.setdefault(record["task"], {}).setdefault(record["weighting"], {"not_applicable": record["reason"]})
    return {"table": table, "teacher": teacher, "majority": majority}


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


TUNED = "fixed, alpha chosen on meta split"


def choose_fixed_alpha(results: list[dict]) -> dict[str, dict]:
    """Per task, the fixed alpha with the best meta-split headline (mean over seeds of each run's best
    epoch on the meta split): alpha is chosen on held-out train rows, never on dev.

    Only runs that scored the meta split (data.eval_meta_split=true) take part.
    """
    scores: dict = defaultdict(lambda: defaultdict(list))
    for r in results:
        meta = [h["meta/headline"] for h in r.get("history", []) if "meta/headline" in h]
        if r["weighting"].startswith("fixed(") and meta:
            scores[r["task"]][r["weighting"]].append(max(meta))
    chosen = {}
    for task, by_scheme in scores.items():
        if len(by_scheme) < 2:
            continue  # nothing to choose between
        scheme = max(by_scheme, key=lambda k: statistics.fmean(by_scheme[k]))
        chosen[task] = {"scheme": scheme, "meta_headline": 100 * statistics.fmean(by_scheme[scheme]),
                        "candidates": sorted(by_scheme)}
    return chosen


NA = "n/a"
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
    return "GLUE avg" if set(TASKS) <= set(tasks) else f"mean of {len(tasks)} tasks"


def _rows(summary: dict, which: str) -> tuple[list[str], list[list[str]]]:
    tasks = list(summary["table"])
    schemes = sorted({s for t in tasks for s in summary["table"][t]})
    header = ["scheme", *tasks, average_label(tasks)]
    rows = []
    if summary["teacher"]:
        values = [summary["teacher"].get(t) for t in tasks]
        avg = statistics.fmean(values) if all(v is not None for v in values) else None
        rows.append(["teacher", *["" if v is None else f"{v:.2f}" for v in values], "" if avg is None else f"{avg:.2f}"])
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
    for which, title in (("best", "best epoch (the exported checkpoint)"), ("last", "last epoch")):
        header, rows = _rows(summary, which)
        out.write(f"### Dev headline x 100, {title}: mean ± std over seeds\n\n")
        out.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
        for row in rows:
            out.write("| " + " | ".join(row) + " |\n")
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


def _write_doc(args, results: list[dict], not_applicable: list[dict], table_markdown: str,
               argv: list[str] | None, plots: list[Path] | None) -> Path:
    import shlex

    from rwkd.report_doc import study_document
    from rwkd.sweep_plan import read_plan

    doc = Path(args.doc)
    if plots is None:  # --no-plots: link those an earlier call drew
        plots = sorted((Path(args.plots_dir) if args.plots_dir else doc.parent).glob("weights_*.png"))
    if args.reading and not Path(args.reading).is_file():
        raise RwkdError(f"--reading {args.reading} does not exist; give the Markdown file with the reading")
    reading = Path(args.reading).read_text() if args.reading else None
    command = shlex.join(["rwkd", "report", *(sys.argv[2:] if argv is None else argv)])
    plans = [plan for plan in map(read_plan, args.paths) if plan is not None]
    write_text(doc, study_document(results, not_applicable, table_markdown, doc, command, plots, reading,
                                   args.title, plans))
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rwkd report", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="run or multirun folders (searched for results.json)")
    parser.add_argument("--out", help="folder for report.md, report.csv and plots (default: the first path)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--doc", help="also write a results page (commands, machines, table, timings, plots)")
    parser.add_argument("--plots-dir", help="--doc links the weights_*.png found here (default: beside --doc)")
    parser.add_argument("--reading", help="--doc takes its 'Reading' section from this Markdown file")
    parser.add_argument("--title", default="Results", help="--doc's title")
    args = parser.parse_args(argv)
    results, failed, not_applicable = find_results(args.paths)
    summary = summarise(results, not_applicable)
    out = Path(args.out or args.paths[0])
    text = markdown(summary, failed)
    print(text)
    write_text(out / "report.md", text)
    write_csv(summary, out / "report.csv")
    written = [out / "report.md", out / "report.csv"]
    plots = None
    if not args.no_plots:
        from rwkd.report_plots import plot_weights

        plots = plot_weights(results, out)
        written += plots
    if args.doc:
        written.append(_write_doc(args, results, not_applicable, text, argv, plots))
    print("rwkd: wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return 0
