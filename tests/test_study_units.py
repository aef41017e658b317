"""Pairing units (rwkd/study/units.py): a study lane runs a task's seed in a term set only where no run of it was cut
from another build of the student's source, so that a study run in parts on different kinds of CPU keeps its pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rwkd.cli import compose_train
from rwkd.errors import RwkdError
from rwkd.study.units import held_reason, main, teacher_refusal, unit_builds, unit_complete
from rwkd.teacher.student_source import source_folder

HERE, THERE = "a" * 64, "b" * 64  # this machine's build of the source, and another machine's


def _finished(sweep: Path, task: str, weighting: str, seed: int, build: str | None) -> None:
    job = sweep / task / weighting / f"seed{seed}"
    job.mkdir(parents=True)
    source = {"weights_sha256": build} if build else None
    (job / "results.json").write_text(json.dumps({"task": task, "seed": seed, "student": {"source": source}}))


def test_a_unit_begun_from_another_build_is_held_until_it_is_complete(tmp_path):
    sweep = tmp_path / "terms2"
    rows = ["fixed_a50", "meta", "none"]
    _finished(sweep, "mrpc", "fixed_a50", 2, THERE)
    assert unit_builds(sweep, "mrpc", 2) == {THERE: ["fixed_a50"]}
    reason = held_reason(sweep, "mrpc", 2, rows, HERE)
    assert reason == (f"terms2/mrpc/seed2 is kept for the machine that made its student's source {THERE[:12]} "
                      f"(fixed_a50); this machine's build is {HERE[:12]}")
    # other seeds and tasks are other units
    assert held_reason(sweep, "mrpc", 3, rows, HERE) is None
    assert held_reason(sweep, "rte", 2, rows, HERE) is None
    # complete (a combination that is undefined counts by its not_applicable.json): a sweep over it trains nothing
    _finished(sweep, "mrpc", "meta", 2, THERE)
    (sweep / "mrpc" / "none" / "seed2").mkdir(parents=True)
    assert not unit_complete(sweep, "mrpc", 2, rows)
    (sweep / "mrpc" / "none" / "seed2" / "not_applicable.json").write_text("{}")
    assert unit_complete(sweep, "mrpc", 2, rows)
    assert held_reason(sweep, "mrpc", 2, rows, HERE) is None


def test_a_unit_begun_here_goes_on_and_a_mixed_one_is_held(tmp_path):
    sweep = tmp_path / "terms2"
    _finished(sweep, "stsb", "fixed_a50", 2, HERE)
    assert held_reason(sweep, "stsb", 2, ["fixed_a50", "meta"], HERE) is None
    _finished(sweep, "stsb", "meta", 2, THERE)
    assert held_reason(sweep, "stsb", 2, ["fixed_a50", "meta", "none"], HERE).startswith("terms2/stsb/seed2 is kept")


def test_a_student_with_no_fine_tuned_source_is_never_held(tmp_path):
    sweep = tmp_path / "terms2"
    _finished(sweep, "rte", "fixed_a50", 1, None)  # e.g. the pretrained MiniLM with its bit-stable head
    assert unit_builds(sweep, "rte", 1) == {}
    assert held_reason(sweep, "rte", 1, ["fixed_a50", "none"], HERE) is None
    _finished(sweep, "rte", "none", 2, THERE)
    assert held_reason(sweep, "rte", 2, ["fixed_a50", "none"], None) is None


def test_the_command_prints_the_seeds_to_run_from_this_machines_build(tmp_path, capsys):
    overrides = ["experiment=study_glue_v3", f"paths.outputs={tmp_path / 'outputs'}"]
    sweep = tmp_path / "outputs" / "studies" / "glue_v3" / "terms2"
    argv = [str(sweep), "--task", "mrpc", "--seeds", "2,3,4", "--weightings", "fixed_a50,none", "--", *overrides]
    with pytest.raises(RwkdError, match=r"the student's source for .* is not made on this machine .*; make it first: "
                                        r"rwkd teacher experiment=study_glue_v3 .* task=mrpc"):
        main(argv)
    record = source_folder(compose_train([*overrides, "task=mrpc"])) / "teacher.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"weights_sha256": HERE}))
    _finished(sweep, "mrpc", "fixed_a50", 2, THERE)
    _finished(sweep, "mrpc", "fixed_a50", 3, HERE)
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out == "3,4\n"
    assert err == (f"rwkd: terms2/mrpc/seed2 is kept for the machine that made its student's source {THERE[:12]} "
                   f"(fixed_a50); this machine's build is {HERE[:12]}\n")
    # without --weightings the unit is the composed sweep's own list (the tuning seeds)
    assert main([str(sweep), "--task", "mrpc", "--seeds", "1,2", "--", *overrides]) == 0
    assert capsys.readouterr().out == "1\n"


def test_bad_seeds_and_overrides_are_named():
    with pytest.raises(RwkdError, match=r"--seeds '2,x': accepted: comma-separated whole numbers"):
        main(["somewhere", "--task", "mrpc", "--seeds", "2,x"])
    # an option after `--` is an override to Hydra, and no valid one
    with pytest.raises(RwkdError, match=r"the overrides 'experiment=study_glue_v3 --weightings meta task=mrpc' do not "
                                        r"compose: .*; accepted: the run's overrides after --"):
        main(["somewhere", "--task", "mrpc", "--seeds", "2", "--", "experiment=study_glue_v3", "--weightings", "meta"])


def _k_term_run(sweep: Path, task: str, weighting: str, seed: int, build: str, scores: dict) -> None:
    """A finished run that distilled the student's source as its second teacher, as the v3 K-term runs do."""
    job = sweep / task / weighting / f"seed{seed}"
    job.mkdir(parents=True)
    minilm = {"path": f"outputs/teachers/{task}/minilm-l6-0123/model", "origin": "cache", "weights_sha256": build,
              "dev_metrics": scores}
    (job / "results.json").write_text(json.dumps({
        "task": task, "seed": seed, "student": {"source": {"weights_sha256": build}},
        "teacher": {"path": f"results/teacher_outputs/{task}/mpnet-base-4567", "origin": "outputs"},
        "more_teachers": [minilm]}))


