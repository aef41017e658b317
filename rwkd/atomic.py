"""Every file and folder rwkd writes goes through here, so a kill or a full disk at any moment leaves
either the old version or the new one, never half of one, and no stray temporary behind.

A file is written to a temporary name in its own folder (same filesystem, so the rename is atomic),
flushed to disk, renamed over the target, and the folder entry itself flushed. A folder (a model export)
is filled beside the target and then exchanged with it in one step where the OS allows it.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems (and Windows) cannot open a folder: the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_with(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Calls `write(temporary_path)`, then renames the result over `path`. For writers that want a path
    (torch.save, pyarrow); the temporary file is removed if anything fails, the target left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, payload: dict) -> Path:
    return write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where that is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def replace_folder(out_dir: str | Path, fill: Callable[[Path], None]) -> Path:
    """Calls `fill(temporary_folder)` beside `out_dir`, then puts it in place of `out_dir`.

    An existing `out_dir` is exchanged with the new folder in one step (renameat2) and only then
    removed, so a reader always finds a complete folder; where the OS has no exchange, the old folder
    is moved aside and the new one renamed in right after (a moment with none, but never half of one).
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        fill(tmp)
        for file in tmp.rglob("*"):
            if file.is_file():
                with open(file, "rb+") as f:
                    os.fsync(f.fileno())
        if not out_dir.exists():
            tmp.rename(out_dir)
        elif _exchange(tmp, out_dir):
            shutil.rmtree(tmp)  # now the old folder
        else:
            old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old."))
            old.rmdir()
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_folder(out_dir.parent)
    return out_dir
