"""Teacher outputs as an artefact: `rwkd teacher` writes them, `rwkd train teacher.outputs=DIR` distils them with
no teacher at all and gets the very run the teacher itself gives, and a rebuild reproduces them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY, run_rwkd, run_rwkd_here

from rwkd.teacher.outputs import LOGITS, OUTPUTS_RECORD, TeacherOutputs

pytestmark = pytest.mark.slow


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _outputs_line(stdout: str) -> Path:
    return Path(re.search(r"teacher outputs in (\S+) \(id", stdout).group(1))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The tiny teacher fine-tuned on RTE, its outputs (with the last layer's [CLS] states), and a run on it."""
    root = tmp_path_factory.mktemp("outputs")
    proc = _ok(run_rwkd(["teacher", "task=rte", *TINY, f"paths.outputs={root}/out", "teacher_outputs.states=[-1]"],
                        cwd=root))
    folder = _outputs_line(proc.stdout)
    live = root / "with_teacher"
    _ok(run_rwkd(["train", "task=rte", *TINY, "weighting=fixed", f"paths.outputs={root}/out",
                  f"hydra.run.dir={live}"], cwd=root))
    return {"root": root, "folder": folder, "with_teacher": live}


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_the_folder_records_what_made_it_and_covers_the_pool_and_dev(written):
    record = json.loads((written["folder"] / OUTPUTS_RECORD).read_text())
    teacher = _results(written["with_teacher"])["teacher"]
    assert record["task"] == "rte" and record["weights_sha256"] == teacher["weights_sha256"]
    assert record["dev_metrics"] == teacher["dev_metrics"] and "meta/headline" in record["dev_metrics"]
    assert record["git_commit"] and "teacher task=rte" in record["command"]
    assert record["shape"] == {"num_hidden_layers": 2, "hidden_size": 32, "num_labels": 2}
    outputs = TeacherOutputs.open(written["folder"])
    assert torch.isfinite(outputs.table("train")).any() and torch.isfinite(outputs.table("dev")).all()
    assert outputs.record["states"] == [2] and outputs.table("train", layer=2).shape[1] == 32  # -1: the last of 2
    # 96 train-pool rows (data.max_train_samples) and every dev row
    import pyarrow.parquet as pq

    splits = pq.read_table(written["folder"] / LOGITS).column("split").to_pylist()
    assert splits.count("train") == 96 and splits.count("dev") > 0


def test_dev_scores_follow_from_the_written_logits(written):
    """The record's dev headline is what the written dev logits score: predictions and scores travel together."""
    from rwkd.data.sources import GlueSource, default_glue_dir
    from rwkd.metrics import GlueMetrics
    from rwkd.tasks import get_task

    task = get_task("rte")
    outputs = TeacherOutputs.open(written["folder"])
    dev = GlueSource(task, default_glue_dir()).read("dev")[:48]  # data.max_eval_samples in TINY
    logits = outputs.table("dev")[[e.idx for e in dev]]
    metrics = GlueMetrics(task)
    metrics.update("dev", logits, torch.tensor([e.label for e in dev]))
    assert metrics.compute()["val/headline"] == pytest.approx(outputs.record["dev_metrics"]["val/headline"], abs=1e-6)


def test_a_run_on_the_outputs_is_the_run_on_the_teacher(written, tmp_path):
    run = tmp_path / "on_outputs"
    _ok(run_rwkd(["train", "task=rte", *TINY, "weighting=fixed", f"teacher.outputs={written['folder']}",
                  f"paths.outputs={tmp_path}/fresh", f"hydra.run.dir={run}"], cwd=tmp_path))
    mine, theirs = _results(run), _results(written["with_teacher"])
    assert not (tmp_path / "fresh" / "teachers" / "rte").exists()  # nothing fine-tuned: no teacher needed
    assert mine["teacher"]["origin"] == "outputs" and mine["teacher"]["outputs_id"]
    assert mine["teacher"]["weights_sha256"] == theirs["teacher"]["weights_sha256"]
    assert mine["best"]["metrics"] == theirs["best"]["metrics"]
    assert [h["val/headline"] for h in mine["history"]] == [h["val/headline"] for h in theirs["history"]]


def test_a_hidden_state_term_reads_the_written_states_and_refuses_missing_ones(written, tmp_path):
    run = tmp_path / "hidden"
    _ok(run_rwkd(["train", "task=rte", *TINY, "weighting=fixed", f"teacher.outputs={written['folder']}",
                  "+kd.hidden=[{student_layer: -1, teacher_layer: -1, teacher: 0}]", f"paths.outputs={tmp_path}/o",
                  f"hydra.run.dir={run}"], cwd=tmp_path))
    assert _results(run)["terms"][-1]["name"] == "hidden0"
    refused = run_rwkd_here(["train", "task=rte", *TINY, "weighting=fixed", f"teacher.outputs={written['folder']}",
                             "+kd.hidden=[{student_layer: -1, teacher_layer: 1, teacher: 0}]",
                             f"paths.outputs={tmp_path}/o2"], cwd=tmp_path)
    assert refused.returncode != 0 and "hold no [CLS] states after layer 1" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("problem", ["damaged", "other_task", "init_teacher", "live", "no_folder"])
