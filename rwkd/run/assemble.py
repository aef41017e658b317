"""Turns a composed config into the objects a run needs: data, models, module, trainer.

Shared by the student run and the teacher fine-tuning stage, so both read data, build trainers and
pick checkpoints the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from rwkd import console
from rwkd.data.datamodule import GlueDataModule
from rwkd.data.sources import default_glue_dir
from rwkd.errors import RwkdError
from rwkd.run.preemption import Preemption
from rwkd.tasks import TaskSpec, get_task
from rwkd.training.checkpointing import AtomicCheckpointIO, ResumeCheckpoint
from rwkd.training.module import DistillationModule


def task_of(cfg: DictConfig) -> TaskSpec:
    return get_task(cfg.task.name)


def teacher_tokenizer_name(cfg: DictConfig) -> str:
    """The teacher reads text through its own tokenizer: that of the model it is (or was fine-tuned) from."""
    return cfg.teacher.path or cfg.teacher.model.name_or_path


def student_tokenizer_name(cfg: DictConfig) -> str:
    """The student's own tokenizer: `data.tokenizer` where set, else that of the model its weights come from
    (the fine-tuned teacher's under student.init=teacher, student.source's under student.init=finetuned), never the
    teacher's by default: the two may have different vocabularies (MPNet teacher, MiniLM students)."""
    if cfg.data.get("tokenizer"):
        return cfg.data.tokenizer
    init = student_init(cfg)
    if init == "teacher":
        return teacher_tokenizer_name(cfg)
    if init == "finetuned":
        return source_tokenizer_name(cfg)
    return cfg.student.model.name_or_path


def source_tokenizer_name(cfg: DictConfig) -> str:
    """student.source's tokenizer, as the teacher stage names it when it fine-tunes the source (its cache key)."""
    source = cfg.student.source
    return source.get("path") or source.model.name_or_path


def glue_dir(cfg: DictConfig) -> str | None:
    return cfg.data.dir if cfg.data.get("dir") else default_glue_dir()


def build_datamodule(cfg: DictConfig, tokenizer, **settings) -> GlueDataModule:
    """The run's data from `cfg.data` by its `_target_`; `settings` override keys (the teacher stage's own
    batch size and order)."""
    return instantiate(cfg.data, tokenizer=tokenizer, **settings)


def build_module(cfg: DictConfig, **parts) -> DistillationModule:
    """The LightningModule from `cfg.module` by its `_target_` (its settings: `rwkd train --cfg job`), given
    the parts a run builds itself: student, weighting, task, teacher, run_info."""
    # the parts go in after instantiation: Hydra would otherwise walk them too (run_info holds the config,
    # whose _target_ nodes it would try to build)
    return instantiate(cfg.module, _convert_="all", _partial_=True)(**parts)


def build_trainer(
    cfg: DictConfig, output_dir: Path, max_epochs: int | None = None, with_loggers: bool = True,
    single_process: bool = False, monitor: str | None = "val/headline", callbacks: list = (),
) -> tuple[pl.Trainer, ModelCheckpoint, ResumeCheckpoint]:
    """The trainer, the callback keeping the best model (weights only; by `monitor`, or the last epoch when
    None) and the one keeping last.ckpt. `callbacks`: the run's own (the per-sample weight log), first."""
    ckpt_cfg = cfg.get("checkpoint") or {}
    best = ModelCheckpoint(
        dirpath=str(output_dir / "checkpoints"),
        filename="best",
        monitor=monitor,
        mode="max",  # every GLUE headline metric is better when higher
        save_top_k=1,
        save_weights_only=True,  # for eval and export; resuming reads last.ckpt, which has everything
        auto_insert_metric_name=False,
    )
    last = ResumeCheckpoint(output_dir / "checkpoints", int(ckpt_cfg.get("every_n_steps", 100)))
    # the run's own first: Lightning calls callbacks in this order, and a step's weights must be logged before
    # last.ckpt (every n steps, or on a signal) saves the log with the step
    callbacks = [*callbacks, best, last, Preemption(last.path)]
    callbacks += [instantiate(cb) for cb in (cfg.get("callbacks") or {}).values() if cb is not None]
    loggers = []
    if with_loggers and cfg.get("logger"):
        loggers = [instantiate(lg_cfg) for lg_cfg in cfg.logger.values() if lg_cfg is not None]
    overrides = {"max_epochs": max_epochs} if max_epochs is not None else {}
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.update(overrides)
    if single_process:
        trainer_cfg.update(devices=1, num_nodes=1, strategy="auto")
    with console.trainer_being_built(trainer_cfg):  # its device lines show only on a GPU or several devices
        trainer = instantiate(
            trainer_cfg,
            callbacks=callbacks,
            logger=loggers or False,
            default_root_dir=str(output_dir),
            plugins=[AtomicCheckpointIO()],
        )
    return trainer, best, last


# student.init: where the student's layers come from (the new head apart, drawn as student.stable_head says)
STUDENT_INITS = ("pretrained", "teacher", "finetuned")
COPIED_FROM = {"teacher": "the fine-tuned teacher's", "finetuned": "student.source's (fine-tuned on the task)"}


def student_init(cfg: DictConfig) -> str:
    """student.init, checked by the settings (rwkd/config/settings.py) before any run starts."""
    return cfg.student.get("init") or "pretrained"


def build_student(cfg: DictConfig, task, teacher, source=None) -> torch.nn.Module:
    """The student as configured. student.init=teacher: its layers (and head) are copied from the fine-tuned teacher
    instead of the pretrained model (as in patient KD), so it starts from what the teacher learned on the task.
    student.init=finetuned: they come from `source`, the student's own backbone fine-tuned on the task by the teacher
    stage (rwkd/teacher/student_source.py), loaded as a pretrained model would be (it has a head: none is drawn)."""
    init = student_init(cfg)
    if init in COPIED_FROM and cfg.student.model.get("random_init"):
        raise RwkdError(f"student.init={init} copies {COPIED_FROM[init]} layers, so it cannot be combined "
                        "with student.model.random_init=true; accepted: one or the other")
    if init == "teacher":
        return instantiate(cfg.student.model, name_or_path=teacher.path, num_labels=task.num_labels, seed=int(cfg.seed))
    start = {"name_or_path": source.path} if init == "finetuned" else {}
    # student.stable_head: the fresh head drawn bit-stably, so the start does not depend on the CPU kind
    # (rwkd/models.py: stable_normal); false keeps torch's draw, that of records written before the setting
    return instantiate(cfg.student.model, **start, num_labels=task.num_labels, seed=int(cfg.seed),
                       stable_fresh_init=bool(cfg.student.get("stable_head", True)))
