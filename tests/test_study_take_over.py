"""Taking over a held unit (rwkd/study/take_over.py): its runs from the other build move beside the study folder, with
the reason, in the outputs and the committed records alike, and the unit is free to be made here whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rwkd.cli import compose_train
from rwkd.errors import RwkdError
from rwkd.locks import job_lock
from rwkd.study.take_over import SUPERSEDED, main, superseded_root, take_over
from rwkd.study.units import held_reason
from rwkd.teacher.student_source import source_folder

HERE, THERE = "a" * 64, "b" * 64  # this machine's build of the source, and the one that is not coming back
ROWS = ["fixed_a50", "meta_mix", "none", "heuristic_correct"]


def _finished(root: Path, terms: str, task: str, weighting: str, seed: int, build: str) -> Path:
    job = root / terms / task / weighting / f"seed{seed}"
    job.mkdir(parents=True)
    (job / "results.json").write_text(json.dumps({"task": task, "seed": seed,
                                                  "student": {"source": {"weights_sha256": build}}}))
    return job


@pytest.fixture
def study(tmp_path) -> tuple[Path, Path]:
    """A study folder and its committed records: MRPC seed 2 begun on the other build (two rows finished, one
    interrupted, one undefined), and seed 3 begun there too."""
    outputs, records = tmp_path / "outputs" / "studies" / "glue_v3", tmp_path / "results" / "study_glue_v3"
    for root in (outputs, records):
        for row in ("fixed_a50", "none"):
            _finished(root, "terms2", "mrpc", row, 2, THERE)
        _finished(root, "terms2", "mrpc", "fixed_a50", 3, THERE)
    interrupted = outputs / "terms2" / "mrpc" / "meta_mix" / "seed2" / "checkpoints"
    interrupted.mkdir(parents=True)
    (interrupted / "last.ckpt").write_bytes(b"a start from the other build")
    (outputs / "terms2" / "mrpc" / "heuristic_correct" / "seed2").mkdir(parents=True)
    (outputs / "terms2" / "mrpc" / "heuristic_correct" / "seed2" / "not_applicable.json").write_text("{}")
    return outputs, records


def test_the_units_runs_move_beside_the_study_with_the_reason_and_the_unit_is_free(study):
    outputs, records = study
    sweep = outputs / "terms2"
    assert held_reason(sweep, "mrpc", 2, ROWS, HERE) is not None
    moved = take_over(sweep, records, "mrpc", [2], {"weights_sha256": HERE}, "same_scores", "the Intel machines are gone",
                      "python -m rwkd.study.take_over ...")
    aside, aside_records = superseded_root(outputs, THERE), superseded_root(records, THERE)
    assert aside == outputs.parent / "glue_v3_superseded" / THERE[:12]
    assert sorted(moved) == sorted([aside / "terms2/mrpc/fixed_a50/seed2", aside / "terms2/mrpc/none/seed2",
                                    aside / "terms2/mrpc/meta_mix/seed2", aside_records / "terms2/mrpc/fixed_a50/seed2",
                                    aside_records / "terms2/mrpc/none/seed2"])
    assert (aside / "terms2/mrpc/meta_mix/seed2/checkpoints/last.ckpt").read_bytes() == b"a start from the other build"
    note = json.loads((aside_records / "terms2/mrpc/none/seed2" / SUPERSEDED).read_text())
    assert {k: note[k] for k in ("reason", "build", "replaced_by", "moved_from")} == {
        "reason": "the Intel machines are gone", "build": THERE, "replaced_by": HERE, "moved_from": "terms2/mrpc/none/seed2"}
    assert json.loads((aside_records / "terms2/mrpc/none/seed2/results.json").read_text())["seed"] == 2
    # the study folders keep the undefined combination and the other units; the unit is free here now
    assert [p.relative_to(records).as_posix() for p in sorted(records.rglob("results.json"))] == [
        "terms2/mrpc/fixed_a50/seed3/results.json"]
    assert (sweep / "mrpc" / "heuristic_correct" / "seed2" / "not_applicable.json").is_file()
    assert not (sweep / "mrpc" / "meta_mix" / "seed2").exists()
    assert held_reason(sweep, "mrpc", 2, ROWS, HERE) is None
    assert held_reason(sweep, "mrpc", 3, ROWS, HERE) is not None


@pytest.mark.parametrize(("seeds", "message"), [
    ([4], r"terms2/mrpc/seed4 has no run from another build than this machine's \(aaaaaaaaaaaa\)"),
    ([2], r"terms2/mrpc/seed2 already has runs from this machine's build \(meta\) beside runs from bbbbbbbbbbbb"),
])
def test_a_unit_with_nothing_to_take_over_or_with_runs_from_here_is_refused_and_nothing_moves(study, seeds, message):
    outputs, records = study
    if seeds == [2]:
        _finished(outputs, "terms2", "mrpc", "meta", 2, HERE)
    before = sorted(p.as_posix() for p in outputs.parent.parent.rglob("*"))
    with pytest.raises(RwkdError, match=message):
        take_over(outputs / "terms2", records, "mrpc", seeds, {"weights_sha256": HERE}, "same_scores", "gone", "cmd")
    assert sorted(p.as_posix() for p in outputs.parent.parent.rglob("*")) == before


def test_a_run_being_trained_and_an_empty_reason_are_refused(study):
    outputs, records = study
    sweep = outputs / "terms2"
    with pytest.raises(RwkdError, match=r"--reason is empty"):
        take_over(sweep, records, "mrpc", [2], {"weights_sha256": HERE}, "same_scores", " ", "cmd")
    with job_lock(sweep / "mrpc" / "none" / "seed2"):  # as a lane training it would hold it
        with pytest.raises(RwkdError, match=r"mrpc/none/seed2 is being trained by pid \d+; stop its lane first"):
            take_over(sweep, records, "mrpc", [2], {"weights_sha256": HERE}, "same_scores", "gone", "cmd")
    assert (records / "terms2" / "mrpc" / "none" / "seed2" / "results.json").is_file()


def test_a_term_set_whose_live_teacher_would_still_be_refused_needs_its_other_seeds_too(tmp_path):
    sweep = tmp_path / "glue_v3" / "terms4_teachers2_hidden1"
    scores = {"epoch": 2, "val/headline": 0.857, "meta/headline": 0.885}
    for seed in (1, 2):
        job = sweep / "stsb" / "fixed_a50" / f"seed{seed}"
        job.mkdir(parents=True)
        minilm = {"path": "outputs/teachers/stsb/minilm-l6-0123/model", "origin": "cache", "weights_sha256": THERE,
                  "dev_metrics": scores}
        (job / "results.json").write_text(json.dumps({"task": "stsb", "seed": seed, "more_teachers": [minilm],
                                                      "student": {"source": {"weights_sha256": THERE}}}))
    here = {"path": "outputs/teachers/stsb/minilm-l6-0123/model", "origin": "cache", "weights_sha256": HERE,
            "dev_metrics": {**scores, "val/headline": 0.858}}
    with pytest.raises(RwkdError, match=r"its seeds 1 distilled another build: the sweep would still refuse it"):
        take_over(sweep, None, "stsb", [2], here, "same_scores", "gone", "cmd")
    assert (sweep / "stsb" / "fixed_a50" / "seed2" / "results.json").is_file()
    assert len(take_over(sweep, None, "stsb", [1, 2], here, "same_scores", "gone", "cmd")) == 2


def test_the_command_composes_this_machines_source_and_says_what_it_moved(study, tmp_path, capsys):
    outputs, records = study
    overrides = ["experiment=study_glue_v3", f"paths.outputs={tmp_path / 'outputs'}"]
    record = source_folder(compose_train([*overrides, "task=mrpc"])) / "teacher.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"weights_sha256": HERE}))
    with pytest.raises(RwkdError, match=r"--seeds '2,x': accepted: comma-separated whole numbers"):
        main([str(outputs / "terms2"), "--task", "mrpc", "--seeds", "2,x", "--reason", "gone"])
    argv = [str(outputs / "terms2"), "--records", str(records), "--task", "mrpc", "--seeds", "2",
            "--reason", "gone", "--", *overrides]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and lines[-1] == (f"rwkd: 5 folders moved; the sweep now makes terms2/mrpc seeds 2 from "
                                             f"this machine's build {HERE[:12]}")
    note = json.loads((superseded_root(records, THERE) / "terms2/mrpc/fixed_a50/seed2" / SUPERSEDED).read_text())
    assert note["command"].startswith("python -m rwkd.study.take_over ") and "--seeds 2" in note["command"]


def test_a_tuning_seed_goes_only_with_the_later_seeds_that_ran_its_choice(study):
    outputs, records = study
    sweep = outputs / "terms2"
    for root in (outputs, records):
        _finished(root, "terms2", "mrpc", "fixed_a50", 1, THERE)
    with pytest.raises(RwkdError, match=r"terms2/mrpc: taking over its tuning seeds would choose the variants again, "
                                        r"and its seeds 2,3 ran the old choice; accepted: --seeds with those too"):
        take_over(sweep, records, "mrpc", [1], {"weights_sha256": HERE}, "same_scores", "gone", "cmd")
    assert (records / "terms2/mrpc/fixed_a50/seed1/results.json").is_file()
    assert len(take_over(sweep, records, "mrpc", [1, 2, 3], {"weights_sha256": HERE}, "same_scores", "gone", "cmd")) == 9


def test_nothing_moves_where_a_place_aside_is_taken_and_a_take_over_stopped_part_way_goes_on(study):
    outputs, records = study
    sweep = outputs / "terms2"
    taken = superseded_root(outputs, THERE) / "terms2/mrpc/none/seed2"
    taken.mkdir(parents=True)
    with pytest.raises(RwkdError, match=r"none/seed2 exists already"):
        take_over(sweep, records, "mrpc", [2], {"weights_sha256": HERE}, "same_scores", "gone", "cmd")
    assert (records / "terms2/mrpc/fixed_a50/seed2").is_dir() and (sweep / "mrpc/fixed_a50/seed2").is_dir()
    taken.rmdir()
    # stopped after a folder's record moved and before its outputs did: nothing for study-restore to bring back,
    # and the same command moves the rest
    aside_records = superseded_root(records, THERE) / "terms2/mrpc/none/seed2"
    aside_records.parent.mkdir(parents=True)
    (records / "terms2/mrpc/none/seed2").rename(aside_records)
    moved = take_over(sweep, records, "mrpc", [2], {"weights_sha256": HERE}, "same_scores", "gone", "cmd")
    assert superseded_root(outputs, THERE) / "terms2/mrpc/none/seed2" in moved and aside_records not in moved
    assert not list((records / "terms2" / "mrpc").glob("*/seed2/results.json"))
    assert not list(sweep.glob("mrpc/*/seed2/results.json"))
