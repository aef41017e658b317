"""One student run: teacher stage, fit, export of the best student, results.json."""

from __future__ import annotations

import json
import signal
import statistics
import sys
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from rwkd import distributed
from rwkd.atomic import write_json
from rwkd.baselines import majority_metrics
from rwkd.errors import NotApplicable, RwkdError
from rwkd.models import count_parameters, load_tokenizer
from rwkd.report.recipe import check_budget
from rwkd.run import records
from rwkd.run.assemble import (
    build_datamodule,
    build_module,
    build_trainer,
    glue_dir,
    student_tokenizer_name,
    task_of,
    teacher_tokenizer_name,
)
from rwkd.run.checkpointing import model_state, read_checkpoint
from rwkd.run.diagnostics import SampleWeightLog
from rwkd.run.export import save_classifier
from rwkd.run.locks import job_lock
from rwkd.run.preemption import Preempted, check_stop_file
from rwkd.run.resume import NOT_APPLICABLE, RESULTS, comparable_config, plan_start
from rwkd.run.settings import STUDENT_INITS, check_settings
from rwkd.run.sweep_teachers import check_sweep_teachers
from rwkd.run.teacher_logits import CachedTeacher
from rwkd.run.teacher_sources import (
    live_views,
    obtain_teacher,
    output_source,
    teacher_record,
    teacher_slots,
    term_record,
    term_source,
)
from rwkd.selection import describe, selection_metric
from rwkd.terms import (
    TermSet,
    add_projections,
    drop_projection_weights,
    plan_extra_terms,
    resolve_layers,
    without_projections,
)
from rwkd.weighting.base import WeightingScheme

SAMPLE_WEIGHTS = "sample_weights.parquet"


def train(cfg: DictConfig) -> float:
    """Runs one configuration; returns the reported epoch's meta-split headline where the run scored it, else its
    dev headline: what a hyper-parameter sweep (hparams_search=optuna) maximises, so that it tunes off dev."""
    check_settings(cfg)  # the CLI checked the command line; this also covers sampled sweeps and API callers
    output_dir = Path(cfg.paths.output_dir)
    # the lock before anything else: a second sweep on the same folder must not see a job as unfinished
    # and start it while the first is training it, or right after the first has finished it
    with job_lock(output_dir) as holder:
        if holder is not None:
            return _held_elsewhere(output_dir, holder)
        return _train_in(cfg, output_dir)


def _held_elsewhere(output_dir: Path, holder: str) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        print(f"rwkd: {output_dir} is being trained by {holder}; skipped here (that process records it)", flush=True)
        return float("nan")
    raise RwkdError(f"{output_dir} is being trained by {holder}; wait for it to finish, or start a separate "
                    "run with resume=never")


