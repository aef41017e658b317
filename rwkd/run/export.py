"""Saving a trained classifier in Hugging Face format (save_pretrained with its tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

from rwkd.atomic import replace_folder
from rwkd.tasks import TaskSpec


def label_config(model, task: TaskSpec) -> None:
    """Records the task and its label names in the model's config, so an export says what it scores: a
    `pipeline("text-classification")` then answers "equivalent", not "LABEL_1" (or the files' "1"), and a
    regression head gives its raw value (problem_type regression: no sigmoid)."""
    model.config.finetuning_task = task.name
    model.config.id2label = dict(enumerate(task.output_names))
    model.config.label2id = {label: i for i, label in enumerate(task.output_names)}
    model.config.problem_type = "regression" if task.is_regression else "single_label_classification"


EXPORT_INFO = "rwkd.json"


def save_classifier(model, tokenizer, task: TaskSpec, out_dir: str | Path, extra: dict | None = None) -> Path:
    """Writes into a temporary sibling folder, then puts it in place (rwkd.atomic.replace_folder): a
    reader finds the old export or the new one, never half of one.

    `extra` (how the model was trained: tokenizer, max_len, ...) goes to rwkd.json beside the weights.
    """
    label_config(model, task)

    def fill(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        if extra is not None:
            (folder / EXPORT_INFO).write_text(json.dumps(extra, indent=2, default=str) + "\n")

    return replace_folder(out_dir, fill)
