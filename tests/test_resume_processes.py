"""Resume and concurrency across processes: a 2-process (gloo) run killed or signalled mid-epoch resumes
to the uninterrupted 2-process result bit for bit, and two sweeps on one folder train each job once.

Split from test_resume.py so that the two heaviest groups of subprocess runs go to different workers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_rwkd
from test_resume import RUN, TESTS, _run_folder, _same

pytestmark = pytest.mark.slow


def _ddp_run(tmp: Path, outputs: str, kill_at: int | None = None, signal_at: str | None = None):
    """2 CPU processes over gloo, each a shard of 44 rows in batches of 16: 3 steps an epoch, 9 in all."""
    import sys

    env = {"PYTHONPATH": TESTS}
    if kill_at is not None:
        env["RWKD_TEST_KILL_AT_STEP"] = str(kill_at)
    if signal_at is not None:
        env["RWKD_TEST_SIGNAL_AT_STEP"] = signal_at
    args = [*RUN, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
            f"paths.outputs={tmp / outputs}", f"paths.teachers={tmp / 'teachers'}"]
    # Lightning's DDP launcher re-runs sys.argv[0]: the console script, as users run it
    return run_rwkd(args, cwd=tmp, env=env, script=str(Path(sys.executable).with_name("rwkd")), timeout=600)


def _ddp_record(folder: Path) -> dict:
    results = json.loads((folder / "results.json").read_text())
    state = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    shards = {r: pq.read_table(folder / f"sample_weights.rank{r}.parquet") for r in (0, 1)}
    return {"history": results["history"], "shards": shards, "state": state}


@pytest.fixture(scope="module")
def ddp_reference(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("ddp_resume")
    proc = _ddp_run(tmp, "reference")  # also fine-tunes the tiny teacher the other runs share
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, _ddp_record(_run_folder(tmp, "reference"))


def _assert_same_ddp_run(expected: dict, record: dict) -> None:
    assert record["history"] == expected["history"]
    for rank in (0, 1):  # each process's own sample log, continued from its own rows
        assert record["shards"][rank].num_rows == expected["shards"][rank].num_rows == 3 * 44  # shards padded alike
        assert record["shards"][rank].equals(expected["shards"][rank]), f"rank {rank}: weights or losses differ"
    for name in expected["state"]:
        assert _same(record["state"][name], expected["state"][name]), name


def test_a_two_process_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(ddp_reference):
    tmp, expected = ddp_reference
    killed = _ddp_run(tmp, "killed", kill_at=5)  # epoch 1, steps 3-5; last.ckpt from step 4
    assert killed.returncode != 0
    folder = _run_folder(tmp, "killed")
    assert not (folder / "results.json").exists()
    assert torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"] == 4

    resumed = _ddp_run(tmp, "killed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_same_ddp_run(expected, _ddp_record(folder))


def test_a_signal_to_one_process_stops_both_at_the_same_step(ddp_reference):
    tmp, expected = ddp_reference
    stopped = _ddp_run(tmp, "signalled", signal_at="4:SIGTERM:0")  # rank 0 alone hears it
    assert stopped.returncode == 75, stopped.stderr[-3000:]
    folder = _run_folder(tmp, "signalled")
    assert torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"] == 5
    resumed = _ddp_run(tmp, "signalled")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_same_ddp_run(expected, _ddp_record(folder))


def test_two_sweeps_on_one_folder_train_each_job_once(tmp_path):
    import os
    import subprocess
    import sys
    import time

    sweep = ["train", "-m", *RUN, "trainer.max_epochs=1", "seed=1,2,3", f"paths.outputs={tmp_path / 'out'}",
             f"paths.teachers={tmp_path / 'teachers'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = {**os.environ, "PYTHONPATH": TESTS}
    first = subprocess.Popen([sys.executable, "-m", "rwkd.cli", *sweep], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not list((tmp_path / "sweep").glob("*/checkpoints")) and time.time() < deadline:
        time.sleep(0.5)  # the first sweep is training its first job (after fine-tuning the teacher)
    second = run_rwkd(sweep, cwd=tmp_path, env={"PYTHONPATH": TESTS})
    out_first, err_first = first.communicate(timeout=600)
    assert first.returncode == 0 and second.returncode == 0, err_first[-2000:] + second.stderr[-2000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert len(jobs) == 3 and all((j / "results.json").is_file() for j in jobs)
    both = out_first + second.stdout
    for job, seed in zip(jobs, (1, 2, 3), strict=True):
        trained = len(re.findall(rf"rwkd: rte \S.* seed {seed}: best val/headline", both))
        assert trained == 1, f"{job.name} trained {trained} times"


def test_a_job_another_process_holds_is_skipped_and_trained_by_the_next_sweep(tmp_path):
    import fcntl
    import os

    sweep = ["train", "-m", *RUN, "trainer.max_epochs=1", "seed=1,2", f"paths.outputs={tmp_path / 'out'}",
             f"paths.teachers={tmp_path / 'teachers'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    held = tmp_path / "sweep" / "1_rte_metanet_terms_seed2"
    held.mkdir(parents=True)
    fd = os.open(held / ".rwkd.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a first sweep training that job would
    os.write(fd, f"pid {os.getpid()}".encode())
    try:
        first = run_rwkd(sweep, cwd=tmp_path, env={"PYTHONPATH": TESTS})
    finally:
        os.close(fd)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"rwkd: {held} is being trained by pid {os.getpid()}; skipped here" in first.stdout
    assert (tmp_path / "sweep" / "0_rte_metanet_terms_seed1" / "results.json").is_file()
    assert not (held / "results.json").exists() and not (held / "failed.json").exists()

    second = run_rwkd(sweep, cwd=tmp_path, env={"PYTHONPATH": TESTS})
    assert second.returncode == 0, second.stderr[-3000:]
    assert "0_rte_metanet_terms_seed1 has finished already" in second.stdout
    assert (held / "results.json").is_file()
