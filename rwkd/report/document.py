"""A study's results page (e.g. docs/results.md), written by `rwkd report ... --doc FILE`.

Everything on it is read from the results.json files (and, for its progress line, the sweep's
multirun.yaml): the commands that made them, the machines and package versions, the table (the same
text `rwkd report` prints), wall time per scheme, and links to the weight plots. The one part that cannot be generated, the reading of the results, comes from a
file the author writes (`--reading`).
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from pathlib import Path

from rwkd import markdown
from rwkd.records.epochs import caption, select_on_of
from rwkd.records.sweep_plan import SweepPlan
from rwkd.records.weight_summary import mean_std
from rwkd.report.cost import cost_table
from rwkd.report.noise import label_noise_section
from rwkd.report.paired_tables import more_terms_table, paired_table
from rwkd.report.power import power_table
from rwkd.report.primary import primary_power_table, primary_table, read_primaries
from rwkd.report.teachers import teachers_table
from rwkd.report.weight_summary import by_task_and_scheme, floors_by_task_and_scheme, terms_by_task_and_scheme
from rwkd.study.tuning import TUNED, choose_variants


def _unique(values) -> list:
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def _train_minutes(timing: dict) -> float | None:
    """Steps x median step time: unlike the wall clock, it is not inflated by a job being paused or
    split over several processes by a resume (fit_seconds only covers the last process)."""
    if timing.get("median_step_seconds") is not None and timing.get("steps"):
        return timing["median_step_seconds"] * timing["steps"] / 60
    if timing.get("fit_seconds") is not None:
        return timing["fit_seconds"] / 60
    return None


def _timing_table(results: list[dict]) -> str:
    minutes: dict = defaultdict(lambda: defaultdict(list))
    step_seconds: dict = defaultdict(lambda: defaultdict(list))
    for r in results:
        timing = r.get("timing") or {}
        if (m := _train_minutes(timing)) is not None:
            minutes[r["weighting"]][r["task"]].append(m)
        if timing.get("median_step_seconds"):
            step_seconds[r["weighting"]][r["task"]].append(timing["median_step_seconds"])
    tasks = sorted({t for by_task in minutes.values() for t in by_task})
    lines = markdown.table_lines(["scheme", *tasks])
    for scheme in sorted(minutes):
        row = []
        for task in tasks:
            runs = minutes[scheme].get(task, [])
            if not runs:
                row.append("")
                continue
            cell = f"{statistics.fmean(runs):.1f} min"
            ours, base = step_seconds[scheme].get(task), step_seconds["none"].get(task)
            if ours and base:
                cell += f", step {statistics.fmean(ours) / statistics.fmean(base):.2f}x none"
            row.append(f"{cell} (n={len(runs)})")
        lines.append(markdown.row([scheme, *row]))
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> str | None:
    """A Markdown table of `rows` (cells), or None when there are none."""
    return markdown.table(header, rows) if rows else None


def choices_table(results: list[dict]) -> str | None:
    """Which variant each family got on each task, on what meta score and seeds, out of which."""
    rows = []
    for task, chosen in sorted(choose_variants(results).items()):
        for row, c in chosen.items():
            others = ", ".join(s for s in c["candidates"] if s != c["scheme"])
            rows.append([task, row, c["scheme"], f"{c['meta_headline']:.2f}", ",".join(map(str, c["seeds"])), others])
    return _table(["task", "row", "variant chosen", "its meta headline", "seeds compared", "other variants"], rows)


def _coverage(results: list[dict], undefined: set, seeds_planned: int | None = None) -> str:
    """Whether every task x scheme cell has as many seeds as the fullest one (or as the study plans, where
    it says), and which do not: a page generated mid-study says so on its first screen. Cells recorded as not applicable are named apart, and so
    are the variants a family did not choose, which a study runs on its tuning seeds only."""
    seeds: dict = defaultdict(set)
    for r in results:
        seeds[(r["task"], r["weighting"])].add(r["seed"])
    tasks = sorted({t for t, _ in seeds} | {t for t, _ in undefined})
    schemes = sorted({s for _, s in seeds} | {s for _, s in undefined})
    most = max(max(len(v) for v in seeds.values()), seeds_planned or 0)
    tuning = {(task, s): c["seeds"] for task, rows in choose_variants(results).items() for c in rows.values()
              for s in c["candidates"] if s != c["scheme"]}
    short = [f"{s} on {t} (n={len(seeds.get((t, s), ()))})" for t in tasks for s in schemes
             if (t, s) not in undefined and len(seeds.get((t, s), ())) < (len(tuning[(t, s)]) if (t, s) in tuning else most)]
    total = len(tasks) * len(schemes) - len(undefined)
    present = f"(the {markdown.count(len(tasks), 'task')} and {markdown.count(len(schemes), 'scheme')} found: {', '.join(tasks)})"
    na = "; ".join(f"{s} on {t}" for t, s in sorted(undefined))
    na = f" Not applicable, so not run: {na} (see the note under the table)." if undefined else ""
    unchosen = [key for key in tuning if len(seeds.get(key, ())) < most]
    if unchosen:
        na += (f" {markdown.count(len(unchosen), 'variant')} not chosen on the meta split ran on the tuning seeds only "
               "(see Variants chosen on the meta split).")
    if not short:
        have = f"have {most} seeds" + (" (the variants not chosen: their tuning seeds)" if unchosen else "")
        return f"Complete: all {total} defined task x scheme cells {present} {have}.{na}"
    shown = "; ".join(short[:12]) + (f"; and {len(short) - 12} more" if len(short) > 12 else "")
    return (f"Incomplete: {total - len(short)} of {total} defined task x scheme cells {present} have {most} "
            f"seeds; short or empty: {shown}.{na}")


def _hardware(record: dict) -> str:
    h = record["hardware"]
    parts = [h.get("cpu"), f"{h['cpu_count']} CPU cores" if h.get("cpu_count") else None,
             f"torch threads {h['torch_threads']}" if h.get("torch_threads") else None,
             *(f"{k} {v}" for k, v in sorted(h.items()) if k not in {"cpu", "cpu_count", "torch_threads"})]
    return ", ".join(str(p) for p in parts if p)


def _weights_table(results: list[dict]) -> str:
    """Per task and per-sample scheme: the mean weight of the teacher term, overall and split by whether
    the teacher was right, from the runs' weight summaries."""
    lines = markdown.table_lines(["task", "scheme", "runs", "mean w ± std over samples", "mean w, teacher right",
                                  "mean w, teacher wrong", "rows with teacher wrong"])
    for task, schemes in by_task_and_scheme(results).items():
        for scheme, (s, runs) in schemes.items():
            (mean,), (std,) = mean_std({k: [sum(v)] for k, v in s["per_epoch"].items() if k != "epoch"})
            (right,), _ = mean_std(s["by_teacher_correct"]["right"])
            (wrong,), _ = mean_std(s["by_teacher_correct"]["wrong"])
            n_wrong, n_right = s["by_teacher_correct"]["wrong"]["rows"][0], s["by_teacher_correct"]["right"]["rows"][0]
            share = n_wrong / max(1, n_wrong + n_right)
            lines.append(markdown.row([task, scheme, runs, f"{mean:.3f} ± {std:.3f}", f"{right:.3f}", f"{wrong:.3f}",
                                       f"{100 * share:.1f}%"]))
    return "\n".join(lines) if len(lines) > 2 else "No weight summaries were found beside the results."


