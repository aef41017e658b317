"""Locks that let several sweeps share one folder: a job folder is trained by one process at a time,
and a teacher is fine-tuned once while the others wait for it.

Advisory file locks (flock) on a `.rwkd.lock` file: the kernel drops them when their process ends, however
it ends, so a killed job never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rwkd import distributed

LOCK_NAME = ".rwkd.lock"


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode(errors="replace").strip() or "another process"


def _mark(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"pid {os.getpid()}".encode())


@contextmanager
def _flock(path: Path, waiting_for: str | None) -> Iterator[str | None]:
    """Holds the lock at `path` for the block and yields None. Where another process holds it: with
    `waiting_for` (what that process is doing), waits for it first; without, yields who holds it and
    takes nothing."""
    fd = _open(Path(path))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting_for is None:
                yield _holder(fd)
                return
            print(f"rwkd: waiting for {_holder(fd)}, which is {waiting_for}", flush=True)
            started = time.time()
            fcntl.flock(fd, fcntl.LOCK_EX)
            print(f"rwkd: done waiting ({time.time() - started:.0f} s)", flush=True)
        _mark(fd)
        try:
            yield None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def job_lock(folder: Path) -> Iterator[str | None]:
    """Holds the folder's lock for the block and yields None; yields who holds it (e.g. "pid 1234") when
    another process does. Under data parallelism only the launching process (rank 0) locks: the others
    are the same job."""
    if distributed.launch_rank() != 0:
        yield None
        return
    with _flock(Path(folder) / LOCK_NAME, None) as holder:
        yield holder


def waiting_lock(path: Path, what: str):
    """Holds the lock at `path` for the block, first waiting for another process that holds it."""
    return _flock(path, what)
