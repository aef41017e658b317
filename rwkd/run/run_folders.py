"""Run and sweep folder names, and how `resume=auto` finds the folder of an interrupted run or sweep.

A run's folder is `<prefix>_<time>`. With `resume=auto` the same command goes back to the newest
folder with that prefix whose recorded command-line overrides are the same (ignoring `resume=` itself)
and which holds a checkpoint or a results.json (the run then resumes, or is skipped as finished); a
sweep goes back to the newest sweep folder started with the same overrides. Without a match a new,
timestamped folder is made, as usual.
"""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import ListConfig, OmegaConf

from rwkd.records.format import PLAN_FILE, RESULTS
from rwkd.training.checkpointing import LAST

NOT_MATCHED = ("resume", "ckpt_path")


def _timestamp() -> str:
    return time.strftime("%Y-%m-%d_%H-%M-%S")


def _key(overrides) -> list[str]:
    return sorted(str(o) for o in overrides if str(o).split("=", 1)[0].lstrip("+~") not in NOT_MATCHED)


def find_previous_run(prefix: str, overrides: list[str]) -> Path | None:
    prefix_path = Path(prefix)
    if not prefix_path.parent.is_dir():
        return None
    for folder in sorted(prefix_path.parent.glob(f"{prefix_path.name}_*"), reverse=True):
        saved = folder / ".hydra" / "overrides.yaml"
        started = (folder / "checkpoints" / LAST).is_file() or (folder / RESULTS).is_file()
        if started and saved.is_file() and _key(OmegaConf.load(saved)) == overrides:
            return folder
    return None


def find_sweep(root: str, overrides: list[str]) -> Path | None:
    root_path = Path(root)
    if not root_path.is_dir():
        return None
    for folder in sorted(root_path.iterdir(), reverse=True):
        saved = folder / PLAN_FILE
        if saved.is_file() and _key(OmegaConf.load(saved).hydra.overrides.task) == overrides:
            return folder
    return None


_CHOSEN: dict[tuple[str, str, str], str] = {}


def _folder(kind: str, base: str, resume: str, root_cfg, find, fresh: str) -> str:
    """The previous folder `find` returns under resume=auto, else `fresh`; one answer per process:
    Hydra resolves a folder several times (a sweep's every job re-resolves the sweep folder, with its
    own overrides), and all must agree with the first."""
    key = (kind, base, str(resume))
    if key not in _CHOSEN:
        found = find(base, _key(root_cfg.hydra.overrides.task)) if str(resume) == "auto" else None
        _CHOSEN[key] = str(found) if found is not None else fresh
    return _CHOSEN[key]


def run_dir(prefix: str, resume: str, *, _root_) -> str:
    return _folder("run", prefix, resume, _root_, find_previous_run, f"{prefix}_{_timestamp()}")


def sweep_dir(root: str, resume: str, *, _root_) -> str:
    return _folder("sweep", root, resume, _root_, find_sweep, f"{root}/{_timestamp()}")


def slug(value) -> str:
    """A value as a folder-name part: a list [0, 1, 2] becomes 0-1-2."""
    if isinstance(value, list | tuple | ListConfig):
        return "-".join(slug(v) for v in value)
    return str(value)


def terms_folder(teachers, hidden) -> str:
    """A folder name for a run's loss terms (kd.teachers, kd.hidden): `terms2` for the classic two, else e.g.
    `terms4_teachers2_hidden1`, so sweeps over different term sets keep their plans apart."""
    n_teachers, n_hidden = 1 + len(teachers or ()), len(hidden or ())
    if n_teachers == 1 and n_hidden == 0:
        return "terms2"
    return f"terms{1 + n_teachers + n_hidden}_teachers{n_teachers}_hidden{n_hidden}"


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("rwkd_terms_folder", terms_folder, replace=True)
    OmegaConf.register_new_resolver("rwkd_slug", slug, replace=True)
    OmegaConf.register_new_resolver("rwkd_run_dir", run_dir, replace=True)
    OmegaConf.register_new_resolver("rwkd_sweep_dir", sweep_dir, replace=True)
