"""The third study's committed records (results/study_glue_v3, issue 54), checked as they arrive: each is a job of
the study's design (conf/experiment/study_glue_v3.yaml and the Makefile's K-term schemes), made by its command from
a clean commit, and the runs of one task and seed are pairs by their identity digests: the same student start,
train/meta split and batch order, and, within a term set, the same teacher outputs. A study run in parts on
different kinds of CPU may hold two builds of the student's source: then the unit is one task's seed in one term set.
A record that breaks this fails here, the day it is committed, not on the page at the end."""

from __future__ import annotations

import re
from collections import defaultdict
from itertools import combinations
from pathlib import Path

from omegaconf import OmegaConf

from rwkd.records.reading import find_results
from rwkd.report.pair_check import SHARED_DIGESTS, pair_difference
from rwkd.study.tuning import primary_rows_only
from rwkd.study.units import source_build

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "results" / "study_glue_v3"
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
