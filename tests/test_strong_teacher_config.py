"""experiment=strong_teacher: the MPNet teacher's committed outputs distilled into today's students, in one flag.
Its runs must be those the committed recipe-check records measured, so that their figures are its figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rwkd.cli import compose_train
from rwkd.config.settings import check_settings

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["mrpc", "rte", "stsb", "cola", "sst2"]
# what a run trains and distils; the check's own bookkeeping (sweep folders, exports, progress bar) aside
TRAINING = ["task", "teacher", "student", "optim", "kd", "weighting", "data", "seed", "trainer.max_epochs",
            "checkpoint.select_on"]


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


@pytest.mark.parametrize("task", TASKS)
def test_it_trains_what_the_committed_recipe_check_records_measured(task):
    one = compose_train(["experiment=strong_teacher", f"task={task}", "weighting=fixed_a25"])
    check = compose_train(["experiment=recipe_check_mpnet_ft", f"task={task}", "weighting=fixed_a25"])
    for key in TRAINING:
        assert _plain(OmegaConf.select(one, key)) == _plain(OmegaConf.select(check, key)), (task, key)


@pytest.mark.parametrize("task", TASKS)
def test_it_reads_the_committed_teacher_outputs_and_chooses_on_the_meta_split(task):
    cfg = compose_train(["experiment=strong_teacher", f"task={task}"])
    assert cfg.teacher.name == "mpnet-base" and cfg.student.init == "finetuned"
    assert (ROOT / cfg.teacher.outputs / "outputs.json").is_file()
    assert cfg.checkpoint.select_on == "meta" and cfg.data.eval_meta_split
    assert cfg.data.max_train_samples == (8000 if task == "sst2" else None)
    check_settings(cfg)  # a run would start: every setting is one it can use


def test_a_task_without_committed_outputs_fine_tunes_the_teacher():
    cfg = compose_train(["experiment=strong_teacher", "task=qnli"])
    assert cfg.teacher.outputs is None and cfg.teacher.name == "mpnet-base"
