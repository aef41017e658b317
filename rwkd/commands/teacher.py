"""`rwkd teacher`: only the teacher stage, for one task, and (as a sweep) the teacher half of a recipe search."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rwkd.atomic import write_json
from rwkd.config.settings import check_settings
from rwkd.models import load_tokenizer
from rwkd.records import provenance
from rwkd.records.format import TEACHER_TRIAL
from rwkd.run.assemble import teacher_tokenizer_name
from rwkd.teacher.finetune import ensure_teacher
from rwkd.teacher.outputs import outputs_teacher, write_teacher_outputs
from rwkd.teacher.sources import with_teacher
from rwkd.teacher.student_source import obtain_student_source
from rwkd.terms import teacher_patches


def _show(task: str, teacher) -> None:
    print(f"rwkd: teacher for {task} ({teacher.origin}): {teacher.path}", flush=True)
    for name, value in teacher.dev_metrics.items():
        if name.startswith(("val", "meta")) and value is not None:
            print(f"  {name:<20} {value:.4f}")


def teacher_only(cfg: DictConfig) -> float:
    """`rwkd teacher`: fine-tune (or find) the teacher for the configured task, and report it; a teacher given by its
    written outputs (teacher.outputs) is only reported, and under student.init=finetuned the student's source is
    fine-tuned (or found) too. In a sweep
    (`rwkd teacher -m`, e.g. experiment=recipe_teacher) each job also records the teacher in its own folder
    as teacher_trial.json, and returns the held-out meta split's headline (what a search maximises)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    check_settings(cfg)
    sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
    trial_path = Path(HydraConfig.get().runtime.output_dir) / TEACHER_TRIAL
    if sweeping and str(cfg.get("resume")) == "auto" and trial_path.is_file():
        done = json.loads(trial_path.read_text())["selected"]
        print(f"rwkd: {trial_path.parent} has finished already; skipped. (resume=never fine-tunes it again)", flush=True)
        return done.get("meta/headline", done["val/headline"])
    written = None
    # kd.teachers too: a multi-process launch needs every teacher fine-tuned beforehand
    for position, teacher_cfg in enumerate((cfg, *(with_teacher(cfg, patch) for patch in teacher_patches(cfg.kd)))):
        given = teacher_cfg.teacher.get("outputs")  # a teacher given by its written outputs: nothing to fine-tune
        if given:
            found = outputs_teacher(given, cfg.task.name)
        else:
            tokenizer = load_tokenizer(teacher_tokenizer_name(teacher_cfg))  # each teacher reads its own tokens
            found = ensure_teacher(teacher_cfg, tokenizer)
        _show(cfg.task.name, found)
        if cfg.teacher_outputs.write and not given:
            folder, record = write_teacher_outputs(teacher_cfg, found, tokenizer, list(cfg.teacher_outputs.states),
                                                   cfg.teacher_outputs.state_dtype)
            print(f"rwkd: teacher outputs in {folder} (id {record['id'][:12]}); distil them with "
                  f"teacher.outputs={folder}", flush=True)
            written = written or {"folder": str(folder), "id": record["id"]}
        if position == 0:
            teacher = found
    # student.init=finetuned: the model the student is cut from, made here too so a sweep finds it made
    source = obtain_student_source(cfg)
    if source is not None:
        print("rwkd: the student's start (student.source):", flush=True)
        _show(cfg.task.name, source)
    if sweeping:
        record = teacher.record or {}
        write_json(trial_path, {
            "command": provenance.command_line(), "role": "teacher", "task": cfg.task.name,
            "overrides": list(HydraConfig.get().overrides.task), "teacher": cfg.teacher.name,
            "choices": provenance.config_choices(),
            "path": teacher.path, "origin": teacher.origin, "weights_sha256": teacher.weights_sha256,
            "finetune": OmegaConf.to_container(cfg.teacher.finetune, resolve=True),
            "data": {k: cfg.data.get(k) for k in ("max_train_samples", "meta_size", "split_seed", "max_len")},
            "selected": teacher.dev_metrics, "history": record.get("history"),
            "fine_tune_seconds": record.get("fine_tune_seconds"), "fine_tune_cpu_seconds": record.get("fine_tune_cpu_seconds"),
            "majority": record.get("majority"), "outputs": written,
            "hardware": provenance.hardware(), "versions": provenance.package_versions(), "git_commit": provenance.git_commit(),
        })
    return teacher.dev_metrics.get("meta/headline", teacher.dev_metrics["val/headline"])
