"""The few collective operations the meta step needs under data parallelism (no-ops in one process)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def launch_rank() -> int:
    """This process's global rank as the launcher set it (torchrun, SLURM, Lightning), before any process group."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def gather_objects(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] in every process; [obj] in one process."""
    if not active():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def mean_(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Averages each tensor across processes, in place."""
    if active():
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t.div_(dist.get_world_size())
    return tensors


def sum_(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    if active():
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return tensors


def wait_for(path: Path, what: str, timeout_s: float = 6 * 3600, poll_s: float = 2.0) -> None:
    """Ranks other than 0 wait for rank 0 to finish writing a shared file (a teacher, a cache)."""
    deadline = time.time() + timeout_s
    while not Path(path).exists():
        if time.time() > deadline:
            raise TimeoutError(f"rank {launch_rank()} gave up waiting for {what} at {path}")
        time.sleep(poll_s)


LAUNCH_VARS = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT")


def launch_env() -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in LAUNCH_VARS}


def shutdown(env_before: dict[str, str | None]) -> None:
    """Ends this job's process group and forgets what Lightning's launcher set in the environment:
    left behind, LOCAL_RANK would make the next job of a sweep believe its processes already exist."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for key, value in env_before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