def test_outputs_that_cannot_serve_are_refused_in_one_line(written, tmp_path, problem):
    folder = written["folder"]
    args = ["train", "task=rte", *TINY, "weighting=fixed", f"paths.outputs={tmp_path}/o"]
    if problem == "damaged":
        folder = tmp_path / "copy"
        shutil.copytree(written["folder"], folder)
        data = bytearray((folder / LOGITS).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / LOGITS).write_bytes(bytes(data))
        expected = "does not match the SHA-256"
    elif problem == "other_task":
        args[1] = "task=mrpc"
        expected = "are for task rte, not mrpc"
    elif problem == "init_teacher":
        args.append("student.init=teacher")
        expected = "student.init=teacher copies the teacher's layers"
    elif problem == "live":
        args.append("teacher.cache_logits=false")
        expected = "not a model to run live"
    else:
        folder = tmp_path / "nothing"
        expected = "is not a folder with outputs.json"
    refused = run_rwkd_here([*args, f"teacher.outputs={folder}"], cwd=tmp_path)
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], refused.stderr


def test_a_rebuild_reproduces_the_predictions_scores_and_logits(written, tmp_path):
    """The teacher fine-tuned again from nothing on this machine: the same predictions and dev scores, and logits
    within 1e-6 (CPU kernels under the same thread count: in practice the same bits)."""
    proc = _ok(run_rwkd(["teacher", "task=rte", *TINY, f"paths.outputs={tmp_path}/out", "teacher_outputs.states=[-1]"],
                        cwd=tmp_path))
    rebuilt, first = TeacherOutputs.open(_outputs_line(proc.stdout)), TeacherOutputs.open(written["folder"])
    assert rebuilt.record["dev_metrics"] == first.record["dev_metrics"]
    for split in ("train", "dev"):
        a, b = rebuilt.table(split), first.table(split)
        held = ~torch.isnan(b).any(-1)
        assert torch.equal(a[held].argmax(-1), b[held].argmax(-1))
        assert (a[held] - b[held]).abs().max().item() <= 1e-6


def test_the_teacher_command_run_again_keeps_outputs_already_written_and_rewrites_damaged_ones(written, tmp_path):
    folder = written["folder"]
    before = json.loads((folder / OUTPUTS_RECORD).read_text())
    proc = _ok(run_rwkd(["teacher", "task=rte", *TINY, f"paths.outputs={written['root']}/out",
                         "teacher_outputs.states=[-1]"], cwd=written["root"]))
    assert "are those of this teacher and data already; kept" in proc.stdout
    assert json.loads((folder / OUTPUTS_RECORD).read_text()) == before
    (folder / LOGITS).write_bytes(b"damaged")
    proc = _ok(run_rwkd(["teacher", "task=rte", *TINY, f"paths.outputs={written['root']}/out",
                         "teacher_outputs.states=[-1]"], cwd=written["root"]))
    assert "kept" not in proc.stdout
    assert json.loads((folder / OUTPUTS_RECORD).read_text())["id"] == before["id"]  # the same bytes, written again


def test_states_in_float16_are_the_float32_states_rounded_and_take_about_half_the_room(written, tmp_path):
    """teacher_outputs.state_dtype=float16 (outputs meant to be committed): the same teacher, the same logits, and
    states that read back as float32 equal to the float32 states rounded to half precision."""
    proc = _ok(run_rwkd(["teacher", "task=rte", *TINY, f"paths.outputs={written['root']}/out",
                         f"paths.teacher_outputs={tmp_path}/half", "teacher_outputs.states=[-1]",
                         "teacher_outputs.state_dtype=float16"], cwd=written["root"]))
    assert "reusing the fine-tuned teacher" in proc.stdout  # the cached teacher, not another one
    half, full = TeacherOutputs.open(_outputs_line(proc.stdout)), TeacherOutputs.open(written["folder"])
    assert half.record["state_dtype"] == "float16" and full.record["state_dtype"] == "float32"
    assert half.record["weights_sha256"] == full.record["weights_sha256"] and half.record["id"] != full.record["id"]
    assert torch.allclose(half.table("train"), full.table("train"), equal_nan=True, rtol=0, atol=0)  # logits: equal
    a, b = half.table("train", layer=2), full.table("train", layer=2)
    assert a.dtype == torch.float32 and torch.equal(torch.isnan(a), torch.isnan(b))
    held = ~torch.isnan(b).any(-1)
    assert torch.equal(a[held], b[held].half().float()) and not torch.equal(a[held], b[held])
    assert (half.folder / "states_2.parquet").stat().st_size < 0.7 * (full.folder / "states_2.parquet").stat().st_size
