"""`rwkd train`: one student run in four steps. Plan (what the config asks, checked before anything costly),
build (teachers, data, student, the Lightning module and trainer), fit, and record (export, results.json)."""

from __future__ import annotations

import signal
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.utilities.exceptions import SIGTERMException

from rwkd import distributed
from rwkd.atomic import write_json
from rwkd.commands.run_record import compared_records, results_record, side_by_side
from rwkd.config.settings import check_settings
from rwkd.errors import NotApplicable, RwkdError
from rwkd.locks import job_lock
from rwkd.models import load_tokenizer
from rwkd.records import identity, provenance
from rwkd.records.format import FAILED, NOT_APPLICABLE, RESULTS, SAMPLE_WEIGHTS
from rwkd.run.assemble import (
    build_datamodule,
    build_module,
    build_student,
    build_trainer,
    student_init,
    student_tokenizer_name,
    task_of,
    teacher_tokenizer_name,
)
from rwkd.run.budget import check_budget
from rwkd.run.export import save_classifier
from rwkd.run.preemption import Preempted, check_stop_file
from rwkd.run.resume import Start, comparable_config, plan_start
from rwkd.run.run_identity import start_digest
from rwkd.selection import selection_metric
from rwkd.teacher.sources import (
    TeacherSlot,
    live_views,
    obtain_teacher,
    output_source,
    teacher_record,
    teacher_slots,
    term_source,
)
from rwkd.teacher.student_source import obtain_student_source
from rwkd.teacher.sweep_check import check_sweep_teachers
from rwkd.terms import (
    ExtraTerm,
    TermSet,
    add_projections,
    drop_projection_weights,
    resolve_layers,
    without_projections,
)
from rwkd.training.checkpointing import model_state, read_checkpoint
from rwkd.training.weight_log import SampleWeightLogger
from rwkd.weighting.base import WeightingScheme


def train(cfg: DictConfig) -> float:
    """Runs one configuration; returns the reported epoch's meta-split headline where the run scored it, else its
    dev headline: what a hyper-parameter sweep (hparams_search=optuna) maximises, so that it tunes off dev."""
    # the CLI checked the command line; this also covers sampled sweeps and API callers, and plans the terms
    planned = check_settings(cfg)
    output_dir = Path(cfg.paths.output_dir)
    # the lock before anything else: a second sweep on the same folder must not see a job as unfinished
    # and start it while the first is training it, or right after the first has finished it
    with job_lock(output_dir) as holder:
        if holder is not None:
            return _held_elsewhere(output_dir, holder)
        return _train_in(cfg, output_dir, planned)


def _held_elsewhere(output_dir: Path, holder: str) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        print(f"rwkd: {output_dir} is being trained by {holder}; skipped here (that process records it)", flush=True)
        return float("nan")
    raise RwkdError(f"{output_dir} is being trained by {holder}; wait for it to finish, or start a separate "
                    "run with resume=never")


def _train_in(cfg: DictConfig, output_dir: Path, planned: list[ExtraTerm]) -> float:
    clock = provenance.JobClock()
    plan = plan_run(cfg, output_dir, planned)
    if plan.start.kind == "finished":
        best = plan.start.results["best"]["metrics"]
        print(f"rwkd: {output_dir} has finished already (best val/headline {best['val/headline']:.4f}); skipped. "
              "(resume=never trains it again)", flush=True)
        return sweep_objective(best)
    run = build_run(cfg, plan, clock, output_dir)
    fit_seconds = fit_run(run, plan.start)
    if not run.trainer.is_global_zero:
        return sweep_objective(run.module.best_epoch())
    return record_run(cfg, plan, run, clock, fit_seconds, output_dir)


@dataclass
class RunPlan:
    """What the config asks for, checked before any teacher is fine-tuned or any data is read."""

    start: Start
    task: object
    weighting: WeightingScheme
    planned_terms: list[ExtraTerm]  # terms beyond label + teacher, as configured (layers not yet resolved)
    term_set: TermSet | None
    tokenizer: object  # the student's: each teacher reads its own
    slots: list[TeacherSlot]


