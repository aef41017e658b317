"""Shared helpers: the real GLUE folder, generated GLUE-layout folders, and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rwkd.data.sources import default_glue_dir

# Tiny random BERTs, a few steps: an end-to-end run takes seconds on CPU.
TINY = [
    "teacher=tiny",
    "student=tiny",
    "data.max_train_samples=96",
    "data.max_eval_samples=48",
    "data.max_len=48",
    "data.batch_size=16",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "logger=csv",
]


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    found = default_glue_dir()
    # No skip: the real files are part of what is tested; CI sets RWKD_GLUE_DIR.
    assert found, "no GLUE folder: set RWKD_GLUE_DIR or keep ../shared/glue beside the checkout"
    return Path(found)


def run_rwkd(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 300,
             script: str | None = None) -> subprocess.CompletedProcess:
    """`rwkd ARGS` in a subprocess; `script` is a console-script path (else `python -m rwkd.cli`)."""
    full_env = {**os.environ, **(env or {})}
    command = [script, "train"] if script else [sys.executable, "-m", "rwkd.cli"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def write_tsv(path: Path, header: list[str] | None, rows: list[list[str]], bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (["\t".join(header)] if header else []) + ["\t".join(r) for r in rows]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
