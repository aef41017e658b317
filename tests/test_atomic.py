"""rwkd.atomic: the one way files and folders are written. A failed write leaves the previous version
and no temporary behind; a replaced folder is never missing."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading

import pytest

from rwkd.atomic import replace_folder, write_json, write_text, write_with


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    write_json(target, {"v": 1})

    def half_then_fail(tmp):
        tmp.write_text('{"v": 2, "trunc')
        raise OSError(13, "Permission denied")  # any failure: here one that is not about space

    with pytest.raises(OSError, match="Permission denied"):
        write_with(target, half_then_fail)
    assert target.read_text() == '{\n  "v": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_write_creates_folders_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "doc.md"
    write_text(target, "one")
    write_text(target, "two")
    assert target.read_text() == "two" and len(list(target.parent.iterdir())) == 1


def _fill(text):
    def fill(folder):
        (folder / "config.json").write_text(text)
        (folder / "weights.bin").write_bytes(text.encode() * 1000)
    return fill


def test_replaced_folder_is_never_missing(tmp_path):
    out = tmp_path / "best_hf"
    replace_folder(out, _fill("v0"))
    missing, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            if not (out / "config.json").is_file():
                missing.append(1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(1, 30):
            replace_folder(out, _fill(f"v{i}"))
    finally:
        stop.set()
        watcher.join()
    assert (out / "config.json").read_text() == "v29"
    assert not missing  # the exchange is one step: a reader always found a complete export
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_hf"]  # old versions and temporaries removed


def test_failed_folder_fill_keeps_the_old_folder(tmp_path):
    out = tmp_path / "best_hf"
    replace_folder(out, _fill("old"))

    def broken(folder):
        (folder / "config.json").write_text("new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        replace_folder(out, broken)
    assert (out / "config.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_hf"]


def test_folders_are_exchanged_in_one_step_on_linux(tmp_path):
    """What makes the replacement gap-free: renameat2(RENAME_EXCHANGE) swaps the two names at once."""
    from rwkd.atomic import _exchange

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("in a")
    (b / "x").write_text("in b")
    assert _exchange(a, b)
    assert (a / "x").read_text() == "in b" and (b / "x").read_text() == "in a"


def _under_size_limit(code: str, limit: int) -> subprocess.CompletedProcess:
    def apply_limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          preexec_fn=apply_limit)


@pytest.mark.parametrize("writer", ["json", "parquet", "checkpoint", "folder"])
def test_a_write_past_the_space_left_is_one_rwkd_error_and_the_old_file_stays(tmp_path, writer):
    target = tmp_path / ("export" if writer == "folder" else f"out.{writer}")
    old = b"the previous version\n"
    if writer == "folder":
        target.mkdir()
        (target / "weights.bin").write_bytes(old)
    else:
        target.write_bytes(old)
    write = {
        "json": f"write_json({str(target)!r}, {{'x': 'y' * 100000}})",
        "parquet": f"import pyarrow as pa, pyarrow.parquet as pq; write_with({str(target)!r}, "
                   "lambda t: pq.write_table(pa.table({'a': list(range(100000))}), t, compression=None))",
        "checkpoint": f"import torch; from rwkd.training.checkpointing import AtomicCheckpointIO; "
                      f"AtomicCheckpointIO().save_checkpoint({{'w': torch.zeros(100000)}}, {str(target)!r})",
        "folder": f"replace_folder({str(target)!r}, lambda d: (d / 'weights.bin').write_bytes(bytes(100000)))",
    }[writer]
    code = ("from rwkd.atomic import write_json, write_with, replace_folder\nfrom rwkd.errors import RwkdError\n"
            f"try:\n    {write}\nexcept RwkdError as e:\n    print('RWKD', e)\n")
    proc = _under_size_limit(code, 50_000)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"RWKD no space to write {target} (File too large); the "), proc.stdout
    kept = target / "weights.bin" if writer == "folder" else target
    assert kept.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary left beside it
