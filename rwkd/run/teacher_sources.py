"""Where a student run's teacher outputs come from: the first teacher's logits, and those of the extra terms
(rwkd/terms.py), each from the on-disk cache (built on first use) or from the live teacher."""

from __future__ import annotations

import copy
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from rwkd.run.assemble import task_of, tokenizer_name
from rwkd.run.teacher_logits import CachedTeacher, LiveTeacher, cached_teacher
from rwkd.run.teacher_stage import Teacher
from rwkd.terms import ExtraTerm, teacher_patches


def with_teacher(cfg: DictConfig, patch: dict) -> DictConfig:
    """The run's config with `teacher` patched: one of kd.teachers, as the teacher stage sees it."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.teacher = OmegaConf.merge(cfg.teacher, patch)
    return cfg


def term_source(cfg: DictConfig, term: ExtraTerm, teachers: list[Teacher], datamodule, tokenizer):
    """Where an extra term's teacher output comes from: the cache (like the first teacher's logits), or the
    live teacher with teacher.cache_logits=false."""
    teacher = teachers[term.teacher]
    patch = teacher_patches(cfg.kd)[term.teacher - 1] if term.teacher else {}
    layer = term.teacher_layer if term.is_hidden else None
    if not patch.get("cache_logits", cfg.teacher.cache_logits):
        return LiveTeacher(teacher.model, layer)
    width = teacher.model.config.hidden_size if term.is_hidden else None
    return teacher_for_training(cfg, teacher.model, datamodule, tokenizer, layer=layer, width=width)


def teacher_record(teacher: Teacher) -> dict:
    # what its fine-tuning cost, from its teacher.json: a study counts each teacher's cost once
    cost = {k: v for k, v in (teacher.record or {}).items() if k.startswith("fine_tune_")}
    return {"path": teacher.path, "origin": teacher.origin, "dev_metrics": teacher.dev_metrics,
            "weights_sha256": teacher.weights_sha256, **cost}


def term_record(term: ExtraTerm) -> dict:
    record = {"name": term.name, "teacher": term.teacher}
    if term.is_hidden:
        record |= {"student_layer": term.student_layer, "teacher_layer": term.teacher_layer, "state": "cls"}
    return record


def teacher_for_training(cfg: DictConfig, model, datamodule, tokenizer, layer: int | None = None,
                         width: int | None = None) -> CachedTeacher:
    """The teacher's logits (or [CLS] states after `layer`, `width` wide) for every train and meta sample,
    from the cache (built on first use)."""
    datamodule.setup("fit")
    fingerprint = datamodule.source.fingerprint("train")
    return cached_teacher(
        model, [("train", s) for s in (datamodule.train_set, datamodule.meta_set) if s is not None], task=cfg.task.name,
        cache_root=Path(cfg.paths.teachers).resolve() / "logit_cache",
        tokenization={"tokenizer": tokenizer_name(cfg), "max_len": cfg.data.max_len},
        pad_token_id=tokenizer.pad_token_id, num_labels=width or task_of(cfg).num_labels,
        fingerprints={"train": fingerprint}, layer=layer,
    )
