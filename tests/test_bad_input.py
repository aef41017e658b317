"""Every bad input gets one line on stderr naming the bad value and what is accepted, and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY, run_rwkd, write_tsv

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
    "unknown command": (["fit"], r"unknown command 'fit'; accepted: train, teacher, eval, report"),
    "alpha above 1": (["train", "task=rte", *TINY, "weighting.alpha=1.5"], r"weighting.alpha=1.5 is outside \[0, 1\]"),
    "alpha below 0": (["train", "task=rte", *TINY, "weighting.alpha=-0.1"], r"weighting.alpha=-0.1 is outside \[0, 1\]"),
    "missing data folder": (["train", "task=rte", *TINY, "data.dir=/no/such/glue"],
                            r"GLUE data folder /no/such/glue does not exist; expected the GLUE layout /no/such/glue/RTE/\{train,dev\}\.tsv"),
    "missing split file": (["train", "task=qnli", *TINY, "weighting=none"], r"missing split file .*QNLI/train\.tsv; expected the GLUE layout"),
    "missing checkpoint": (["eval", "ckpt=/no/such/best.ckpt"], r"ckpt=/no/such/best.ckpt does not exist"),
    "unknown kd loss": (["train", "task=rte", *TINY, "kd.loss=l1"], r"kd.loss='l1' is unknown; accepted: kl, mse"),
    "meta split too large": (["train", "task=rte", *TINY, "weighting=none", "data.meta_size=500"],
                             r"data.meta_size=500 leaves no training samples; the train pool has 96 rows"),
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
    _assert_one_line_error(run_rwkd(args, cwd=tmp_path), pattern)


def test_malformed_row_names_file_and_line(tmp_path):
    rows = _good_rows()
    rows[4] = ["4", "only two", "columns"]
    glue = _rte_dir(tmp_path / "glue", rows)
    proc = run_rwkd(["train", "task=rte", *TINY, "weighting=none", f"data.dir={glue}"], cwd=tmp_path)
    _assert_one_line_error(proc, r"RTE/train\.tsv:6: malformed row: expected 4 tab-separated columns, found 3")


def test_label_out_of_range_names_value(tmp_path):
    rows = _good_rows()
    rows[2][3] = "maybe"
    glue = _rte_dir(tmp_path / "glue", rows)
    proc = run_rwkd(["train", "task=rte", *TINY, "weighting=none", f"data.dir={glue}"], cwd=tmp_path)
    _assert_one_line_error(proc, r"RTE/train\.tsv:4: label 'maybe' out of range; rte accepts entailment, not_entailment")


def test_file_that_is_not_a_checkpoint(tmp_path):
    fake = tmp_path / "best.ckpt"
    fake.write_text("not a checkpoint")
    _assert_one_line_error(run_rwkd(["eval", f"ckpt={fake}"], cwd=tmp_path), r"is not a checkpoint")
    folder = tmp_path / "export"
    folder.mkdir()
    _assert_one_line_error(run_rwkd(["eval", f"ckpt={folder}"], cwd=tmp_path), r"folder without config.json")


def test_torch_file_that_is_not_an_rwkd_checkpoint(tmp_path):
    import torch

    other = tmp_path / "other.ckpt"
    torch.save({"weights": torch.zeros(2)}, other)
    _assert_one_line_error(run_rwkd(["eval", f"ckpt={other}"], cwd=tmp_path), r"not a Lightning checkpoint")


def test_non_finite_loss_stops_with_the_step(tmp_path):
    # an absurd init scale overflows the student's activations: its very first loss is not finite
    proc = run_rwkd(["train", "task=rte", *TINY, "weighting=none",
                     "+student.model.config_overrides.initializer_range=1e30"], cwd=tmp_path)
    _assert_one_line_error(proc, r"non-finite loss \(nan\) at step 0, epoch 0; last good checkpoint: none saved yet")