def plan_run(cfg: DictConfig, output_dir: Path, planned: list[ExtraTerm]) -> RunPlan:
    start = plan_start(cfg, output_dir)
    if start.kind == "finished":
        return RunPlan(start, None, None, [], None, None, [])
    check_stop_file(cfg, output_dir)  # after the finished check: a stopped sweep still counts what it has
    task = task_of(cfg)
    weighting: WeightingScheme = instantiate(cfg.weighting)
    if (reason := weighting.undefined_for(task)) is not None:
        raise NotApplicable(reason, task=task.name, scheme=weighting.describe())
    planned = planned if weighting.needs_teacher else []
    term_set = TermSet(planned, task.is_regression, cfg.kd.temperature, cfg.kd.loss) if planned else None
    # a scheme that cannot weigh these terms says so before any teacher is fine-tuned (the module asks again)
    weighting.configure_terms(term_set)
    check_budget(cfg, weighting.describe())
    tokenizer = load_tokenizer(student_tokenizer_name(cfg))
    return RunPlan(start, task, weighting, planned, term_set, tokenizer, teacher_slots(cfg))


@dataclass
class BuiltRun:
    teachers: list  # the first teacher (None without one), then those of further terms
    teacher_source: object
    extra_terms: list[ExtraTerm]
    student: torch.nn.Module
    datamodule: object
    module: object
    trainer: pl.Trainer
    checkpoint: object
    last_checkpoint: object
    scheme_label: str
    run_info: dict
    selection: str | None
    student_source: object = None  # the fine-tuned model the student started from (student.init=finetuned)


def build_run(cfg: DictConfig, plan: RunPlan, clock, output_dir: Path) -> BuiltRun:
    task, weighting, slots = plan.task, plan.weighting, plan.slots
    teachers = obtain_teachers(cfg, plan, clock, output_dir)
    with clock.teacher_stage():  # student.init=finetuned: the model the student is cut from, fine-tuned like a teacher
        source = obtain_student_source(cfg)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    student = build_student(cfg, task, teachers[0], source)
    datamodule = build_datamodule(cfg, plan.tokenizer, teacher_tokenizers=live_views(slots) if weighting.needs_teacher else None)
    teacher_source = None
    if teachers[0] is not None and weighting.needs_teacher:
        with clock.teacher_stage():  # the logit cache, filled by the first job that needs it
            teacher_source = output_source(slots[0], datamodule)
    shapes = [t.shape for t in teachers] if plan.planned_terms else []
    extra_terms = resolve_layers(plan.planned_terms, student.config.num_hidden_layers, [s["num_hidden_layers"] for s in shapes])
    add_projections(student, extra_terms, [s["hidden_size"] for s in shapes] if extra_terms else [])
    with clock.teacher_stage():
        extra_sources = [term_source(term, slots, datamodule) for term in extra_terms]
    # a K-term run is another comparison than the same scheme on two terms: tables keep them apart
    scheme_label = weighting.describe() + ("" if plan.term_set is None else f" [{'+'.join(plan.term_set.names)}]")
    run_info = {"role": "student", "tokenizer": student_tokenizer_name(cfg),
                "teacher_tokenizers": [teacher_tokenizer_name(slot.cfg) for slot in slots],
                "max_len": cfg.data.max_len, "max_eval_samples": cfg.data.max_eval_samples, "seed": int(cfg.seed),
                "weighting": scheme_label, "config": comparable_config(cfg),
                identity.STUDENT_INIT: start_digest(student)}  # before training; checkpoints carry it (resume)
    selection = student_selection(cfg, datamodule)
    module = build_module(cfg, student=student, weighting=weighting, task=task, teacher=teacher_source,
                          run_info=run_info,
                          extra_terms=extra_terms, extra_sources=extra_sources,
                          score_meta_split=datamodule.eval_meta_split, selection=selection)
    module.clock = clock
    trainer, checkpoint, last_checkpoint = build_trainer(cfg, output_dir, monitor=selection,
                                                         callbacks=[SampleWeightLogger(output_dir / SAMPLE_WEIGHTS)])
    return BuiltRun(teachers, teacher_source, extra_terms, student, datamodule, module, trainer,
                    checkpoint, last_checkpoint, scheme_label, run_info, selection, source)


