"""Every file and folder rwkd writes goes through here, so a kill or a full disk at any moment leaves
either the old version or the new one, never half of one, and no stray temporary behind.

A file is written to a temporary name in its own folder (same filesystem, so the rename is atomic),
flushed to disk, renamed over the target, and the folder entry itself flushed. A folder (a model export)
is filled beside the target and then exchanged with it in one step where the OS allows it.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from rwkd.errors import RwkdError

# a full disk, a full quota, or a file-size limit (ulimit -f): the write cannot finish, whatever is retried
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _no_space(exc: BaseException) -> int | None:
    """The errno of a no-space failure behind `exc` (torch and pyarrow wrap the OSError; safetensors, in
    Rust, only names it in its message), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            return exc.errno
        found = re.search(r"os error (\d+)|errno (\d+)", str(exc), re.IGNORECASE)
        if found and int(found.group(1) or found.group(2)) in NO_SPACE:
            return int(found.group(1) or found.group(2))
        exc = exc.__cause__ or exc.__context__
    return None


def _stop_for_space(path: Path, code: int, what: str) -> RwkdError:
    return RwkdError(f"no space to write {path} ({os.strerror(code)}); the {what} there is as it was before this "
                     "write: free space (or raise the limit), then run the same command with resume=auto")


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
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if (code := _no_space(exc)) is not None:
            raise _stop_for_space(path, code, "file") from exc
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
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if (code := _no_space(exc)) is not None:
            raise _stop_for_space(out_dir, code, "folder") from exc
        raise
    _fsync_folder(out_dir.parent)
    return out_dir
