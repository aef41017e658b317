"""Checkpoints a killed run can resume from: written atomically, often enough, with RNG states.

`last.ckpt` is rewritten every `checkpoint.every_n_steps` training steps and after every validation,
always through a temporary file renamed into place, so a kill at any moment leaves either the old or
the new checkpoint, never half of one.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

LAST = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a temporary file in the target folder, fsync, then rename over the target."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class ResumeCheckpoint(pl.Callback):
    """Keeps `last.ckpt` current: every `every_n_steps` optimizer steps and after each validation."""

    def __init__(self, dirpath: str | Path, every_n_steps: int):
        if every_n_steps < 1:
            raise ValueError(f"checkpoint.every_n_steps={every_n_steps} must be >= 1")
        self.path = Path(dirpath) / LAST
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step > 0 and trainer.global_step % self.every_n_steps == 0:
            trainer.save_checkpoint(self.path, weights_only=False)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            trainer.save_checkpoint(self.path, weights_only=False)

    @property
    def last_model_path(self) -> str:
        return str(self.path) if self.path.is_file() else ""


def capture_rng() -> dict:
    """Every RNG a training step may draw from, as types `torch.load(weights_only=True)` accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value):
    """random.setstate wants the nested tuples getstate gave, which a checkpoint may hand back as lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list | tuple) else value
