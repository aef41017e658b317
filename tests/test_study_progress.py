"""Where a study run in parts stands (rwkd/study/progress.py): rows done and left per unit, the later seeds' rows once
the tuning seed has chosen them, builds, CPUs, CPU-hours and the CPU-hours left (rwkd/study/cost_estimate.py), from
the committed records alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rwkd.errors import RwkdError
from rwkd.study.cost_estimate import (
    cell_costs,
    later_rows,
    models_fine_tuned_apart,
    prior_scale,
    run_cost,
    unit_estimate,
)
from rwkd.study.plan import experiment_plan
from rwkd.study.progress import main, read_term_set, term_set_progress

FAMILIES = {"fixed": ["fixed_a25", "fixed_a50"]}
TUNING = ["none", "fixed_a25", "fixed_a50", "heuristic_entropy"]


def _run(folder: Path, task: str, config: str, seed: int, meta: float, build: str, cpu: str,
         cpu_seconds: float = 1800.0, primary: list | None = None) -> None:
    job = folder / task / config / f"seed{seed}"
    job.mkdir(parents=True)
    (job / "results.json").write_text(json.dumps({
        "task": task, "seed": seed, "weighting": config.replace("_a", "(alpha=0."),
        "choices": {"weighting": config}, "config": {"study": {"families": FAMILIES, "primary": primary or []}},
        "history": [{"epoch": 0, "meta/headline": meta}], "student": {"source": {"weights_sha256": build}},
        "hardware": {"cpu": cpu}, "timing": {"cpu_seconds": cpu_seconds}}))


def _undefined(folder: Path, task: str, config: str, seed: int) -> None:
    job = folder / task / config / f"seed{seed}"
    job.mkdir(parents=True)
    (job / "not_applicable.json").write_text(json.dumps({"task": task, "weighting": config}))


def test_a_unit_is_complete_left_or_unknown_by_the_tuning_seeds_choice(tmp_path):
    folder = tmp_path / "terms2"
    for config, meta in (("none", 0.70), ("fixed_a25", 0.74), ("fixed_a50", 0.72)):
        _run(folder, "stsb", config, 1, meta, "b" * 64, "Intel Xeon")
    _run(folder, "stsb", "fixed_a25", 2, 0.75, "a" * 64, "AMD EPYC")
    _run(folder, "rte", "none", 1, 0.6, "a" * 64, "AMD EPYC")

    # the tuning seed lacks a row: its choice, and so the later seeds' rows, are not known yet
    lines = term_set_progress(*read_term_set(folder), TUNING, ["stsb"], [1], [2])
    assert [(line["seed"], line["left"]) for line in lines] == [(1, ["heuristic_entropy"]), (2, None)]

    # a combination undefined for the task counts as done (its not_applicable.json); fixed_a25 won on the meta split
    _undefined(folder, "stsb", "heuristic_entropy", 1)
    stsb, later, rte = term_set_progress(*read_term_set(folder), TUNING, ["stsb", "rte"], [1], [2])[:3]
    assert stsb["left"] == [] and stsb["done"] == ["fixed_a25", "fixed_a50", "heuristic_entropy", "none"]
    assert (stsb["builds"], stsb["cpus"], stsb["cpu_hours"]) == (["bbbbbbbbbbbb"], ["Intel Xeon"], 1.5)
    assert later["left"] == ["none"] and later["builds"] == ["aaaaaaaaaaaa"]
    assert rte["left"] == ["fixed_a25", "fixed_a50", "heuristic_entropy"]


def test_a_seed_beyond_the_planned_ones_plans_the_primary_comparisons_rows_alone(tmp_path):
    folder, primary = tmp_path / "terms2", [{"scheme": "fixed", "reference": "none", "terms": "two"}]
    for config, meta in (("none", 0.70), ("fixed_a25", 0.72), ("fixed_a50", 0.74), ("heuristic_entropy", 0.73)):
        _run(folder, "stsb", config, 1, meta, "b" * 64, "AMD EPYC", primary=primary)
    _run(folder, "stsb", "none", 6, 0.71, "b" * 64, "AMD EPYC", primary=primary)
    tuning, later, more = term_set_progress(*read_term_set(folder), TUNING, ["stsb"], [1], [2], [6])
    assert later["left"] == ["fixed_a50", "heuristic_entropy", "none"]  # every row the tuning seed kept
    assert (more["seed"], more["done"], more["left"]) == (6, ["none"], ["fixed_a50"])  # alpha 0.5 won the meta split


def test_the_command_prints_a_table_per_term_set(tmp_path, capsys):
    _run(tmp_path / "terms2", "rte", "none", 1, 0.6, "a" * 64, "AMD EPYC")
    assert main([str(tmp_path), "--experiment", "study_glue_v3", "--term-set", "terms2",
                 "--term-set", "terms4=fixed_a50,meta", "--tasks", "rte", "--later-seeds", "2"]) == 0
    out = capsys.readouterr().out
    planned, families = experiment_plan("study_glue_v3")
    assert planned[:3] == ["none", "fixed_a25", "fixed_a50"] and len(planned) == 14
    assert families["fixed"] == ["fixed_a25", "fixed_a50", "fixed_a75"]
    # no other run measured: the 13 rows left have no cost, nor the later seed's 9 (one per family of four)
    assert (f"| rte | 1 | 1 | {', '.join(planned[1:])} | aaaaaaaaaaaa | AMD EPYC | 0.50 | "
            "0.00 + 13 row(s) unknown |") in out
    assert "| rte | 2 | 0 | ? |  |  | 0.00 | 0.50 + 8 row(s) unknown |" in out
    assert "### terms4" in out and "| rte | 1 | 0 | fixed_a50, meta |  |  | 0.00 | 0.00 + 2 row(s) unknown |" in out
    assert "1 runs, 0 of 2 units complete, 0.50 CPU-hours; about 0.5 CPU-hours left and 21 row(s) with no" in out


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(RwkdError, match=r"--later-seeds '2,x': accepted: comma-separated whole numbers"):
        main([str(tmp_path), "--experiment", "study_glue_v3", "--term-set", "terms2", "--tasks", "rte",
              "--later-seeds", "2,x"])
    with pytest.raises(RwkdError, match=r"--experiment 'no_such': no .*no_such\.yaml; accepted: a config of conf/experiment/"):
        experiment_plan("no_such")


def test_the_cost_left_comes_from_measured_runs_here_else_the_prior_study_scaled():
    def record(task, config, seconds):
        return {"task": task, "choices": {"weighting": config}, "timing": {"cpu_seconds": seconds}}

    filled = {**record("rte", "meta", 11700), "timing": {"cpu_seconds": 11700, "teacher_stage_cpu_seconds": 900}}
    here = cell_costs([record("rte", "none", 3600), record("rte", "none", 7200), record("rte", "meta", 10800),
                       record("rte", "fixed_a50", None), filled])
    # the quarter hour the first run spent filling the teacher caches is no later run's cost
    assert here == {("rte", "none"): 1.5, ("rte", "meta"): 3.0}
    prior = cell_costs([record("rte", "none", 2 * 3600), record("rte", "meta", 4 * 3600),
                        record("cola", "meta", 8 * 3600), record("cola", "fixed_a25", 3600)])
    scale = prior_scale(here, prior)
    assert scale == 4.5 / 6  # this study's runs cost three quarters of the prior's on the rows both ran
    assert prior_scale(here, {("sst2", "none"): 1.0}) is None
    assert run_cost("rte", "meta", here, prior, scale) == 3.0
    assert run_cost("cola", "meta", here, prior, scale) == 6.0
    assert run_cost("cola", "meta", here, prior, None) is None
    assert run_cost("cola", "metanet", here, prior, scale) is None

    families = {"fixed": ["fixed_a25", "fixed_a50"], "meta": ["meta", "meta_mix"]}
    planned = ["none", "fixed_a25", "fixed_a50", "meta", "meta_mix", "metanet"]
    assert later_rows(planned, families) == [["none"], ["fixed_a25", "fixed_a50"], ["meta", "meta_mix"], ["metanet"]]
    # rows known: each at its cost; rows not chosen yet: a family's row at the mean of its variants with a cost
    assert unit_estimate("cola", ["meta", "metanet"], planned, families, here, prior, scale) == (6.0, 1)
    assert unit_estimate("cola", None, planned, families, here, prior, scale) == (0.75 + 6.0, 2)
    assert unit_estimate("cola", [], planned, families, here, prior, scale) == (0.0, 0)


def test_the_command_estimates_from_a_prior_study(tmp_path, capsys):
    _run(tmp_path / "v3" / "terms2", "rte", "none", 1, 0.6, "a" * 64, "AMD EPYC", cpu_seconds=1800)
    _run(tmp_path / "v2" / "terms2", "rte", "none", 1, 0.6, "a" * 64, "AMD EPYC", cpu_seconds=3600)
    _run(tmp_path / "v2" / "terms2", "rte", "fixed_a25", 1, 0.6, "a" * 64, "AMD EPYC", cpu_seconds=7200)
    assert main([str(tmp_path / "v3"), "--experiment", "study_glue_v3", "--term-set", "terms2=none,fixed_a25",
                 "--tasks", "rte", "--later-seeds", "2", "--prior", str(tmp_path / "v2")]) == 0
    out = capsys.readouterr().out
    assert "| rte | 1 | 1 | fixed_a25 | aaaaaaaaaaaa | AMD EPYC | 0.50 | 1.00 |" in out
    assert "| rte | 2 | 0 | ? |  |  | 0.00 | 1.50 |" in out
    assert "In all: 0.50 CPU-hours spent (0.50 in the runs, 0.00 fine-tuning" in out
    assert "about 2.5 CPU-hours left (each run's cost: the mean of its task and weighting's runs here, else the prior " \
           "study's times 0.50)" in out


def test_models_fine_tuned_before_the_runs_count_once_each_and_not_again_where_a_run_did_it():
    mpnet = {"weights_sha256": "m" * 64, "origin": "outputs", "fine_tune_cpu_seconds": 7200}
    source = {"weights_sha256": "s" * 64, "origin": "cache", "fine_tune_cpu_seconds": 1800}
    by_a_run = {"weights_sha256": "r" * 64, "origin": "fine-tuned", "fine_tune_cpu_seconds": 3600}
    records = [
        {"teacher": mpnet, "more_teachers": [source], "student": {"source": source}},  # the MiniLM: kd1 and the start
        {"teacher": mpnet, "student": {"source": source}},
        {"teacher": {**by_a_run, "origin": "cache"}},  # the later runs read it from the cache the first one filled
        {"teacher": by_a_run},  # its cost is in this run's cpu_seconds
        {"teacher": {"origin": "outputs"}},  # no weights hash: nothing to count it by
    ]
    assert models_fine_tuned_apart(records) == 2.5
    assert models_fine_tuned_apart([]) == 0.0
