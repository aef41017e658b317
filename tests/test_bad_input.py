"""Every bad input gets one line on stderr naming the bad value and what is accepted, and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY, run_rwkd, run_rwkd_here, write_tsv

pytestmark = pytest.mark.slow


def _rte_dir(root: Path, rows: list[list[str]]) -> Path:
    header = ["index", "sentence1", "sentence2", "label"]
    write_tsv(root / "RTE" / "train.tsv", header, rows)
    write_tsv(root / "RTE" / "dev.tsv", header, [["0", "a", "b", "entailment"]])
    return root


def _good_rows(n: int = 30) -> list[list[str]]:
    return [[str(i), f"premise {i}", f"hypothesis {i}", "entailment" if i % 2 else "not_entailment"] for i in range(n)]


CASES = {
    "unknown task": (["train", "task=foo"], r"unknown task 'foo'; accepted: .*mrpc"),
    "unknown task name": (["train", "task.name=foo", *TINY], r"unknown task 'foo'; accepted: cola, sst2"),
    "unknown weighting": (["train", "weighting=magic"], r"unknown weighting 'magic'; accepted: .*fixed.*none"),
    "unknown command": (["fit"], r"unknown command 'fit'; accepted: train, teacher, eval, predict, report"),
    "alpha above 1": (["train", "task=rte", *TINY, "weighting.alpha=1.5"], r"weighting.alpha=1.5 is outside \[0, 1\]"),
    "alpha below 0": (["train", "task=rte", *TINY, "weighting.alpha=-0.1"], r"weighting.alpha=-0.1 is outside \[0, 1\]"),
    "missing data folder": (["train", "task=rte", *TINY, "data.dir=/no/such/glue"],
                            r"GLUE data folder /no/such/glue does not exist; expected the GLUE layout /no/such/glue/RTE/\{train,dev\}\.tsv"),
    "missing split file": (["train", "task=qnli", *TINY, "weighting=none"], r"missing split file .*QNLI/train\.tsv; expected the GLUE layout"),
    "missing checkpoint": (["eval", "ckpt=/no/such/best.ckpt"], r"ckpt=/no/such/best.ckpt does not exist"),
    "unknown kd loss": (["train", "task=rte", *TINY, "kd.loss=l1"], r"kd.loss='l1' is unknown; accepted: kl, mse"),
    "meta split too large": (["train", "task=rte", *TINY, "weighting=none", "data.meta_size=500"],
                             r"data.meta_size=500 leaves no training samples; the train pool has 96 rows"),
    "unknown resume mode": (["train", "task=rte", *TINY, "resume=maybe"],
                            r"resume='maybe' is unknown; accepted: never, auto \(or ckpt_path=FILE\)"),
    "missing resume checkpoint": (["train", "task=rte", *TINY, "ckpt_path=/no/such/last.ckpt"],
                                  r"ckpt_path=/no/such/last.ckpt does not exist"),
    # every setting is checked before any work (rwkd/config/settings.py)
    "batch size zero": (["train", "task=rte", *TINY, "data.batch_size=0"],
                        r"data.batch_size=0 is outside \[1, inf\); accepted: an integer >= 1"),
    "seed not a number": (["train", "task=rte", *TINY, "seed=abc"], r"seed='abc' is not an integer"),
    "seed empty": (["train", "task=rte", *TINY, "seed="], r"seed='' is not an integer"),
    "negative learning rate": (["train", "task=rte", *TINY, "optim.lr=-0.1"],
                               r"optim.lr=-0.1 is outside \(0, inf\); accepted: a number > 0"),
    "negative meta floor": (["train", "task=rte", *TINY, "weighting=meta", "weighting.delta=-1"],
                            r"weighting.delta=-1 is outside \(0, inf\); accepted: a number > 0"),
    "meta scheme without a meta split": (["train", "task=rte", *TINY, "weighting=meta", "data.meta_size=0"],
                                         r"data.meta_size=0 leaves no meta split, and the weighting \(RWKD\) learns on one"),
    "scoring a meta split that is not there": (["train", "task=rte", *TINY, "data.meta_size=0", "data.eval_meta_split=true"],
                                               r"data.meta_size=0 leaves no meta split to score"),
    "bad value in a sweep": (["train", "-m", "task=rte", *TINY, "seed=1,x"], r"seed='x' is not an integer"),
    "misspelt key": (["train", "task=rte", *TINY, "data.batchsize=8"],
                     r"data.batchsize is not a setting of rwkd train; accepted under data: .*batch_size"),
    "added key the data does not take": (["train", "task=rte", *TINY, "+data.extra=1"],
                                         r"data.extra is not a setting of rwkd.data.datamodule.GlueDataModule; accepted: .*meta_size"),
    "non-finite temperature": (["train", "task=rte", *TINY, "kd.temperature=nan"], r"kd.temperature=nan is not a number > 0"),
    "teacher epochs zero": (["teacher", "task=rte", *TINY, "teacher.finetune.epochs=0"],
                            r"teacher.finetune.epochs=0 is outside \[1, inf\); accepted: an integer >= 1"),
    "unknown metanet input": (["train", "task=rte", *TINY, "weighting=metanet", "weighting.inputs=[foo]"],
                              r"weighting.inputs=\['foo'\] is not a non-empty list of label_loss, kd_loss"),
    "empty task": (["train", "task="], r"unknown task ''; accepted: cola"),
    "no weighting": (["train", "weighting=null"], r"unknown weighting 'null'; accepted: annealed"),
    "token length past the model's positions": (["train", "task=rte", *TINY, "data.max_len=100000"],
                                                 r"data.max_len=100000 is longer than the teacher model's 128 positions"),
    "student layers outside the model": (["train", "task=rte", "student.model.layers=[0,9]"],
                                         r"student.model.layers=\[0, 9\] is not a non-empty list of layer indices of the "
                                         r"6-layer model it is cut from; accepted: indices in \[0, 5\]"),
    "a device this machine lacks": (["train", "task=rte", *TINY, "trainer.accelerator=gpu"],
                                    r"Lightning refuses the trainer settings \(trainer.\*\): No supported gpu backend"),
    "zero devices": (["train", "task=rte", *TINY, "trainer.devices=0"], r"Lightning refuses the trainer settings"),
    "rule undefined for the task": (["train", "task=stsb", *TINY, "weighting=heuristic", "weighting.rule=student_entropy"],
                                    r"weighting.rule=student_entropy is not defined for the regression task stsb .*"
                                    r"accepted there: teacher_confidence, teacher_correct, loss_ratio"),
}


def _assert_one_line_error(proc, pattern: str):
    assert proc.returncode == 2, f"exit {proc.returncode}; stderr:\n{proc.stderr[-2000:]}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rwkd: error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    import re

    assert re.search(pattern, errors[0]), errors[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_table(case, tmp_path):
    args, pattern = CASES[case]
    _assert_one_line_error(run_rwkd_here(args, cwd=tmp_path), pattern)


# One case per way out of the CLI, in a real process: a command refused before Hydra starts, a sweep refused by
# the check of every job's values, and an error raised inside a train job and inside an eval job.
REAL_PROCESS_CASES = ["unknown command", "bad value in a sweep", "missing data folder", "missing checkpoint"]


@pytest.mark.parametrize("case", REAL_PROCESS_CASES)
def test_bad_input_in_a_real_process(case, tmp_path):
    args, pattern = CASES[case]
    _assert_one_line_error(run_rwkd(args, cwd=tmp_path, process=True), pattern)
    if case == "rule undefined for the task":
        assert not (tmp_path / "outputs" / "teachers").exists()  # stopped before fine-tuning a teacher


def test_malformed_row_names_file_and_line(tmp_path):
    rows = _good_rows()
    rows[4] = ["4", "only two", "columns"]
    glue = _rte_dir(tmp_path / "glue", rows)
    proc = run_rwkd_here(["train", "task=rte", *TINY, "weighting=none", f"data.dir={glue}"], cwd=tmp_path)
    _assert_one_line_error(proc, r"RTE/train\.tsv:6: malformed row: expected 4 tab-separated columns, found 3")


def test_label_out_of_range_names_value(tmp_path):
    rows = _good_rows()
    rows[2][3] = "maybe"
    glue = _rte_dir(tmp_path / "glue", rows)
    proc = run_rwkd_here(["train", "task=rte", *TINY, "weighting=none", f"data.dir={glue}"], cwd=tmp_path)
    _assert_one_line_error(proc, r"RTE/train\.tsv:4: label 'maybe' out of range; rte accepts entailment, not_entailment")


def test_file_that_is_not_a_checkpoint(tmp_path):
    fake = tmp_path / "best.ckpt"
    fake.write_text("not a checkpoint")
    _assert_one_line_error(run_rwkd_here(["eval", f"ckpt={fake}"], cwd=tmp_path), r"is not a checkpoint")
    folder = tmp_path / "export"
    folder.mkdir()
    _assert_one_line_error(run_rwkd_here(["eval", f"ckpt={folder}"], cwd=tmp_path), r"folder without config.json")


def test_torch_file_that_is_not_an_rwkd_checkpoint(tmp_path):
    import torch

    other = tmp_path / "other.ckpt"
    torch.save({"weights": torch.zeros(2)}, other)
    _assert_one_line_error(run_rwkd_here(["eval", f"ckpt={other}"], cwd=tmp_path), r"not a Lightning checkpoint")


def test_non_finite_loss_stops_with_the_step(tmp_path):
    # an absurd init scale overflows the student's activations: its very first loss is not finite
    proc = run_rwkd(["train", "task=rte", *TINY, "weighting=none",
                     "+student.model.config_overrides.initializer_range=1e30"], cwd=tmp_path)
    _assert_one_line_error(proc, r"non-finite loss \(nan\) at step 0, epoch 0; last good checkpoint: none saved yet")


def test_empty_and_header_only_files(tmp_path):
    glue = _rte_dir(tmp_path / "glue", _good_rows())
    (glue / "RTE" / "train.tsv").write_text("")
    proc = run_rwkd_here(["train", "task=rte", *TINY, "weighting=none", f"data.dir={glue}"], cwd=tmp_path)
    _assert_one_line_error(proc, r"RTE/train\.tsv is empty; expected a header and tab-separated rows")
    (glue / "RTE" / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n")
    proc = run_rwkd_here(["train", "task=rte", *TINY, "weighting=none", f"data.dir={glue}"], cwd=tmp_path)
    _assert_one_line_error(proc, r"RTE/train\.tsv has a header but no rows")


def test_unwritable_outputs_folder(tmp_path):
    (tmp_path / "a_file").write_text("in the way")
    proc = run_rwkd(["train", "task=rte", *TINY, f"paths.outputs={tmp_path / 'a_file' / 'outputs'}"], cwd=tmp_path)
    _assert_one_line_error(proc, r"paths.outputs=.*a_file/outputs is not a writable folder \(.*\); give one with paths.outputs=DIR")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished tiny RTE run that kept its last.ckpt (full state) and best.ckpt (weights)."""
    tmp = tmp_path_factory.mktemp("finished")
    proc = run_rwkd(["train", "task=rte", *TINY, "weighting=none", "checkpoint.keep_last=true", "export=false",
                     f"hydra.run.dir={tmp / 'run'}"], cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run" / "checkpoints"


RESUME_CASES = {
    "truncated checkpoint": ("truncated", [], r"truncated.ckpt is not a checkpoint \(not a complete torch save file: truncated or corrupt\?\)"),
    "other learning rate": ("last", ["optim.lr=0.1"], r"was made with optim.lr=0.0001, this run has optim.lr=0.1; "
                                                      r"resume with the same settings, or start a new run with resume=never"),
    "other task": ("last", ["task=mrpc"], r"was made with task\.\w+=.*, this run has task\.\w+="),
    "weights-only checkpoint": ("best", [], r"best.ckpt holds weights only \(like best.ckpt\); resume from checkpoints/last.ckpt"),
}


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_checkpoints_that_cannot_be_resumed(case, finished_run, tmp_path):
    name, extra, pattern = RESUME_CASES[case]
    if name == "truncated":
        data = (finished_run / "last.ckpt").read_bytes()
        (tmp_path / "truncated.ckpt").write_bytes(data[: len(data) // 2])
        ckpt = tmp_path / "truncated.ckpt"
    else:
        ckpt = finished_run / f"{name}.ckpt"
    proc = run_rwkd_here(["train", "task=rte", *TINY, "weighting=none", f"ckpt_path={ckpt}", *extra], cwd=tmp_path)
    _assert_one_line_error(proc, pattern)


def test_eval_refuses_another_task_and_label_count(finished_run, tmp_path):
    best = finished_run / "best.ckpt"
    proc = run_rwkd_here(["eval", f"ckpt={best}", "task=mrpc"], cwd=tmp_path)
    _assert_one_line_error(proc, r"was trained on rte, not task=mrpc; drop task= .* or add cross_task=true")
    proc = run_rwkd_here(["eval", f"ckpt={best}", "task=stsb", "cross_task=true"], cwd=tmp_path)
    _assert_one_line_error(proc, r"has 2 output\(s\); task stsb needs 1")
    data = best.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 3])
    _assert_one_line_error(run_rwkd_here(["eval", f"ckpt={tmp_path / 'cut.ckpt'}"], cwd=tmp_path),
                           r"cut.ckpt is not a checkpoint \(not a complete torch save file: truncated or corrupt\?\)")


def test_damaged_teacher_cache_is_rebuilt_not_used(tmp_path):
    args = ["task=rte", *TINY, f"paths.outputs={tmp_path / 'out'}"]
    first = run_rwkd(["teacher", *args], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    (folder,) = (tmp_path / "out" / "teachers" / "rte").iterdir()
    weights = folder / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a truncated copy, as a full disk would leave it

    second = run_rwkd(["teacher", *args], cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "is damaged (its weights do not match the SHA-256 in teacher.json); fine-tuning it again" in second.stdout
    import json

    from rwkd.records.provenance import file_sha256

    assert json.loads((folder / "teacher.json").read_text())["weights_sha256"] == file_sha256(weights)


def test_eval_settings_are_checked_before_the_checkpoint_is_scored(finished_run, tmp_path):
    best = finished_run / "best.ckpt"
    (tmp_path / "a_file").write_text("in the way")
    for extra, pattern in [
        (["device=banana"], r"device='banana' is not a device; accepted: cpu, cuda, cuda:N"),
        (["data.eval_batch_size=0"], r"data.eval_batch_size=0 is outside \[1, inf\); accepted: an integer >= 1"),
        (["cross_task=maybe"], r"cross_task='maybe' is not true or false"),
        ([f"out={tmp_path / 'a_file' / 'x.json'}"], r"out=.*a_file/x.json cannot be written \(File exists\); "
                                                    r"give a writable path with out=FILE"),
    ]:
        _assert_one_line_error(run_rwkd_here(["eval", f"ckpt={best}", *extra], cwd=tmp_path), pattern)


def test_a_hidden_state_layer_the_teacher_lacks_is_refused_before_any_fine_tuning(tmp_path):
    # (a scheme that cannot weigh the terms is refused at the same point: test_k_terms.py, annealing_kd)
    proc = run_rwkd_here(["train", "task=rte", "teacher=tiny", "student=tiny", "terms=hidden", "kd.hidden.0.teacher_layer=9"],
                    cwd=tmp_path)
    _assert_one_line_error(proc, r"^rwkd: error: kd.hidden\[0\].teacher_layer=9 is not a hidden state of the teacher 0")
    assert not (tmp_path / "outputs" / "teachers").exists()