def obtain_teachers(cfg: DictConfig, plan: RunPlan, clock, output_dir: Path) -> list:
    """The fine-tuned teachers the run distils (fine-tuned here or found in their cache; None for the first where the
    run needs none), after checking that the sweep's other jobs distilled the same ones."""
    slots, needs_teacher = plan.slots, plan.weighting.needs_teacher
    with clock.teacher_stage():
        if needs_teacher or student_init(cfg) == "teacher":
            slots[0].teacher = obtain_teacher(slots[0])
        # terms beyond label + teacher (rwkd/terms.py): further teachers, each fine-tuned and cached like the first
        for slot in slots[1:] if needs_teacher else []:
            slot.teacher = obtain_teacher(slot)
    teachers = [slots[0].teacher, *([slot.teacher for slot in slots[1:]] if needs_teacher else [])]
    for line in check_sweep_teachers(plan.task.name, [teacher_record(t) if t else None for t in teachers],
                                     output_dir, accept_rebuild=str(cfg.teacher.get("accept_rebuild", "never"))):
        print(f"rwkd: {line}", flush=True)
    return teachers


def fit_run(run: BuiltRun, start: Start) -> float:
    """Trains; returns the fit's wall-clock seconds."""
    pin_relaunch_to_this_job()
    env_before = distributed.launch_env()
    if start.kind == "resume":
        print(f"rwkd: resuming from {start.checkpoint}", flush=True)
        # Lightning cannot see that the DataModule restores the data position itself (EpochBatchSampler)
        warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
    fit_started = time.time()
    try:
        run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=start.checkpoint, weights_only=True)
    except SIGTERMException:  # SIGTERM before training began (Lightning's handler, until rwkd's takes over)
        saved = run.last_checkpoint.path if run.last_checkpoint.path.is_file() else None
        raise Preempted(signal.SIGTERM, run.trainer.global_step, saved) from None
    finally:
        # the next job of a sweep starts its own process group (and its own DDP worker processes)
        distributed.shutdown(env_before)
        finish_loggers()
    if not run.module.history:
        raise RwkdError("training ended before the first validation; raise trainer.max_epochs or max_steps")
    return time.time() - fit_started


def record_run(cfg: DictConfig, plan: RunPlan, run: BuiltRun, clock, fit_seconds: float, output_dir: Path) -> float:
    """Exports the reported epoch's student, writes results.json, drops the checkpoints not kept, prints the scores."""
    task, best, last = plan.task, run.module.best_epoch(), run.module.history[-1]
    export_dir = None
    if cfg.export and run.checkpoint.best_model_path:
        state = model_state(read_checkpoint(run.checkpoint.best_model_path, "export"))
        with without_projections(run.student):  # they serve the hidden-state terms in training only
            run.student.load_state_dict(drop_projection_weights(state))
            export_dir = save_classifier(run.student, plan.tokenizer, task, output_dir / "best_hf",
                                         extra=run.run_info | {"task": task.name})
    results = results_record(cfg, run, clock, fit_seconds, export_dir, plan.start, output_dir)
    if run.datamodule.label_noise is not None:  # data.label_noise: which rows, beside the results that name the file
        run.datamodule.label_noise.write(output_dir)
    write_json(output_dir / RESULTS, results)
    for stale in (FAILED, NOT_APPLICABLE):  # from an earlier attempt of this job
        (output_dir / stale).unlink(missing_ok=True)
    tidy_checkpoints(cfg, run.checkpoint, run.last_checkpoint)
    print(f"rwkd: {task.name} {run.scheme_label} seed {cfg.seed}: best val/headline {best['val/headline']:.4f} "
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
