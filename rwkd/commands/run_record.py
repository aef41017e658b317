"""A student run's record: results.json (built in one place, `results_record`), and the scores it prints beside
the teacher's, the majority answer's and other runs' (`compare_with`)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rwkd.baselines import majority_metrics
from rwkd.checkout import locate
from rwkd.models import count_parameters
from rwkd.records import provenance
from rwkd.records.format import SAMPLE_WEIGHTS
from rwkd.run.assemble import glue_dir
from rwkd.run.run_identity import run_identity
from rwkd.selection import describe
from rwkd.teacher.sources import teacher_record, term_record
from rwkd.teacher.student_source import source_record
from rwkd.terms import without_projections
from rwkd.training.teacher_signal import CachedTeacher


def results_record(cfg: DictConfig, run, clock, fit_seconds: float, export_dir: Path | None, start,
                   output_dir: Path) -> dict:
    """Everything results.json holds about a finished run (`run`: the built run, rwkd/commands/train.py)."""
    task, module, datamodule = run.module.task, run.module, run.datamodule
    best, last = module.best_epoch(), module.history[-1]
    teacher, more_teachers = run.teachers[0], run.teachers[1:]
    teacher_source, extra_terms, checkpoint = run.teacher_source, run.extra_terms, run.checkpoint
    return {
        "command": provenance.command_line(),
        "overrides": provenance.job_overrides(),
        "choices": provenance.config_choices(),
        "task": task.name,
        "weighting": run.scheme_label,
        "seed": int(cfg.seed),
        "headline": {"metric": "val/headline", "definition": " + ".join(task.headline) + f" / {len(task.headline)}"},
        "best": {"epoch": best["epoch"], "step": best["step"], "metrics": best, "selected_on": describe(run.selection),
                 "checkpoint": checkpoint.best_model_path if cfg.checkpoint.keep_best else None, "export": str(export_dir) if export_dir else None},
        "last": {"epoch": last["epoch"], "step": last["step"], "metrics": last},
        "resumed_from": str(start.checkpoint) if start.checkpoint else None,
        "history": module.history,
        "majority": dev_majority(datamodule),
        "teacher": None if teacher is None else
        {**teacher_record(teacher),
         "logits": "unused" if teacher_source is None else
         "cached" if isinstance(teacher_source, CachedTeacher) else "live"},
        "more_teachers": [teacher_record(t) for t in more_teachers],
        "terms": None if not extra_terms else
        [{"name": n} for n in ("label", "kd")] + [term_record(t) for t in extra_terms],
        "student": {"name": cfg.student.name, "parameters": student_parameters(run.student),
                    # student.init=finetuned: the fine-tuned model it was cut from (cache folder and key, its scores)
                    **({"source": source_record(run.student_source)} if run.student_source is not None else {})},
        "data": {**datamodule.describe(), "dir": glue_dir(cfg)},
        "identity": run_identity(cfg, run),  # what a pair of runs must share (rwkd/records/identity.py)
        "timing": {
            # every process that ran the job, up to its last checkpoint, and this one since the job began
            # (teacher stage included, and also given apart where every process timed it)
            **clock.elapsed(),
            "fit_seconds": fit_seconds,
            "train_step_seconds": sum(module.step_seconds),
            "train_samples": module.train_samples_seen,
            "samples_per_second": module.train_samples_seen / max(sum(module.step_seconds), 1e-9),
            "median_step_seconds": statistics.median(module.step_seconds) if module.step_seconds else None,
            "steps": len(module.step_seconds),
        },
        "sample_weights": str(output_dir / SAMPLE_WEIGHTS) if (output_dir / SAMPLE_WEIGHTS).is_file() else None,
        "skipped_batches": module.skipped_batches,
        "peak_memory": provenance.peak_memory_mb(),
        "versions": provenance.package_versions(),
        "hardware": provenance.hardware(),
        "git_commit": provenance.git_commit(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def dev_majority(datamodule) -> dict:
    """The always-most-frequent-label answer's metrics on the headline dev split, named as the run's own."""
    task = datamodule.task
    split = task.dev_splits[0]
    labels = [e.label for e in datamodule.dev_sets[split].examples]
    return {f"val/{name}": value for name, value in majority_metrics(task, labels).items()}


def compared_records(cfg: DictConfig) -> dict[str, dict]:
    """`compare_with`: label -> another run's results.json (the same student without KD, say), shown beside this
    run's scores at that run's reported epoch; a record that cannot be read is one line, not a lost run."""
    records_by_label = {}
    for label, path in (cfg.get("compare_with") or {}).items():
        try:
            record = json.loads(locate(path).read_text())
            records_by_label[str(label)] = record["best"]["metrics"] | {"_epoch": record["best"]["epoch"]}
        except (OSError, ValueError, KeyError) as exc:
            print(f"rwkd: warning: compare_with.{label}={path} cannot be read ({type(exc).__name__}); not shown",
                  flush=True)
    return records_by_label


def side_by_side(task, results: dict, compared: dict[str, dict] | None = None) -> str:
    """The student's dev scores next to the teacher's and the majority answer's (x 100), as the run's
    last lines: whether the student learned anything is the first thing to see. `compared`: other runs' reported
    epochs, by label."""
    names = ["headline", *[m for m in task.metrics if m != "headline"]]
    chosen = {"meta/headline": "best on meta", "val/headline": "best on dev"}.get(results["best"].get("selected_on"), "last")
    rows = [(f"student, epoch {results['best']['epoch']} ({chosen})", results["best"]["metrics"]),
            (f"student, last epoch ({results['last']['epoch']})", results["last"]["metrics"])]
    rows += [(f"{label}, epoch {metrics['_epoch']}", metrics) for label, metrics in (compared or {}).items()]
    if results.get("teacher"):
        rows.append(("teacher", results["teacher"]["dev_metrics"]))
    rows.append(("majority answer", results["majority"]))
    width = max(len(label) for label, _ in rows)
    lines = [f"rwkd: {task.name} dev x 100".ljust(width + 2) + "".join(f"{n:>10}" for n in names)]
    for label, metrics in rows:
        cells = [metrics.get(f"val/{n}") for n in names]
        lines.append(f"  {label}".ljust(width + 2) + "".join(f"{'n/a' if v is None else f'{100 * v:.2f}':>10}" for v in cells))
    return "\n".join(lines)




def student_parameters(student) -> int:
    with without_projections(student):
        return count_parameters(student)