def test_a_term_set_whose_live_teacher_the_sweep_would_refuse_is_held_whole(tmp_path):
    sweep = tmp_path / "terms4_teachers2_hidden1"
    scores = {"epoch": 2, "step": 486, "val/headline": 0.8573159277439117, "meta/headline": 0.8849175572395325}
    _k_term_run(sweep, "stsb", "fixed_a50", 1, THERE, scores)
    here = {"path": "elsewhere/teachers/stsb/minilm-l6-0123/model", "origin": "cache", "weights_sha256": HERE}
    # another build with other scores: the sweep's check (rwkd/teacher/sweep_check.py) would stop every job
    reason = teacher_refusal(sweep, "stsb", {**here, "dev_metrics": {**scores, "val/headline": 0.857276439666748}},
                             "same_scores")
    assert reason.startswith("terms4_teachers2_hidden1/stsb is held whole: its runs would stop before training: the "
                             "kd.teachers[0] for stsb here (minilm-l6-0123) has weights aaaaaaaaaaaa")
    # the same scores to the last digit: a rebuild the study accepts; never accepted where the study says never
    assert teacher_refusal(sweep, "stsb", {**here, "dev_metrics": scores}, "same_scores") is None
    assert teacher_refusal(sweep, "stsb", {**here, "dev_metrics": scores}, "never").startswith("terms4_teachers2_hidden1/stsb is held whole")
    # the same build, and other tasks, are not concerned
    assert teacher_refusal(sweep, "stsb", {**here, "weights_sha256": THERE, "dev_metrics": {}}, "never") is None
    assert teacher_refusal(sweep, "mrpc", {**here, "dev_metrics": {}}, "never") is None
