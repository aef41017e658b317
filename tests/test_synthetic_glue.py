"""benchmarks/synthetic_glue.py writes files the real GLUE reader accepts, with the label it promises."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from rwkd.data.glue_tsv import read_split
from rwkd.tasks import get_task

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_glue.py"
TASKS = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"]


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic_glue")
    subprocess.run([sys.executable, str(SCRIPT), str(out), "--tasks", *TASKS, "--train", "60", "--dev", "20"],
                   check=True, capture_output=True)
    return out


def _markers():
    spec = importlib.util.spec_from_file_location("synthetic_glue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MARKERS


@pytest.mark.parametrize("name", TASKS)
def test_every_split_parses_with_the_labels_it_was_written_with(synthetic_dir, name):
    task = get_task(name)
    markers = _markers()
    for split in ("train",) + task.dev_splits:
        rows = read_split(synthetic_dir, task, split)
        assert len(rows) == (60 if split == "train" else 20)
        assert (rows[0].text_b is None) == (task.text_b is None)
        if task.is_regression:
            assert all(0.0 <= r.label <= 5.0 for r in rows)
            continue
        # a class task's label is the marker word its first sentence holds, and no other marker is there
        for r in rows:
            words = r.text_a.split()
            assert [m for m in markers if m in words] == [markers[r.label]]
        assert len({r.label for r in rows}) == len(task.labels)
