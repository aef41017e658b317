"""student.init=finetuned: the student starts from the first layers of its own backbone fine-tuned on the task.

That model is `student.source`, a teacher config (conf/teacher/: name, model, finetune). The teacher stage
fine-tunes and caches it exactly as it would the same config given as `teacher=`: the same cache key and folder
under paths.teachers, so a folder a study made for that teacher (the v2 study's MiniLM teacher) is found and
reused, never rebuilt, and `rwkd teacher` makes it beforehand for a sweep or a multi-process launch. The run's
own teacher is not involved: it may be another architecture, or only its written outputs (teacher.outputs).
"""

from __future__ import annotations

import copy
from pathlib import Path

from omegaconf import DictConfig, open_dict

from rwkd.models import load_tokenizer
from rwkd.run.assemble import student_init, task_of, teacher_tokenizer_name
from rwkd.teacher.finetune import Teacher, ensure_teacher, teacher_folder
from rwkd.teacher.sources import teacher_record

FROM_SOURCE = "finetuned"  # the student.init that reads student.source


def wants_source(cfg: DictConfig) -> bool:
    return student_init(cfg) == FROM_SOURCE


def source_settings(cfg: DictConfig) -> DictConfig:
    """The run's config with student.source in `teacher`: what the teacher stage fine-tunes, keys and caches. The
    source replaces the teacher whole (no key of the run's teacher, such as teacher.outputs, leaks into it)."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.teacher = copy.deepcopy(cfg.student.source)
    return cfg


def obtain_student_source(cfg: DictConfig) -> Teacher | None:
    """The fine-tuned source the student starts from (fine-tuned here, or found in the teacher cache; under DDP rank 0
    makes it and the others wait, as for a teacher); None where student.init does not ask for one."""
    if not wants_source(cfg):
        return None
    settings = source_settings(cfg)
    print(f"rwkd: student.init={FROM_SOURCE}: the student starts from {settings.teacher.name} fine-tuned on "
          f"{task_of(cfg).name} (student.source), made or found by the teacher stage", flush=True)
    return ensure_teacher(settings, load_tokenizer(teacher_tokenizer_name(settings)))


def source_folder(cfg: DictConfig) -> Path:
    """Where the source is cached (or was given: student.source.path), found without fine-tuning anything: the folder
    that holds teacher.json and model/."""
    settings = source_settings(cfg)
    if settings.teacher.get("path"):
        return Path(str(settings.teacher.path))
    return teacher_folder(settings, load_tokenizer(teacher_tokenizer_name(settings)))


def source_record(source: Teacher | None) -> dict | None:
    """results.json's student.source: where the start came from (the cache folder and key of the fine-tuned model, its
    weights' SHA-256) and how good that model was (its fine-tuning's dev and meta scores)."""
    if source is None:
        return None
    record = source.record or {}
    cached = source.origin in ("cache", "fine-tuned")
    return {**teacher_record(source), "folder": str(Path(source.path).parent) if cached else None,
            "key": record.get("key"), "selected_on": record.get("selected_on")}
