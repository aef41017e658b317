"""The first comparison study, kept as published: docs/results_v1.md holds exactly what `rwkd report` makes of
the committed results/study_glue_v1 files, and every committed record is a job of its grid, made by its command."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from rwkd.report.document import _coverage, _paired_table, _timing_table, _weights_table, choices_table
from rwkd.report.summary import find_results, summarise
from rwkd.report.tables import markdown
from rwkd.report.tuning import TUNED
from rwkd.report.weight_summary import by_task_and_scheme
from rwkd.run.sweep_plan import read_plan

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "study_glue_v1"
PAGE = ROOT / "docs" / "results_v1.md"
PLOTS = ROOT / "docs" / "study_glue_v1"


def _committed():
    results, failed, not_applicable = find_results([str(RESULTS)])
    return results, failed, not_applicable, PAGE.read_text()


def test_the_page_holds_the_tables_rwkd_report_makes_of_the_committed_results():
    results, failed, not_applicable, page = _committed()
    assert not failed
    undefined = {(r["task"], r["weighting"]) for r in not_applicable}
    assert markdown(summarise(results, not_applicable), failed).rstrip() in page
    assert f"from {len(results)} results.json files" in page
    assert read_plan(RESULTS).describe({r["task"] for r in results} | {t for t, _ in undefined}) in page
    for section in (_coverage(results, undefined), _paired_table(results, TUNED, undefined),
                    _paired_table(results, "none", undefined), _timing_table(results), _weights_table(results),
                    choices_table(results)):
        assert section in page


def test_every_committed_record_is_a_job_of_the_study_grid():
    results, _, not_applicable, _ = _committed()
    params = OmegaConf.load(ROOT / "conf" / "experiment" / "study_glue_v1.yaml").hydra.sweeper.params
    grid = {(t, s, int(k)) for t in params.task.split(",") for s in params.weighting.split(",")
            for k in str(params.seed).split(",")}
    # the study ran when the variants were a config group of their own, `+scheme`; they are `weighting` options now
    recorded = {"weighting" if k == "+scheme" else k: v for k, v in read_plan(RESULTS).params.items()}
    assert recorded == {k: str(v).split(",") for k, v in params.items()}  # the page's plan
    jobs = set()
    for r in results:
        task, scheme, seed = Path(r["_path"]).relative_to(RESULTS).parts
        assert (r["task"], r["seed"]) == (task, int(seed.removeprefix("seed")))
        assert r["command"].startswith("rwkd train -m experiment=study_glue"), r["command"]  # its name then
        jobs.add((task, scheme, r["seed"]))
    assert jobs <= grid and len(jobs) == len(results)
    for record in not_applicable:
        assert record["task"] == "stsb" and record["weighting"] == "heuristic(student_entropy)"


def test_all_jobs_of_a_task_distilled_one_teacher():
    results, _, _, _ = _committed()
    teachers: dict = {}
    for r in results:
        if r.get("teacher"):
            teachers.setdefault(r["task"], set()).add(r["teacher"]["weights_sha256"])
    assert teachers and all(len(shas) == 1 and None not in shas for shas in teachers.values()), teachers


def test_each_task_with_per_sample_weights_has_its_plot_on_the_page_and_no_other():
    results, _, _, page = _committed()
    tasks = set(by_task_and_scheme(results))
    for task in tasks:
        assert (PLOTS / f"weights_{task}.png").is_file()
    assert set(re.findall(r"!\[weights_(\w+)\]\(study_glue_v1/weights_\w+\.png\)", page)) == tasks