def _train_in(cfg: DictConfig, output_dir: Path) -> float:
    clock = records.JobClock()
    start = plan_start(cfg, output_dir)
    if start.kind == "finished":
        best = start.results["best"]["metrics"]
        print(f"rwkd: {output_dir} has finished already (best val/headline {best['val/headline']:.4f}); skipped. "
              "(resume=never trains it again)", flush=True)
        return sweep_objective(best)
    check_stop_file(cfg, output_dir)  # after the finished check: a stopped sweep still counts what it has
    task = task_of(cfg)
    weighting: WeightingScheme = instantiate(cfg.weighting)
    if (reason := weighting.undefined_for(task)) is not None:
        raise NotApplicable(reason, task=task.name, scheme=weighting.describe())  # before the teacher stage: nothing is fine-tuned for a run that cannot happen
    planned = plan_extra_terms(cfg.kd) if weighting.needs_teacher else []
    term_set = TermSet(planned, task.is_regression, cfg.kd.temperature, cfg.kd.loss) if planned else None
    # a scheme that cannot weigh these terms says so before any teacher is fine-tuned (the module asks again)
    weighting.configure_terms(term_set)
    check_budget(cfg, weighting.describe())
    tokenizer = load_tokenizer(student_tokenizer_name(cfg))  # the student's: each teacher reads its own
    slots = teacher_slots(cfg)
    init = student_init(cfg)
    with clock.teacher_stage():
        if weighting.needs_teacher or init == "teacher":
            slots[0].teacher = obtain_teacher(slots[0])
        # terms beyond label + teacher (rwkd/terms.py): further teachers, each fine-tuned and cached like the first
        for slot in slots[1:] if weighting.needs_teacher else []:
            slot.teacher = obtain_teacher(slot)
    teacher = slots[0].teacher
    more_teachers = [slot.teacher for slot in slots[1:]] if weighting.needs_teacher else []
    for line in check_sweep_teachers(task.name, [teacher_record(t) if t else None for t in (teacher, *more_teachers)],
                                     output_dir, accept_rebuild=str(cfg.teacher.get("accept_rebuild", "never"))):
        print(f"rwkd: {line}", flush=True)

    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    student = build_student(cfg, task, teacher)
    datamodule = build_datamodule(cfg, tokenizer, teacher_tokenizers=live_views(slots) if weighting.needs_teacher else None)
    teacher_source = None
    if teacher is not None and weighting.needs_teacher:
        with clock.teacher_stage():  # the logit cache, filled by the first job that needs it
            teacher_source = output_source(slots[0], datamodule)
    teachers = [teacher, *more_teachers]
    extra_terms = resolve_layers(planned, student.config.num_hidden_layers,
                                 [t.shape["num_hidden_layers"] for t in teachers] if planned else [])
    add_projections(student, extra_terms, [t.shape["hidden_size"] for t in teachers] if extra_terms else [])
    with clock.teacher_stage():
        extra_sources = [term_source(term, slots, datamodule) for term in extra_terms]
    # a K-term run is another comparison than the same scheme on two terms: tables keep them apart
    scheme_label = weighting.describe() + ("" if term_set is None else f" [{'+'.join(term_set.names)}]")
    run_info = {
        "role": "student",
        "tokenizer": student_tokenizer_name(cfg),
        "teacher_tokenizers": [teacher_tokenizer_name(slot.cfg) for slot in slots],
        "max_len": cfg.data.max_len,
        "max_eval_samples": cfg.data.max_eval_samples,
        "seed": int(cfg.seed),
        "weighting": scheme_label,
        "config": comparable_config(cfg),
    }
    selection = student_selection(cfg, datamodule)
    module = build_module(cfg, student=student, weighting=weighting, task=task, teacher=teacher_source,
                          run_info=run_info, sample_log=SampleWeightLog(output_dir / SAMPLE_WEIGHTS),
                          extra_terms=extra_terms, extra_sources=extra_sources,
                          score_meta_split=datamodule.eval_meta_split, selection=selection)
    module.clock = clock
    trainer, checkpoint, last_checkpoint = build_trainer(cfg, output_dir, monitor=selection)
    pin_relaunch_to_this_job()
    env_before = distributed.launch_env()
    if start.kind == "resume":
        print(f"rwkd: resuming from {start.checkpoint}", flush=True)
        # Lightning cannot see that the DataModule restores the data position itself (EpochBatchSampler)
        warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
    fit_started = time.time()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=start.checkpoint, weights_only=True)
    except SIGTERMException:  # SIGTERM before training began (Lightning's handler, until rwkd's takes over)
        saved = last_checkpoint.path if last_checkpoint.path.is_file() else None
        raise Preempted(signal.SIGTERM, trainer.global_step, saved) from None
    finally:
        # the next job of a sweep starts its own process group (and its own DDP worker processes)
        distributed.shutdown(env_before)
        finish_loggers()
    fit_seconds = time.time() - fit_started
    if not module.history:
        raise RwkdError("training ended before the first validation; raise trainer.max_epochs or max_steps")

    best = module.best_epoch()
    last = module.history[-1]
    if not trainer.is_global_zero:
        return sweep_objective(best)

    export_dir = None
    if cfg.export and checkpoint.best_model_path:
        state = model_state(read_checkpoint(checkpoint.best_model_path, "export"))
        with without_projections(student):  # they serve the hidden-state terms in training only
            student.load_state_dict(drop_projection_weights(state))
            export_dir = save_classifier(student, tokenizer, task, output_dir / "best_hf", extra=run_info | {"task": task.name})

    results = {
        "command": records.command_line(),
        "overrides": records.job_overrides(),
        "choices": records.config_choices(),
        "task": task.name,
        "weighting": scheme_label,
        "seed": int(cfg.seed),
        "headline": {"metric": "val/headline", "definition": " + ".join(task.headline) + f" / {len(task.headline)}"},
        "best": {"epoch": best["epoch"], "step": best["step"], "metrics": best, "selected_on": describe(selection),
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
        "student": {"name": cfg.student.name, "parameters": student_parameters(student)},
        "data": {**datamodule.describe(), "dir": glue_dir(cfg)},
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
        "peak_memory": records.peak_memory_mb(),
        "versions": records.package_versions(),
        "hardware": records.hardware(),
        "git_commit": records.git_commit(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json(output_dir / RESULTS, results)
    for stale in ("failed.json", NOT_APPLICABLE):  # from an earlier attempt of this job
        (output_dir / stale).unlink(missing_ok=True)
    tidy_checkpoints(cfg, checkpoint, last_checkpoint)
    print(f"rwkd: {task.name} {scheme_label} seed {cfg.seed}: best val/headline {best['val/headline']:.4f} "
          f"(epoch {best['epoch']}), last {last['val/headline']:.4f}; results in {output_dir / RESULTS}", flush=True)
    print(side_by_side(task, results, compared_records(cfg)), flush=True)
    return sweep_objective(best)


def sweep_objective(metrics: dict) -> float:
    return metrics.get("meta/headline", metrics["val/headline"])


def student_selection(cfg: DictConfig, datamodule) -> str | None:
    """The metric whose best epoch the run reports and exports (checkpoint.select_on, rwkd/selection.py); choosing
    on the meta split scores it every epoch whatever data.eval_meta_split says."""
    datamodule.setup("fit")
    choice = (cfg.get("checkpoint") or {}).get("select_on", "meta")
    metric = selection_metric("checkpoint.select_on", choice, datamodule.meta_set is not None)
    if metric == "meta/headline":
        datamodule.eval_meta_split = True
    return metric


def dev_majority(datamodule) -> dict:
    """The always-most-frequent-label answer's metrics on the headline dev split, named as the run's own."""
    task = datamodule.task
    split = task.dev_splits[0]
    labels = [e.label for e in datamodule.dev_sets[split].examples]
    return {f"val/{name}": value for name, value in majority_metrics(task, labels).items()}


def compared_records(cfg: DictConfig) -> dict[str, dict]:
    """`compare_with`: label -> another run's results.json (the same student without KD, say), shown beside this
    run's scores at that run's reported epoch; a record that cannot be read is one line, not a lost run."""
    from rwkd.run.teacher_outputs import locate

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




def student_init(cfg: DictConfig) -> str:
    init = cfg.student.get("init") or "pretrained"
    if init not in STUDENT_INITS:
        raise RwkdError(f"student.init={init!r} is unknown; accepted: {', '.join(STUDENT_INITS)}")
    return init


def build_student(cfg: DictConfig, task, teacher) -> torch.nn.Module:
    """The student as configured; with student.init=teacher its layers (and head) are copied from the
    fine-tuned teacher instead of the pretrained model (as in patient KD), so it starts from what the
    teacher learned on the task."""
    if student_init(cfg) == "teacher":
        if cfg.student.model.get("random_init"):
            raise RwkdError("student.init=teacher copies the fine-tuned teacher's layers, so it cannot be combined "
                            "with student.model.random_init=true; accepted: one or the other")
        return instantiate(cfg.student.model, name_or_path=teacher.path, num_labels=task.num_labels, seed=int(cfg.seed))
    return instantiate(cfg.student.model, num_labels=task.num_labels, seed=int(cfg.seed))


def tidy_checkpoints(cfg: DictConfig, best, last) -> None:
    """Once results.json is written, drops the checkpoints the config does not keep (they are large)."""
    keep = cfg.get("checkpoint") or {}
    if not keep.get("keep_last", False) and last.last_model_path:
        Path(last.last_model_path).unlink(missing_ok=True)
    if not keep.get("keep_best", True) and best.best_model_path:
        Path(best.best_model_path).unlink(missing_ok=True)


def finish_loggers() -> None:
    """Closes this job's wandb run, so the next job of a sweep gets a run of its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def pin_relaunch_to_this_job() -> None:
    """Makes Lightning's DDP launcher restart the other ranks as this one job, in this job's folder.

    Lightning re-runs sys.argv with hydra.run.dir; inside a multirun that would be the whole sweep
    (every job again) writing into the single-run folder.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict, read_write

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    instance = HydraConfig.instance().cfg
    run = instance.hydra.run
    with read_write(run), open_dict(run):
        run.dir = hydra_cfg.runtime.output_dir


def student_parameters(student) -> int:
    with without_projections(student):
        return count_parameters(student)