def _terms_table(results: list[dict]) -> str | None:
    """Per task and scheme with more than two terms: each term's mean weight ± std over samples."""
    lines = []
    for task, schemes in terms_by_task_and_scheme(results).items():
        for scheme, (s, runs) in schemes.items():
            cells = []
            for term, summary in s["terms"].items():
                (mean,), (std,) = mean_std({k: [sum(v)] for k, v in summary["per_epoch"].items()})
                cells.append(f"{term} {mean:.3f} ± {std:.3f}")
            lines.append([task, scheme, runs, "; ".join(cells)])
    return _table(["task", "scheme", "runs", "mean weight ± std over samples, per term"], lines)


def _floor_table(results: list[dict]) -> str | None:
    """Per task and RW-KD scheme: the share of sample weights set by the scores, by the delta floor alone
    (every score floored: uniform weights, 0.5 with two terms) and by both (some scores floored: those
    terms get almost nothing; with two terms a weight of 0 or 1)."""
    lines = []
    for task, schemes in floors_by_task_and_scheme(results).items():
        for scheme, (s, runs) in schemes.items():
            counts = s["floored_terms"]
            total = max(1, sum(counts))
            some = sum(counts[1:-1])
            lines.append([task, scheme, runs, f"{100 * counts[0] / total:.1f}%", f"{100 * some / total:.1f}%",
                          f"{100 * counts[-1] / total:.1f}%"])
    return _table(["task", "scheme", "runs", "no score floored", "some floored", "all floored (uniform)"], lines)


