"""Where a student run's teacher outputs come from: the first teacher's logits, and those of the extra terms
(rwkd/terms.py), each from the on-disk cache (built on first use) or from the live teacher."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from rwkd.errors import RwkdError
from rwkd.models import load_tokenizer
from rwkd.run.assemble import student_tokenizer_name, task_of, teacher_tokenizer_name
from rwkd.teacher.cache import cached_teacher
from rwkd.teacher.finetune import Teacher, ensure_teacher
from rwkd.teacher.outputs import outputs_teacher
from rwkd.terms import ExtraTerm, teacher_patches
from rwkd.training.teacher_signal import CachedTeacher, LiveTeacher


def with_teacher(cfg: DictConfig, patch: dict) -> DictConfig:
    """The run's config with `teacher` patched: one of kd.teachers, as the teacher stage sees it."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.teacher = OmegaConf.merge(cfg.teacher, patch)
    return cfg


@dataclass
class TeacherSlot:
    """One teacher of a run (the first, or one of kd.teachers) with the tokens it reads: `view` is the name of
    its own tokenizer where that is not the student's (a live teacher then reads the batch's ids of that
    tokenizer, and a cached one is computed on them), None where the two share a tokenizer."""

    cfg: DictConfig  # the run's config with this teacher in `teacher`
    tokenizer_name: str
    view: str | None
    teacher: Teacher | None = None

    @property
    def cached(self) -> bool:
        return bool(self.cfg.teacher.cache_logits)

    @property
    def tokenizer(self):
        """Loaded on first use: a run on written outputs (teacher.outputs) never needs it."""
        return _tokenizer(self.tokenizer_name)


@functools.cache
def _tokenizer(name: str):
    return load_tokenizer(name)


def teacher_slots(cfg: DictConfig) -> list[TeacherSlot]:
    """Every teacher the run distils, each with its own tokenizer."""
    student_tokens = student_tokenizer_name(cfg)
    slots = []
    for teacher_cfg in (cfg, *(with_teacher(cfg, patch) for patch in teacher_patches(cfg.kd))):
        name = teacher_tokenizer_name(teacher_cfg)
        slots.append(TeacherSlot(teacher_cfg, name, None if name == student_tokens else name))
    return slots


def live_views(slots: list[TeacherSlot]) -> dict:
    """The tokenizers the data module must add to each batch: those of live teachers that read other tokens."""
    return {slot.view: slot.tokenizer for slot in slots if slot.view is not None and not slot.cached}


def obtain_teacher(slot: TeacherSlot) -> Teacher:
    """The slot's teacher: its written outputs (teacher.outputs), else fine-tuned or found by the teacher stage."""
    folder = slot.cfg.teacher.get("outputs")
    if not folder:
        return ensure_teacher(slot.cfg, slot.tokenizer)
    if not slot.cached:
        raise RwkdError(f"teacher.outputs={folder} holds outputs, not a model to run live, and teacher.cache_logits=false "
                        "asks for one; accepted: teacher.cache_logits=true, or teacher.outputs=null")
    if (slot.cfg.student.get("init") or "pretrained") == "teacher":
        raise RwkdError(f"student.init=teacher copies the teacher's layers, and teacher.outputs={folder} has none; "
                        "accepted: student.init=pretrained, or teacher.outputs=null")
    return outputs_teacher(folder, slot.cfg.task.name)


def output_source(slot: TeacherSlot, datamodule, layer: int | None = None, width: int | None = None):
    """Where one teacher output comes from: the teacher's written outputs, the cache (built on first use, on the
    teacher's own tokens), or the live teacher with teacher.cache_logits=false."""
    if slot.teacher.outputs is not None:
        datamodule.setup("fit")
        pool = [e.idx for s in (datamodule.train_set, datamodule.meta_set) if s is not None for e in s.examples]
        slot.teacher.outputs.check_data(slot.cfg.task.name, datamodule.source.fingerprint("train"), pool)
        return slot.teacher.outputs.source(layer)
    if not slot.cached:
        return LiveTeacher(slot.teacher.model, layer, slot.view)
    return teacher_for_training(slot.cfg, slot.teacher.model, datamodule, slot.tokenizer,
                                retokenize=slot.view is not None, layer=layer, width=width)


def term_source(term: ExtraTerm, slots: list[TeacherSlot], datamodule):
    """Where an extra term's teacher output comes from, like the first teacher's logits."""
    slot = slots[term.teacher]
    layer = term.teacher_layer if term.is_hidden else None
    width = slot.teacher.shape["hidden_size"] if term.is_hidden else None
    return output_source(slot, datamodule, layer, width)


def teacher_record(teacher: Teacher) -> dict:
    # what its fine-tuning cost, from its teacher.json: a study counts each teacher's cost once
    cost = {k: v for k, v in (teacher.record or {}).items() if k.startswith("fine_tune_")}
    if teacher.outputs is not None:
        cost["outputs_id"] = teacher.outputs.record["id"]
    return {"path": teacher.path, "origin": teacher.origin, "dev_metrics": teacher.dev_metrics,
            "weights_sha256": teacher.weights_sha256, **cost}


def term_record(term: ExtraTerm) -> dict:
    record = {"name": term.name, "teacher": term.teacher}
    if term.is_hidden:
        record |= {"student_layer": term.student_layer, "teacher_layer": term.teacher_layer, "state": "cls"}
    return record


def teacher_for_training(cfg: DictConfig, model, datamodule, tokenizer, retokenize: bool = False,
                         layer: int | None = None, width: int | None = None) -> CachedTeacher:
    """The teacher's logits (or [CLS] states after `layer`, `width` wide) for every train and meta sample,
    from the cache (built on first use). `tokenizer` is the teacher's; with `retokenize` (it is not the
    student's) the rows are read again by it before the teacher sees them."""
    datamodule.setup("fit")
    fingerprint = datamodule.source.fingerprint("train")
    splits = [s for s in (datamodule.train_set, datamodule.meta_set) if s is not None]
    if retokenize:
        splits = [datamodule.retokenized(s, tokenizer) for s in splits]
    return cached_teacher(
        model, [("train", s) for s in splits], task=cfg.task.name,
        cache_root=Path(cfg.paths.teachers).resolve() / "logit_cache",
        tokenization={"tokenizer": teacher_tokenizer_name(cfg), "max_len": cfg.data.max_len},
        pad_token_id=tokenizer.pad_token_id, num_labels=width or task_of(cfg).num_labels,
        fingerprints={"train": fingerprint}, layer=layer,
    )
