"""Turns a composed config into the objects a run needs: data, models, module, trainer.

Shared by the student run and the teacher fine-tuning stage, so both read data, build trainers and
pick checkpoints the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from rwkd.data.datamodule import GlueDataModule
from rwkd.data.sources import default_glue_dir
from rwkd.module import DistillationModule
from rwkd.run.checkpointing import AtomicCheckpointIO, ResumeCheckpoint
from rwkd.run.diagnostics import SampleWeightLog
from rwkd.tasks import TaskSpec, get_task


def task_of(cfg: DictConfig) -> TaskSpec:
    return get_task(cfg.task.name)


def tokenizer_name(cfg: DictConfig) -> str:
    if cfg.data.get("tokenizer"):
        return cfg.data.tokenizer
    return cfg.teacher.path or cfg.teacher.model.name_or_path


def glue_dir(cfg: DictConfig) -> str | None:
    return cfg.data.dir if cfg.data.get("dir") else default_glue_dir()


def build_datamodule(cfg: DictConfig, tokenizer, batch_size: int | None = None,
                     order_seed: int | None = None) -> GlueDataModule:
    d = cfg.data
    return GlueDataModule(
        task=cfg.task.name,
        tokenizer=tokenizer,
        dir=glue_dir(cfg),
        max_len=d.max_len,
        batch_size=batch_size or d.batch_size,
        eval_batch_size=d.eval_batch_size,
        max_train_samples=d.max_train_samples,
        max_eval_samples=d.max_eval_samples,
        meta_size=d.meta_size,
        meta_batch_size=d.meta_batch_size,
        split_seed=d.split_seed,
        num_workers=d.num_workers,
        shuffle=d.get("shuffle", True),
        order_seed=int(cfg.seed if order_seed is None else order_seed),
        eval_meta_split=bool(d.get("eval_meta_split", False)),
        group_by_length=bool(d.get("group_by_length", False)),
    )


def build_module(cfg: DictConfig, student, weighting, teacher, optim: dict, run_info: dict,
                 sample_log: SampleWeightLog | None = None, selection: str | None = "val/headline") -> DistillationModule:
    return DistillationModule(
        student=student,
        weighting=weighting,
        task=task_of(cfg),
        teacher=teacher,
        lr=float(optim["lr"]),
        weight_decay=float(optim["weight_decay"]),
        warmup_ratio=float(optim["warmup_ratio"]),
        grad_clip=optim.get("grad_clip"),
        fused_adamw=optim.get("fused_adamw"),
        kd_temperature=float(cfg.kd.temperature),
        kd_loss=cfg.kd.loss,
        nan_policy=cfg.nan_policy,
        run_info=run_info,
        sample_log=sample_log,
        extra_val_splits=("meta",) if cfg.data.get("eval_meta_split") else (),
        selection=selection,
    )


def build_trainer(
    cfg: DictConfig, output_dir: Path, max_epochs: int | None = None, with_loggers: bool = True,
    single_process: bool = False, monitor: str | None = "val/headline",
) -> tuple[pl.Trainer, ModelCheckpoint, ResumeCheckpoint]:
    """The trainer, the callback keeping the best model (weights only; by `monitor`, or the last epoch when
    None) and the one keeping last.ckpt."""
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
    callbacks = [best, last]
    callbacks += [instantiate(cb) for cb in (cfg.get("callbacks") or {}).values() if cb is not None]
    loggers = []
    if with_loggers and cfg.get("logger"):
        loggers = [instantiate(lg_cfg) for lg_cfg in cfg.logger.values() if lg_cfg is not None]
    overrides = {"max_epochs": max_epochs} if max_epochs is not None else {}
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.update(overrides)
    if single_process:
        trainer_cfg.update(devices=1, num_nodes=1, strategy="auto")
    trainer = instantiate(
        trainer_cfg,
        callbacks=callbacks,
        logger=loggers or False,
        default_root_dir=str(output_dir),
        plugins=[AtomicCheckpointIO()],
    )
    return trainer, best, last