def study_document(results: list[dict], not_applicable: list[dict], table_markdown: str, doc_path: Path,
                   report_command: str, plots: list[Path], reading: str | None, title: str,
                   plans: list[SweepPlan] = (), seeds_planned: int | None = None, noisy: list[dict] = ()) -> str:
    undefined = {(r["task"], r["weighting"]) for r in not_applicable}
    out = _provenance_section(results, undefined, report_command, title, plans, seeds_planned)
    chosen = caption(select_on_of(results) or "record")
    out += ["## Results", "", f"Every table on this page reads each run at one epoch, the {chosen}.", "",
            table_markdown.rstrip(), ""]
    out += _comparison_sections(results, undefined, chosen)
    out += _cost_sections(results)
    out += _weight_sections(results, plots, doc_path)
    out += label_noise_section(results, noisy)
    out += ["", "## Reading", "", reading.strip() if reading else "Not written yet.", ""]
    return "\n".join(out)


def _provenance_section(results: list[dict], undefined: set, report_command: str, title: str,
                        plans: list[SweepPlan], seeds_planned: int | None) -> list[str]:
    """The page's first screen: how it was made, how complete the study is, its commands, machines and software."""
    commands = _unique(r.get("command", "") for r in results)
    hardware = _unique(_hardware(r) for r in results if r.get("hardware"))
    versions = _unique(tuple(sorted((r.get("versions") or {}).items())) for r in results)
    commits = _unique(r.get("git_commit", "unknown") for r in results)
    out = [f"# {title}", "",
           f"Generated by `{report_command}` from {len(results)} results.json files. "
           "Edit the reading file, not this page.", "", _coverage(results, undefined, seeds_planned), ""]
    recorded_tasks = {r["task"] for r in results} | {t for t, _ in undefined}
    out += [line for plan in plans for line in (plan.describe(recorded_tasks), "")]
    out += ["## Commands", "", "The commands recorded in the results (one per job or sweep):", "", "```bash",
            *commands, "```", ""]
    out += ["## Machines and software", ""]
    out += [f"- hardware: {h}" for h in hardware] or ["- hardware: not recorded"]
    for v in versions:
        out.append("- versions: " + ", ".join(f"{k} {val}" for k, val in v))
    out += [f"- git commits: {', '.join(commits)}", ""]
    return out


