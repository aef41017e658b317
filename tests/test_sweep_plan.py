"""The progress line of a results page: the jobs a sweep plans, read from its multirun.yaml."""

from __future__ import annotations

import json

from omegaconf import OmegaConf

from rwkd.records.sweep_plan import read_plan


def _sweep(folder, params: dict, overrides: list[str]):
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create({"hydra": {"sweeper": {"params": params}, "overrides": {"task": overrides}},
                                     "seed": 1}), folder / "multirun.yaml")


def _job(folder, name: str, record: str = "results.json"):
    (folder / name).mkdir(parents=True)
    (folder / name / record).write_text(json.dumps({}))


def test_the_plan_multiplies_the_swept_values_and_counts_recorded_jobs(tmp_path):
    _sweep(tmp_path, {"task": "mrpc,rte,stsb", "weighting": "none,meta", "seed": "1,2,3"}, ["experiment=study"])
    _job(tmp_path, "mrpc/none/seed1")
    _job(tmp_path, "mrpc/none/seed2")
    _job(tmp_path, "stsb/meta/seed1", "not_applicable.json")
    (tmp_path / "mrpc/meta/seed1").mkdir(parents=True)  # started, nothing recorded yet
    plan = read_plan(tmp_path)
    assert plan.jobs == 18 and plan.recorded == 3
    assert plan.describe({"mrpc", "stsb"}) == (
        "Sweep progress: 3 of the 18 jobs it plans (3 tasks x 2 schemes x 3 seeds, from its multirun.yaml) "
        "have a record, results or not applicable; tasks with no record yet: rte.")


def test_command_line_sweeps_take_precedence_and_a_single_value_narrows(tmp_path):
    _sweep(tmp_path, {"task": "mrpc,rte", "seed": "1,2,3"}, ["task=cola", "weighting.alpha=0.1,0.5", "lr=3"])
    plan = read_plan(tmp_path)
    assert plan.params == {"task": ["cola"], "seed": ["1", "2", "3"], "weighting.alpha": ["0.1", "0.5"]}
    assert plan.jobs == 6
    assert "1 task x 3 seeds x 2 values of weighting.alpha" in plan.describe(set())


def test_no_plan_without_the_file_or_for_sweeps_it_cannot_expand(tmp_path):
    assert read_plan(tmp_path) is None
    _sweep(tmp_path, {"seed": "range(1,4)"}, [])
    assert read_plan(tmp_path) is None
