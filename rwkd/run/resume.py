"""Where a run starts: from scratch, from its own last checkpoint (`resume=auto`), or from `ckpt_path=`.

A checkpoint is only resumed by a run with the same settings: anything that shapes training (task,
models, weighting, data, optimisation, seed) must match the run that wrote it, or the run stops with
the first difference instead of silently mixing two experiments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rwkd.errors import RwkdError
from rwkd.records.format import RESULTS
from rwkd.training.checkpointing import LAST, read_checkpoint

RESUME_CHOICES = ("never", "auto")
# Settings that do not change what is trained: where files go, how progress is shown and logged.
# `module` and data's target, task and order seed only repeat settings compared elsewhere (optim, kd, task, seed).
NOT_COMPARED = ("paths", "resume", "ckpt_path", "stop_file", "logger", "callbacks", "checkpoint", "export",
                "data.dir", "data.num_workers", "trainer.enable_progress_bar", "trainer.log_every_n_steps",
                "module", "data._target_", "data.task", "data.order_seed", "teacher.accept_rebuild", "teacher_outputs", "compare_with")


@dataclass
class Start:
    kind: str  # "fresh", "resume" or "finished"
    checkpoint: Path | None = None
    results: dict | None = None


def comparable_config(cfg: DictConfig) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    for dotted in NOT_COMPARED:
        *parents, leaf = dotted.split(".")
        node = config
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return config


# a setting added after a checkpoint was written, at a default that changes nothing, is no difference
NEUTRAL_DEFAULTS = (None, [], {})


def first_difference(old, new, prefix: str = "") -> tuple[str, object, object] | None:
    if old == "<unset>" and any(new == d and type(new) is type(d) for d in NEUTRAL_DEFAULTS):
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            found = first_difference(old.get(key, "<unset>"), new.get(key, "<unset>"), f"{prefix}{key}.")
            if found:
                return found
        return None
    return None if old == new else (prefix.rstrip("."), old, new)


def plan_start(cfg: DictConfig, output_dir: Path) -> Start:
    resume = str(cfg.get("resume", "never"))
    if resume not in RESUME_CHOICES:
        raise RwkdError(f"resume={resume!r} is unknown; accepted: {', '.join(RESUME_CHOICES)} (or ckpt_path=FILE)")
    if cfg.get("ckpt_path"):
        path = Path(str(cfg.ckpt_path))
        if not path.is_file():
            raise RwkdError(f"ckpt_path={path} does not exist; give a run's checkpoints/{LAST}")
        check_resumable(path, cfg, "ckpt_path")
        return Start("resume", path)
    if resume == "auto":
        results = output_dir / RESULTS
        if results.is_file():
            try:
                return Start("finished", results=json.loads(results.read_text()))
            except (OSError, ValueError) as exc:
                raise RwkdError(f"{results} exists but is not readable JSON ({exc}); delete it to run again") from None
        last = output_dir / "checkpoints" / LAST
        if last.is_file():
            check_resumable(last, cfg, "resume=auto")
            return Start("resume", last)
    return Start("fresh")


def check_resumable(path: Path, cfg: DictConfig, what: str) -> None:
    checkpoint = read_checkpoint(path, what)
    info = checkpoint.get("rwkd")
    if not isinstance(info, dict) or "config" not in info:
        raise RwkdError(f"{what}: {path} was not written by rwkd train (no recorded config); cannot resume from it")
    if "optimizer_states" not in checkpoint or "rwkd_progress" not in checkpoint:
        raise RwkdError(f"{what}: {path} holds weights only (like best.ckpt); resume from checkpoints/{LAST}")
    diff = first_difference(info["config"], comparable_config(cfg))
    if diff is not None:
        key, old, new = diff
        raise RwkdError(f"{what}: {path} was made with {key}={old!r}, this run has {key}={new!r}; "
                        f"resume with the same settings, or start a new run with resume=never")
