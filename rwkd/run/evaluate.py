"""Scoring a classifier on dev, and loading what `rwkd eval` is pointed at."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModelForSequenceClassification

from rwkd.data.datamodule import PadCollator, TokenizedSplit
from rwkd.errors import RwkdError
from rwkd.metrics import GlueMetrics, predictions
from rwkd.models import model_inputs
from rwkd.run.export import EXPORT_INFO
from rwkd.terms import drop_projection_weights
from rwkd.training.checkpointing import model_state, read_checkpoint


@torch.no_grad()
def score(model: torch.nn.Module, datamodule, device: torch.device | str = "cpu") -> dict[str, float]:
    """Dev metrics of `model` on every dev split of the datamodule's task (datamodule already set up)."""
    task = datamodule.task
    metrics = GlueMetrics(task).to(device)
    was_training = model.training
    model.eval().to(device)
    for split, loader in zip(task.dev_splits, datamodule.val_dataloader(), strict=True):
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            metrics.update(split, model(**model_inputs(batch)).logits.float(), batch["labels"])
    model.train(was_training)
    return metrics.compute()


@torch.no_grad()
def predict(model: torch.nn.Module, rows: TokenizedSplit, task, pad_token_id: int, batch_size: int,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """The model's answer to every row, in row order: class ids, or a regression's values. Rows may be unlabelled."""
    loader = DataLoader(rows, batch_size=batch_size, collate_fn=PadCollator(pad_token_id, task.is_regression))
    was_training = model.training
    model.eval().to(device)
    answers = []
    for batch in loader:
        logits = model(**{k: v.to(device) for k, v in model_inputs(batch).items()}).logits.float()
        answers.append(predictions(logits, task).cpu())
    model.train(was_training)
    return torch.cat(answers)


def load_for_eval(path: str | Path):
    """(model, info) from a Lightning checkpoint written by rwkd, or from a save_pretrained folder.

    info holds what the training run knew: task, tokenizer, max_len (None where unknown).
    """
    path = Path(path)
    if not path.exists():
        raise RwkdError(f"ckpt={path} does not exist; give a .ckpt file from a run's checkpoints/ or an exported HF folder")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise RwkdError(f"ckpt={path} is a folder without config.json; expected a save_pretrained export (e.g. best_hf/)")
        model = AutoModelForSequenceClassification.from_pretrained(str(path))
        info = {"max_len": None}
        if (path / EXPORT_INFO).is_file():
            info.update(json.loads((path / EXPORT_INFO).read_text()))
        # the export carries its own tokenizer, and its config names the task it was trained on
        # (transformers 5 configs lack the attribute unless it was set: a model exported by other tools)
        task = getattr(model.config, "finetuning_task", None) or info.get("task")
        return model, {**info, "task": task, "tokenizer": str(path)}
    checkpoint = read_checkpoint(path, "rwkd eval")
    info = checkpoint.get("rwkd")
    if not isinstance(info, dict) or "student_config" not in info:
        raise RwkdError(f"ckpt={path} is a checkpoint but not one written by rwkd (no 'rwkd' section)")
    config = AutoConfig.for_model(**info["student_config"])
    model = AutoModelForSequenceClassification.from_config(config)
    # hidden-state terms' projections (rwkd/terms.py) are part of training, not of the model
    missing, unexpected = model.load_state_dict(drop_projection_weights(model_state(checkpoint)), strict=False)
    # position_ids buffers are rebuilt by the model; anything else missing means a mismatched checkpoint
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RwkdError(f"ckpt={path} does not match its own student config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model, info
