"""Resume after a real SIGKILL, determinism across processes, and resume=auto skipping finished runs.

All runs are `rwkd train` subprocesses on tiny models; a resumed run must match an uninterrupted one
exactly: every per-sample weight and loss at every step, every dev metric, and the final weights.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_rwkd

pytestmark = pytest.mark.slow

TESTS = str(Path(__file__).parent)
# 87 training rows in batches of 16: 6 steps an epoch, 18 in all; last.ckpt every 4 steps and after
# every validation, so a kill at step 10 resumes mid-epoch (step 8) and one at step 12 at an epoch end.
# Four terms (a second teacher, a hidden-state term): the meta-weight net's K-output head and Adam, the
# projection inside the student and the per-term columns of the sample log must all come back.
RUN = [
    "task=rte", "teacher=tiny", "student=tiny", "weighting=metanet_terms", "terms=two_teachers_hidden",
    "data.max_train_samples=96", "data.max_eval_samples=48", "data.max_len=48", "data.batch_size=16",
    "trainer.max_epochs=3", "trainer.enable_progress_bar=false", "logger=csv",
    "checkpoint.every_n_steps=4", "checkpoint.keep_last=true", "export=false",
    "+callbacks.kill._target_=fault_injection.KillAtStep", "+callbacks.signal._target_=fault_injection.SignalAtStep",
    "resume=auto",
]


def _train(tmp: Path, outputs: str, *extra: str, kill_at: int | None = None, signal_at: str | None = None,
           max_file_bytes: int | None = None):
    env = {"PYTHONPATH": TESTS}
    if kill_at is not None:
        env["RWKD_TEST_KILL_AT_STEP"] = str(kill_at)
    if signal_at is not None:
        env["RWKD_TEST_SIGNAL_AT_STEP"] = signal_at
    args = ["train", *RUN, f"paths.outputs={tmp / outputs}", f"paths.teachers={tmp / 'teachers'}", *extra]
    if max_file_bytes is None:
        return run_rwkd(args, cwd=tmp, env=env)
    import os
    import resource
    import subprocess
    import sys

    def limit():  # `ulimit -f`: a write past it fails as a full disk's would (EFBIG instead of ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run([sys.executable, "-m", "rwkd.cli", *args], cwd=tmp, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)


def _run_folder(tmp: Path, outputs: str) -> Path:
    (folder,) = (tmp / outputs / "runs" / "rte" / "metanet_terms").iterdir()
    return folder


def _record(folder: Path) -> dict:
    results = json.loads((folder / "results.json").read_text())
    state = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    return {"history": results["history"], "weights": pq.read_table(folder / "sample_weights.parquet"),
            "state": state, "results": results}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("resume")
    proc = _train(tmp, "reference")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, _record(_run_folder(tmp, "reference"))


def _same(a, b) -> bool:
    """Bit-for-bit equality of tensors, also inside the nested state a scheme keeps (Phi's optimizer)."""
    if torch.is_tensor(a):
        return torch.is_tensor(b) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def _assert_same_run(a: dict, b: dict) -> None:
    assert a["history"] == b["history"]
    assert a["weights"].num_rows == b["weights"].num_rows == 3 * 87
    assert a["weights"].equals(b["weights"]), "per-sample weights or losses differ"
    assert a["state"].keys() == b["state"].keys()
    for name in a["state"]:
        assert _same(a["state"][name], b["state"][name]), name


@pytest.mark.parametrize("kill_at", [10, 12], ids=["mid-epoch", "epoch-end"])
def test_run_killed_with_sigkill_resumes_to_the_same_result(reference, kill_at):
    tmp, expected = reference
    outputs = f"killed_at_{kill_at}"
    killed = _train(tmp, outputs, kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    folder = _run_folder(tmp, outputs)
    assert not (folder / "results.json").exists()
    saved = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == {10: 8, 12: 12}[kill_at]
    spent = saved["rwkd_progress"]["elapsed"]
    assert spent["processes"] == 1 and spent["cpu_seconds"] > 0 and spent["wall_seconds"] > 0

    resumed = _train(tmp, outputs)  # the same command: resume=auto finds the folder and its last.ckpt
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {folder / 'checkpoints' / 'last.ckpt'}" in resumed.stdout
    assert _run_folder(tmp, outputs) == folder  # no second folder
    record = _record(folder)
    assert record["results"]["resumed_from"] == str(folder / "checkpoints" / "last.ckpt")
    _assert_same_run(expected, record)
    # the step clock and sample count carry over too: a checkpoint taken mid-epoch holds its own step
    timing = record["results"]["timing"]
    assert (timing["steps"], timing["train_samples"]) == (18, 3 * 87)
    # and so does the cost: what the killed process had spent when it saved, plus the resuming process
    assert timing["processes"] == 2 and timing["cpu_seconds"] > spent["cpu_seconds"]
    assert timing["wall_seconds"] > spent["wall_seconds"]
    # the teacher stage's share carries over with it
    assert spent["cpu_seconds"] > spent["teacher_stage_cpu_seconds"] > 0
    assert timing["cpu_seconds"] > timing["teacher_stage_cpu_seconds"] > spent["teacher_stage_cpu_seconds"]


@pytest.mark.parametrize("name", ["SIGTERM", "SIGUSR1"])
def test_a_preempted_run_saves_its_step_exits_75_and_resumes_to_the_same_result(reference, name):
    tmp, expected = reference
    outputs = f"preempted_{name}"
    stopped = _train(tmp, outputs, signal_at=f"9:{name}")  # mid-epoch, between two step checkpoints (8 and 12)
    assert stopped.returncode == 75, stopped.stderr[-2000:]
    folder = _run_folder(tmp, outputs)
    last = folder / "checkpoints" / "last.ckpt"
    lines = [line for line in stopped.stderr.splitlines() if line.startswith("rwkd:")]
    assert lines == [f"rwkd: stopped by {name} after step 10; last.ckpt written to {last}; "
                     "the same command with resume=auto continues it"]
    assert "Traceback" not in stopped.stderr and not (folder / "results.json").exists()
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 10  # the step in hand finished

    resumed = _train(tmp, outputs)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {last}" in resumed.stdout
    _assert_same_run(expected, _record(folder))


def test_a_signal_in_the_last_validation_lets_the_job_finish_and_starts_no_next_job(tmp_path):
    """After the last step there is no step to stop at: the job finishes and records itself, and the sweep
    exits 75 instead of starting its next job (a signal noted there used to be dropped)."""
    sweep = _one_epoch_sweep(tmp_path)
    env = {"PYTHONPATH": TESTS, "RWKD_TEST_SIGNAL_AT_STEP": "last-validation:SIGTERM"}
    stopped = run_rwkd(["train", "-m", *sweep, "seed=1,2"], cwd=tmp_path, env=env)
    assert stopped.returncode == 75, stopped.stderr[-3000:]
    assert "rwkd: SIGTERM arrived after the last training step: the job finished and recorded its results" in stopped.stderr
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["0_rte_metanet_terms_seed1"]  # the second job never began
    assert (tmp_path / "sweep" / jobs[0] / "results.json").is_file()


def test_a_checkpoint_that_cannot_be_written_stops_in_one_line_and_leaves_the_previous_one(reference):
    tmp, expected = reference
    outputs = "no_space"
    assert _train(tmp, outputs, kill_at=10).returncode == -signal.SIGKILL  # last.ckpt from step 8
    folder = _run_folder(tmp, outputs)
    last = folder / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    full = _train(tmp, outputs, max_file_bytes=len(before) // 2)  # resumes, then cannot write step 12's
    assert full.returncode == 2, full.stderr[-3000:]
    errors = [line for line in full.stderr.splitlines() if line.startswith("rwkd: error:")]
    assert errors == [f"rwkd: error: no space to write {last} (File too large); the file there is as it was "
                      "before this write: free space (or raise the limit), then run the same command with resume=auto"]
    assert "Traceback" not in full.stderr
    assert last.read_bytes() == before and not list(last.parent.glob(".*.tmp"))  # intact, no stray temporary

    resumed = _train(tmp, outputs)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_same_run(expected, _record(folder))


def test_same_seed_same_results_and_other_seed_differs(reference):
    tmp, expected = reference
    again = _train(tmp, "again")
    assert again.returncode == 0, again.stderr[-3000:]
    _assert_same_run(expected, _record(_run_folder(tmp, "again")))

    other = _train(tmp, "other_seed", "seed=2")
    assert other.returncode == 0, other.stderr[-3000:]
    folder = _run_folder(tmp, "other_seed")
    different = _record(folder)
    assert not different["weights"].equals(expected["weights"])
    assert any(not _same(different["state"][k], expected["state"][k]) for k in expected["state"])


def test_resume_auto_skips_a_finished_run(reference):
    tmp, expected = reference
    proc = _train(tmp, "reference")
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = _run_folder(tmp, "reference")  # still one folder
    assert f"rwkd: {folder} has finished already" in proc.stdout
    assert json.loads((folder / "results.json").read_text())["history"] == expected["history"]


def test_resumed_sweep_skips_finished_jobs_and_reruns_failed_ones(tmp_path):
    sweep = [*RUN, "trainer.max_epochs=1", f"paths.outputs={tmp_path / 'out'}", f"paths.teachers={tmp_path / 'teachers'}"]
    first = run_rwkd(["train", "-m", *sweep, "seed=1,2"], cwd=tmp_path, env={"PYTHONPATH": TESTS})
    assert first.returncode == 0, first.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "out" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(jobs) == 2 and all((j / "results.json").is_file() for j in jobs)
    (jobs[1] / "results.json").unlink()  # as if the second job had been killed before it finished

    again = run_rwkd(["train", "-m", *sweep, "seed=1,2"], cwd=tmp_path, env={"PYTHONPATH": TESTS})
    assert again.returncode == 0, again.stderr[-3000:]
    assert [p.name for p in (tmp_path / "out" / "multiruns").iterdir()] == [sweep_dir.name]
    assert f"rwkd: {jobs[0]} has finished already" in again.stdout
    assert f"resuming from {jobs[1] / 'checkpoints' / 'last.ckpt'}" in again.stdout
    assert (jobs[1] / "results.json").is_file()


def _one_epoch_sweep(tmp_path: Path) -> list[str]:
    """A one-epoch sweep's arguments, its folder fixed at tmp_path/sweep whatever the seeds given."""
    return [*RUN, "trainer.max_epochs=1", f"paths.outputs={tmp_path / 'out'}", f"paths.teachers={tmp_path / 'teachers'}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}"]


def _sweep_with_seed_1_finished(tmp_path: Path) -> list[str]:
    sweep = _one_epoch_sweep(tmp_path)
    first = run_rwkd(["train", "-m", *sweep, "seed=1"], cwd=tmp_path, env={"PYTHONPATH": TESTS})
    assert first.returncode == 0, first.stderr[-3000:]
    return sweep


def test_a_stop_file_lets_a_sweep_count_its_finished_jobs_start_nothing_and_exit_75(tmp_path):
    sweep = _sweep_with_seed_1_finished(tmp_path)
    (tmp_path / "out" / "STOP").touch()
    stopped = run_rwkd(["train", "-m", *sweep, "seed=1,2"], cwd=tmp_path, env={"PYTHONPATH": TESTS})
    assert stopped.returncode == 75, stopped.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert len(jobs) == 2 and "has finished already" in stopped.stdout  # the finished job is still counted
    assert f"rwkd: {jobs[1]} not started: {tmp_path / 'out' / 'STOP'} exists" in stopped.stderr
    assert "1 job(s) not started because" in stopped.stderr
    assert not (jobs[1] / "results.json").exists() and not (jobs[1] / "failed.json").exists()

    (tmp_path / "out" / "STOP").unlink()
    again = run_rwkd(["train", "-m", *sweep, "seed=1,2"], cwd=tmp_path, env={"PYTHONPATH": TESTS})
    assert again.returncode == 0, again.stderr[-3000:]
    assert (jobs[1] / "results.json").is_file()


def test_a_sweep_job_whose_teacher_is_not_the_one_its_finished_jobs_distilled_stops_before_training(tmp_path):
    sweep = _sweep_with_seed_1_finished(tmp_path)
    (done,) = [p for p in (tmp_path / "sweep").iterdir() if p.is_dir()]
    record = json.loads((done / "results.json").read_text())
    # as if the finished job had distilled a teacher fine-tuned elsewhere, with other weights
    record["more_teachers"][0]["weights_sha256"] = "0" * 64
    (done / "results.json").write_text(json.dumps(record))
    again = run_rwkd(["train", "-m", *sweep, "seed=1,2"], cwd=tmp_path, env={"PYTHONPATH": TESTS})
    assert again.returncode == 2
    assert "the kd.teachers[0] for rte here (tiny-bert-" in again.stderr
    assert f"but {done} distilled 000000000000 from the same settings: the sweep's rows of rte would not share a " \
           "teacher" in again.stderr
    second = tmp_path / "sweep" / "1_rte_metanet_terms_seed2"
    assert (second / "failed.json").is_file() and not (second / "checkpoints").exists()  # stopped before training
    # a sweep over teacher settings is not concerned: another setting, another cache folder, another teacher
    from rwkd.teacher.sweep_check import check_sweep_teachers

    other = {"path": str(tmp_path / "teachers" / "rte" / "tiny-bert-0123456789ab" / "model"), "weights_sha256": "f" * 64}
    check_sweep_teachers("rte", [None, other], tmp_path / "elsewhere", sweep_dir=tmp_path / "sweep")


def test_a_setting_added_later_at_a_neutral_default_does_not_block_a_resume():
    from rwkd.run.resume import first_difference

    old = {"kd": {"temperature": 2.0}, "weighting": {"alpha": 0.5}}
    assert first_difference(old, {"kd": {"temperature": 2.0, "teachers": [], "hidden": []},
                                  "weighting": {"alpha": 0.5, "term_weights": None}}) is None
    # a new setting that changes the run is a difference
    assert first_difference(old, {"kd": {"temperature": 2.0, "teachers": [{"finetune": {"seed": 2}}]},
                                  "weighting": {"alpha": 0.5}}) == ("kd.teachers", "<unset>", [{"finetune": {"seed": 2}}])
    assert first_difference(old, {"kd": {"temperature": 2.0}, "weighting": {"alpha": 0.5, "term_weights": 0}}) is not None


def test_a_rebuilt_teacher_with_the_same_epoch_and_scores_is_accepted_only_when_asked(tmp_path):
    from rwkd.errors import RwkdError
    from rwkd.teacher.sweep_check import check_sweep_teachers

    folder = str(tmp_path / "teachers" / "rte" / "minilm-l6-0123456789ab" / "model")
    scores = {"epoch": 2, "step": 213, "val/acc": 0.5559566617012024, "val/headline": 0.5559566617012024,
              "meta/acc": 0.6104417443275452, "meta/headline": 0.6104417443275452}
    done = tmp_path / "sweep" / "rte" / "fixed" / "seed1"
    done.mkdir(parents=True)
    (done / "results.json").write_text(json.dumps(
        {"task": "rte", "teacher": {"path": folder, "weights_sha256": "a" * 64, "dev_metrics": scores}}))
    rebuild = {"path": folder, "weights_sha256": "b" * 64, "dev_metrics": dict(scores)}
    here, sweep = tmp_path / "sweep" / "rte" / "meta" / "seed1", tmp_path / "sweep"

    with pytest.raises(RwkdError, match="teacher.accept_rebuild=same_scores accepts a rebuild"):
        check_sweep_teachers("rte", [rebuild], here, sweep_dir=sweep)
    (line,) = check_sweep_teachers("rte", [rebuild], here, sweep_dir=sweep, accept_rebuild="same_scores")
    assert line.startswith("the teacher for rte here (minilm-l6-0123456789ab, weights bbbbbbbbbbbb) is a rebuild of")
    assert check_sweep_teachers("rte", [{**rebuild, "weights_sha256": "a" * 64}], here, sweep_dir=sweep,
                                accept_rebuild="same_scores") == []  # the same bits: nothing to accept
    # a rebuild that kept another epoch, or scored one digit apart, is another teacher
    for other in ({**scores, "epoch": 3}, {**scores, "meta/headline": 0.6104417443275453}):
        with pytest.raises(RwkdError, match="not a rebuild with the same scores"):
            check_sweep_teachers("rte", [{**rebuild, "dev_metrics": other}], here, sweep_dir=sweep,
                                 accept_rebuild="same_scores")
    with pytest.raises(RwkdError, match="teacher.accept_rebuild='always' is unknown; accepted: never, same_scores"):
        check_sweep_teachers("rte", [rebuild], here, sweep_dir=sweep, accept_rebuild="always")
