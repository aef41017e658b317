"""What a study cost, in CPU-hours, from its runs' results.json: per scheme, the teacher stage apart, in all.

A run's `timing.cpu_seconds` covers every process that ran it. Whichever run of a task comes first fine-tunes
the task's teachers and fills their logit and hidden-state caches for all the others; runs record that part as
`timing.teacher_stage_cpu_seconds`, and the table charges it to the teacher stage, not to that run's scheme.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from rwkd import markdown


def _did_teacher_stage(record: dict) -> bool:
    teachers = [record.get("teacher") or {}, *(record.get("more_teachers") or [])]
    return any(t.get("origin") == "fine-tuned" for t in teachers)


def _teachers_fine_tuning(results: list[dict]) -> str | None:
    """Each teacher the runs used, counted once (by its weights' hash), with the fine-tuning cost its own
    record gives, whichever run or earlier command fine-tuned it."""
    teachers: dict[str, dict] = {}
    for r in results:
        for t in [r.get("teacher") or {}, *(r.get("more_teachers") or [])]:
            if t.get("weights_sha256"):
                teachers.setdefault(t["weights_sha256"], t)
    if not teachers:
        return None
    known = [t["fine_tune_cpu_seconds"] for t in teachers.values() if t.get("fine_tune_cpu_seconds") is not None]
    text = f"The runs used {markdown.count(len(teachers), 'fine-tuned teacher')}; "
    if not known:
        text += "their records do not carry what fine-tuning them cost"
    else:
        text += (f"fine-tuning {'it' if len(teachers) == 1 else f'{len(known)} of them'} cost {sum(known) / 3600:.2f} "
                 "CPU-hours by the teachers' own records, whichever command did it")
        if missing := len(teachers) - len(known):
            text += f" (the other {missing}: not carried by their runs' records)"
    return text + ". The table counts a teacher's fine-tuning only where one of its runs did it."


def cost_table(results: list[dict]) -> str | None:
    """CPU-hours per scheme (the student's runs, the teacher stage taken out where they timed it apart), the
    teacher stage, and all together; None where no run recorded its CPU time."""
    hours: dict = defaultdict(list)
    stage_hours, stage_runs, unsplit = 0.0, 0, 0
    for r in results:
        timing = r.get("timing") or {}
        if timing.get("cpu_seconds") is None:
            continue
        stage = timing.get("teacher_stage_cpu_seconds")
        if stage is None:
            unsplit += _did_teacher_stage(r)
            stage = 0.0
        elif stage > 0:
            stage_hours, stage_runs = stage_hours + stage / 3600, stage_runs + 1
        hours[r["weighting"]].append((timing["cpu_seconds"] - stage) / 3600)
    if not hours:
        return None
    rows = [[scheme, len(hours[scheme]), f"{sum(hours[scheme]):.2f}", f"{statistics.fmean(hours[scheme]):.2f}"]
            for scheme in sorted(hours)]
    if stage_runs:
        rows.append(["teacher stage: fine-tuning or loading the teachers, filling their caches", stage_runs,
                     f"{stage_hours:.2f}", markdown.BLANK])
    runs = sum(map(len, hours.values()))
    rows.append(["all", runs, f"{sum(map(sum, hours.values())) + stage_hours:.2f}", markdown.BLANK])
    lines = markdown.table_lines(["scheme", "runs", "CPU-hours", "CPU-hours per run"], rows)
    if missing := len(results) - runs:
        lines.append(f"\n{markdown.count(missing, 'run')} recorded no CPU time and {'is' if missing == 1 else 'are'} not counted.")
    if unsplit:
        lines.append(f"\n{markdown.count(unsplit, 'run')} fine-tuned a teacher before the teacher stage was timed apart: "
                     f"that fine-tuning is in {'its' if unsplit == 1 else 'their'} scheme's row.")
    # runs resumed before the clock was kept in checkpoints recorded their last process alone
    if partial := sum(1 for r in results if r.get("resumed_from") and "processes" not in (r.get("timing") or {})):
        lines.append(f"\n{markdown.count(partial, 'resumed run')} recorded only the CPU time of the process that finished "
                     f"{'it' if partial == 1 else 'them'}: the table counts less than was spent.")
    if (teachers := _teachers_fine_tuning(results)) is not None:
        lines.append(f"\n{teachers}")
    return "\n".join(lines)
