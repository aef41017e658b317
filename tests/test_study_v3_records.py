"""The third study's committed records (results/study_glue_v3, issue 54), checked as they arrive: each is a job of
the study's design (conf/experiment/study_glue_v3.yaml and the Makefile's K-term schemes), made by its command from
a clean commit, and the runs of one task and seed are pairs by their identity digests: the same student start,
train/meta split and batch order, and, within a term set, the same teacher outputs. A study run in parts on
different kinds of CPU may hold two builds of the student's source: then the unit is one task's seed in one term set.
A record that breaks this fails here, the day it is committed, not on the page at the end. The same for its
noisy-label condition (results/noise_v3, conf/experiment/noise_v3.yaml), whose runs must also share their training
labels: the same rows changed to the same labels."""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rwkd.records.reading import find_results
from rwkd.report.pair_check import SHARED_DIGESTS, _teacher_terms, pair_difference
from rwkd.study.tuning import primary_rows_only
from rwkd.study.units import source_build

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "results" / "study_glue_v3"
NOISE = ROOT / "results" / "noise_v3"
K_TERMS_FOLDER = "terms4_teachers2_hidden1"  # MPNet, the MiniLM teacher and MPNet's [CLS] state: label + 3


def _records() -> list[dict]:
    results, failed, _ = find_results([str(STUDY)])
    assert not failed
    assert results, "the study has committed records since its first part"
    return results


def _where(record: dict) -> tuple[str, str, str, str]:
    terms, task, scheme, seed = Path(record["_path"]).relative_to(STUDY).parts
    return terms, task, scheme, seed


