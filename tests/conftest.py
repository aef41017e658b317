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


REAL_GLUE = default_glue_dir()
GENERATED_TASKS = ["mrpc", "rte", "stsb", "cola", "sst2", "qnli"]


def pytest_configure(config):
    config.addinivalue_line("markers", "real_glue: checks facts of the real GLUE files (needs ../shared/glue or "
                                       "RWKD_GLUE_DIR); `make test-fast` leaves these out")
    if REAL_GLUE is None:
        # No real files: every other test runs on generated files in the GLUE layout, subprocesses included.
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="rwkd-generated-glue-"))
        subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_glue.py"),
                        str(folder), "--tasks", *GENERATED_TASKS, "--train", "600", "--dev", "200"],
                       check=True, capture_output=True)
        os.environ["RWKD_GLUE_DIR"] = str(folder)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "real_glue_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_glue)


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    """A GLUE folder in the original layout: the real files where present, else generated ones."""
    return Path(default_glue_dir())


@pytest.fixture(scope="session")
def real_glue_dir() -> Path:
    # No skip: the real files are part of what `make test` checks; CI keeps ../shared/glue beside the clone.
    assert REAL_GLUE, "no GLUE folder: set RWKD_GLUE_DIR or keep ../shared/glue beside the checkout"
    return Path(REAL_GLUE)


def run_rwkd(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 300,
             script: str | None = None, process: bool = False) -> subprocess.CompletedProcess:
    """`rwkd ARGS`, in this process unless it needs one of its own: `process=True`, a console script, or an
    environment variable beyond IN_PROCESS_ENV and a PYTHONPATH this process already has. A new process spends most of a tiny run's time
    importing torch and Lightning (benchmarks/cli_in_process.py). What only a real process shows is
    tested in one: stray output and tracebacks (tests/test_bad_input.py, tests/test_quiet_console.py), signals and
    kills (tests/test_resume*.py), DDP launchers, thread counts, the installed console script."""
    if not (process or script or _needs_own_environment(env)):
        return run_rwkd_here(args, cwd, {k: v for k, v in (env or {}).items() if k in IN_PROCESS_ENV})
    full_env = {**os.environ, **(env or {})}
    command = [script, "train"] if script else [sys.executable, "-m", "rwkd.cli"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


# Variables a run reads while it runs, set and put back around a run in this process. Others (fault injection's
# kills and signals, thread counts read once at start-up) need a process of their own.
IN_PROCESS_ENV = {"WANDB_MODE"}


def _needs_own_environment(env: dict | None) -> bool:
    env = dict(env or {})
    path = env.pop("PYTHONPATH", None)
    on_path = {str(Path(p).resolve()) for p in sys.path if p}
    return bool(set(env) - IN_PROCESS_ENV) or (path is not None and not set(path.split(os.pathsep)) <= on_path)


def run_rwkd_here(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`rwkd ARGS` called in this process, as `rwkd` would run it: the exit code, and what it printed. What a run
    changes in its process (the working folder, the environment, torch's threads, signal handlers, warning
    filters, Hydra's singleton, the root logger) is put back, so the next run starts as a new process would."""
    import contextlib
    import io
    import logging
    import signal
    import traceback
    import warnings

    import torch
    from hydra.core.global_hydra import GlobalHydra

    from rwkd import cli

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level, argv, here = root.handlers[:], root.level, sys.argv[:], os.getcwd()
    environ, threads = dict(os.environ), torch.get_num_threads()
    signals = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)}
    os.environ.update(env or {})
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            try:
                code = cli.main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception:  # what a real process would die of: a traceback and exit 1
                traceback.print_exc()
                code = 1
    finally:
        # Hydra leaves its singleton initialised and its log handlers on the root logger
        os.chdir(here)
        sys.argv[:] = argv
        GlobalHydra.instance().clear()
        root.handlers[:] = handlers
        root.setLevel(level)
        os.environ.clear()
        os.environ.update(environ)
        torch.set_num_threads(threads)
        for signum, handler in signals.items():
            signal.signal(signum, handler)
        cli.FAILED_JOBS.clear()
        cli.NOT_STARTED.clear()
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def trained_mrpc(tmp_path_factory) -> Path:
    """A finished tiny MRPC run (a sentence-pair task) with its best.ckpt and best_hf export, as rwkd train writes them."""
    tmp = tmp_path_factory.mktemp("trained_mrpc")
    proc = run_rwkd(["train", "task=mrpc", *TINY, "weighting=none", "trainer.max_epochs=1", f"hydra.run.dir={tmp / 'run'}"],
                    cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run"


def write_tsv(path: Path, header: list[str] | None, rows: list[list[str]], bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (["\t".join(header)] if header else []) + ["\t".join(r) for r in rows]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
