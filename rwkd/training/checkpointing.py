"""Checkpoints a killed run can resume from: written atomically, often enough, with RNG states.

`last.ckpt` is rewritten every `checkpoint.every_n_steps` training steps and after every validation,
always through a temporary file renamed into place, so a kill at any moment leaves either the old or
the new checkpoint, never half of one.
"""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from rwkd.atomic import write_with
from rwkd.errors import RwkdError

LAST = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through rwkd.atomic: a kill mid-write leaves the previous file."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        write_with(path, lambda tmp: _save(checkpoint, tmp))


def _save(checkpoint: dict, path: Path) -> None:
    # through a Python file, so that a failed write surfaces as the OSError it is (full disk, size limit)
    with open(path, "wb") as f:
        torch.save(checkpoint, f)


def read_checkpoint(path: str | Path, what: str) -> dict:
    """The one way rwkd reads a checkpoint: loaded without running pickled code; a file that is not a
    complete Lightning checkpoint is reported in one line naming `what` needed it."""
    path = Path(path)
    advice = "give a .ckpt written by rwkd train, or delete it to start the run over"
    if not zipfile.is_zipfile(path):
        raise RwkdError(f"{what}: {path} is not a checkpoint (not a complete torch save file: truncated or corrupt?); "
                        f"{advice}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # bad pickle, unsafe globals, damaged members: all mean the file cannot be used
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise RwkdError(f"{what}: checkpoint {path} is unreadable, truncated or corrupt ({detail}); {advice}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise RwkdError(f"{what}: {path} is a torch file but not a Lightning checkpoint (no state_dict)")
    return checkpoint


def model_state(checkpoint: dict, prefix: str = "student") -> dict[str, torch.Tensor]:
    """The trained model's weights from a checkpoint's state_dict, keyed as the bare model expects:
    `prefix` is the module's model attribute (a DistillationModule's student, a TeacherFineTuning's
    teacher)."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix + ".")}


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