def test_every_v3_record_is_a_job_of_the_design_from_a_clean_commit():
    params = OmegaConf.load(ROOT / "conf" / "experiment" / "study_glue_v3.yaml").hydra.sweeper.params
    k_schemes = re.search(r"^STUDY_K_SCHEMES := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split(",")
    schemes = {"terms2": params.weighting.split(","), K_TERMS_FOLDER: k_schemes}
    seeds = {int(s) for s in str(params.seed).split(",")}
    records = _records()
    for r in records:
        terms, task, scheme, seed = _where(r)
        assert terms in schemes and scheme in schemes[terms], r["_path"]
        assert task in params.task.split(",") and (r["task"], f"seed{r['seed']}") == (task, seed)
        # seeds beyond the plan (make study-v3-more-seeds) only for the rows of the primary comparisons
        same_terms = [o for o in records if _where(o)[:2] == (terms, task)]
        assert r["seed"] in seeds or primary_rows_only(same_terms, [scheme]) == [scheme], r["_path"]
        assert r["command"].startswith("rwkd train -m experiment=study_glue_v3 "), r["command"]
        assert (terms == K_TERMS_FOLDER) == ("terms=mpnet_minilm_hidden" in r["command"]), r["command"]
        assert not r["git_commit"].endswith("-dirty") and r["git_commit"] != "unknown", r["git_commit"]
        assert r["best"]["selected_on"] == "meta/headline" and r["config"]["checkpoint"]["select_on"] == "meta", r["_path"]


def test_the_runs_of_a_unit_are_pairs_by_their_digests():
    """A unit (one task's seed in one term set) is made from one build of the student's source: another kind of CPU
    makes another build (rwkd/study/units.py), and the lanes never mix two in a unit."""
    by_unit: dict = defaultdict(list)
    for r in _records():
        assert r.get("identity"), r["_path"]  # every v3 record carries its digests
        by_unit[_where(r)[:2] + (r["seed"],)].append(r)
    for unit, records in by_unit.items():
        assert len({source_build(r) for r in records}) == 1, unit
        for name in SHARED_DIGESTS:
            assert len({r["identity"][name] for r in records}) == 1, (unit, name)
        for a, b in combinations(records, 2):
            assert pair_difference(a, b) is None, (a["_path"], b["_path"], pair_difference(a, b))


def test_across_term_sets_the_runs_of_a_task_and_seed_pair_where_their_source_is_one_build():
    by_task_seed: dict = defaultdict(list)
    for r in _records():
        by_task_seed[(r["task"], r["seed"])].append(r)
    for (task, seed), records in by_task_seed.items():
        # the split and the batch order do not depend on the machine
        for name in ("split", "batch_order"):
            assert len({r["identity"][name] for r in records}) == 1, (task, seed, name)
        # one start per build; and the K-term runs read MPNet's outputs with its states, whose logits file is the
        # two-term runs' (rwkd/report/pair_check.py compares the kd term by that file)
        for a, b in combinations(records, 2):
            if source_build(a) == source_build(b):
                assert pair_difference(a, b) is None, (a["_path"], b["_path"], pair_difference(a, b))
        # whatever the build, MPNet's logits are the committed ones: every KD run of the task and seed read one file
        assert len({kd for r in records if (kd := _teacher_terms(r).get("kd"))}) == 1, (task, seed)


def test_each_term_set_of_a_task_distils_one_teacher_output_per_term_and_build():
    """One output per term for each build of the student's source: the K terms' MiniLM teacher (kd1) is that source,
    distilled live, so another build is another kd1. MPNet's terms (kd, hidden0) come from its committed outputs:
    one per task and term set whatever the machine."""
    digests: dict = defaultdict(set)
    for r in _records():
        terms, task, _, _ = _where(r)
        for term, digest in r["identity"]["teacher_terms"].items():
            digests[(terms, task, term, source_build(r))].add(digest)
            if term != "kd1":
                digests[(terms, task, term)].add(digest)
    assert digests, "the KD runs record the teacher outputs they distil"
    assert all(len(found) == 1 for found in digests.values()), digests


def noise_design_errors(records: list[dict]) -> list[str]:
    """What is wrong with noisy-label records (paths relative to results/noise_v3: TERMS/TASK/WEIGHTING/seedN):
    a job outside noise_v3's grid or command, a dirty commit, an epoch not chosen on the meta split, labels not
    made wrong as designed (p 0.3, the run's seed), or two runs of a task and seed that are no pair."""
    params = OmegaConf.load(ROOT / "conf" / "experiment" / "noise_v3.yaml").hydra.sweeper.params
    grid = {"terms2": params.weighting.split(","), "terms3_teachers1_hidden1": ["meta"]}
    errors, by_seed = [], defaultdict(list)
    for r in records:
        terms, task, scheme, seed = Path(r["_path"]).relative_to(NOISE).parts
        noise = (r.get("data") or {}).get("label_noise") or {}
        checks = {"job of the grid": terms in grid and scheme in grid[terms] and task in params.task.split(",")
                  and seed == f"seed{r['seed']}" and r["seed"] in {int(x) for x in str(params.seed).split(",")},
                  "its command": r["command"].startswith("rwkd train -m experiment=noise_v3 ")
                  and (terms == "terms2") == ("terms=hidden" not in r["command"]),
                  "a clean commit": not r["git_commit"].endswith("-dirty") and r["git_commit"] != "unknown",
                  "the epoch chosen on the meta split": r["best"]["selected_on"] == "meta/headline",
                  "labels made wrong as designed": noise.get("p") == 0.3 and noise.get("seed") == r["seed"]}
        errors += [f"{r['_path']}: not {what}" for what, ok in checks.items() if not ok]
        by_seed[(task, r["seed"])].append(r)
    for runs in by_seed.values():
        errors += [f"{a['_path']} vs {b['_path']}: {why}" for a, b in combinations(runs, 2)
                   if (why := pair_difference(a, b)) is not None]
    return errors


def test_every_noisy_label_record_is_a_job_of_its_design_and_the_runs_of_a_seed_are_pairs():
    """Checks each record of results/noise_v3 as it is committed. The condition runs after the study's jobs, so
    until its first record this checks one thing only: the results page reports no noisy-label section without
    records here to check (`make study-v3-results` reads them from this folder)."""
    page = (ROOT / "docs" / "results.md").read_text()
    assert NOISE.is_dir() or "## Noisy labels" not in page, "the page reports noisy labels that results/noise_v3 lacks"
    results, failed, _ = find_results([str(NOISE)]) if NOISE.is_dir() else ([], [], [])
    assert not failed
    assert noise_design_errors(results) == []


def test_the_noisy_label_check_finds_a_run_that_broke_the_design():
    good = {"_path": str(NOISE / "terms2" / "mrpc" / "meta" / "seed2"), "task": "mrpc", "seed": 2,
            "command": "rwkd train -m experiment=noise_v3 task=mrpc", "git_commit": "abc",
            "best": {"selected_on": "meta/headline"}, "data": {"label_noise": {"p": 0.3, "seed": 2, "digest": "d"}},
            "identity": {"student_init": "s", "split": "t", "batch_order": "b", "teacher_terms": {}}}
    other = {**copy.deepcopy(good), "_path": str(NOISE / "terms2" / "mrpc" / "none" / "seed2")}
    assert noise_design_errors([good, other]) == []
    other["data"]["label_noise"].update(seed=3, digest="e")
    errors = noise_design_errors([good, other])
    assert errors[0].endswith("none/seed2: not labels made wrong as designed")
    assert errors[1].endswith("training labels differ (label_noise digest)")
    with pytest.raises(ValueError):  # a record outside results/noise_v3 is not one of its jobs
        noise_design_errors([{**good, "_path": "/elsewhere/terms2/mrpc/meta/seed2"}])