def _comparison_sections(results: list[dict], undefined: set, chosen: str) -> list[str]:
    out = []
    primaries = read_primaries(results)
    # with comparisons named before the study ran, every other table is a search among many: it says so
    exploratory = ("**Exploratory** (not among the primary comparisons; its Holm correction is over this table "
                   "alone). ") if primaries else ""
    if (teachers := teachers_table(results)) is not None:
        out += ["## Teachers", "", "The teachers the runs distilled, each set of weights once:", "", teachers, ""]
    if (choices := choices_table(results)) is not None:
        out += ["## Variants chosen on the meta split", "",
                "Each family with several variants is one row in the comparisons below: per task, the variant with "
                "the best mean meta-split headline (held-out train rows; dev never chooses), over the seeds all its "
                "variants share:", "", choices, ""]
    if primaries:
        out += ["## Primary comparisons", "",
                "The comparisons the study named before it ran (`study.primary` in its config), on the mean over "
                f"tasks (per seed, over the seeds with every task), dev headline x 100 at the {chosen}: the mean "
                "difference, its 95% interval, the seeds above, and the paired t-test's p-value Holm-adjusted over "
                "these comparisons alone (all of them: one not run on every task counts as a test not rejected):",
                "", primary_table(results, primaries), ""]
    out += ["## Differences paired by seed", "",
            exploratory + "Each scheme minus a reference on the same task and seed (the same student start and batch "
            f"order), dev headline x 100 at the {chosen}: the mean difference over seeds, its 95% interval "
            "(Student's t), on how many seeds the scheme scored above the reference, and the paired t-test's "
            "p-value, Holm-adjusted over every comparison in the table (none where the differences are all equal). "
            "The mean over tasks is taken per seed "
            "(seeds with every task). Against the fixed alpha chosen on the meta split (per task):", "", paired_table(results, TUNED, undefined), "",
            "Against `none` (no teacher term):", "", paired_table(results, "none", undefined), ""]
    if (more := more_terms_table(results)) is not None:
        out += [exploratory + "More terms against two: each scheme run with more than two terms minus the same scheme with two, "
                "on the same task and seed, in the same form; a scheme whose form with more terms has a label of its "
                "own (metanet's reads each term's loss) against its kind's two-term row chosen on the meta split:", "", more, ""]
    if (power := power_table(results, TUNED, undefined)) is not None:
        out += [exploratory + "How large a difference these comparisons could find: the standard deviation of the per-seed "
                "differences against the tuned fixed alpha, pooled over its table's schemes; from it, the smallest "
                "true difference the paired t-test finds with 80% probability over the seeds, for one comparison "
                "alone (p < 0.05) and for the first that Holm rejects among the table's tests (the spread taken "
                "as known); and the seeds a difference of one point would need in each case:", "", power, ""]
    if primaries and (power := primary_power_table(results, primaries)) is not None:
        out += ["The primary comparisons, each from the spread of its own per-seed differences on the mean over tasks "
                "(estimated from the seeds run and taken as known, so itself uncertain at five seeds): the smallest "
                "true difference found with 80% probability at the seeds run, alone and for the first that Holm "
                "rejects among the primaries, and the seeds (at least 5) at which that is one point or less:", "",
                power, ""]
    return out


def _cost_sections(results: list[dict]) -> list[str]:
    out = []
    out += ["## Wall time per scheme", "",
            "Mean training time of the student per job, as steps x median step time (validation and the "
            "teacher's fine-tuning, shared by all jobs of a task, not included), and the median step time "
            "relative to `none` on the same task:", "", _timing_table(results), ""]
    if (cost := cost_table(results)) is not None:
        out += ["CPU time per scheme, all its runs together (the process's CPU time over every core, validation "
                "included; the teacher stage, done by a task's first run for all, in a row of its own where the "
                "runs timed it apart):", "", cost, ""]
    return out


def _weight_sections(results: list[dict], plots: list[Path], doc_path: Path) -> list[str]:
    out = []
    out += ["## Learned weights", "",
            "The schemes whose weight of the teacher term differs between the samples of a step (heuristic "
            "and meta-learned; fixed and annealed weights follow their formula), from the weight summaries "
            "committed beside the results (every sample of every epoch and seed):", "", _weights_table(results), ""]
    if (terms := _terms_table(results)) is not None:
        out += ["Runs with more than two terms (label, kd, further teachers kdN, hidden-state terms hiddenN): the "
                "weight of each term; under `weight` above, the teacher side's share (every term but the label).",
                "", terms, ""]
    if (floors := _floor_table(results)) is not None:
        out += ["What RW-KD's weights are made of: a sample's weights come from its K meta scores u, each floored at "
                "δ before they are normalised. Where every score is at or below δ the floor alone decides (uniform "
                "weights, 0.5 with two terms); where some are, those terms get almost nothing (with two terms a "
                "weight of 0 or 1); otherwise the scores set the weights. Share of (sample, epoch) rows:", "", floors, ""]
    if plots:
        out += [f"![{p.stem}]({Path(os.path.relpath(p.resolve(), doc_path.resolve().parent)).as_posix()})"
                for p in plots]
    else:
        out.append("No weight plots were found.")
    return out
