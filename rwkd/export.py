"""Saving a trained classifier in Hugging Face format (save_pretrained with its tokenizer)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

from rwkd.tasks import TaskSpec


def student_state_from_checkpoint(ckpt_path: str | Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    prefix = "student."
    return {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}


def label_config(model, task: TaskSpec) -> None:
    """Records the task and its label names in the model's config, so an export says what it scores."""
    model.config.finetuning_task = task.name
    if task.labels is not None:
        model.config.id2label = dict(enumerate(task.labels))
        model.config.label2id = {label: i for i, label in enumerate(task.labels)}


EXPORT_INFO = "rwkd.json"


def save_classifier(model, tokenizer, task: TaskSpec, out_dir: str | Path, extra: dict | None = None) -> Path:
    """Writes into a temporary sibling folder, then renames it into place: no half-written exports.

    `extra` (how the model was trained: tokenizer, max_len, ...) goes to rwkd.json beside the weights.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    label_config(model, task)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if extra is not None:
            (tmp / EXPORT_INFO).write_text(json.dumps(extra, indent=2, default=str) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
