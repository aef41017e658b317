"""The comparison studies' pages are what `rwkd report` makes of their committed records. The first study, kept
as published: docs/results_v1.md holds the tables of results/study_glue_v1, every record a job of its grid. The
study with students that learn (issue 26, in parts): docs/results_v2.md is regenerated whole from results/study_glue,
every record a job of its design, made by its command from a clean commit, one teacher per task."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rwkd.records.epochs import at_chosen_epoch
from rwkd.records.reading import find_results
from rwkd.records.sweep_plan import read_plan
from rwkd.report.command import document_text, parser, read_reported
from rwkd.report.document import _coverage, _timing_table, _weights_table, choices_table
from rwkd.report.paired_tables import paired_table
from rwkd.report.summary import summarise
from rwkd.report.tables import markdown
from rwkd.report.weight_summary import by_task_and_scheme
from rwkd.study.tuning import TUNED

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "study_glue_v1"
PAGE = ROOT / "docs" / "results_v1.md"
PLOTS = ROOT / "docs" / "study_glue_v1"


def _committed():
    results, failed, not_applicable = find_results([str(RESULTS)])
    return at_chosen_epoch(results, "meta"), failed, not_applicable, PAGE.read_text()


def test_the_page_holds_the_tables_rwkd_report_makes_of_the_committed_results():
    results, failed, not_applicable, page = _committed()
    assert not failed
    undefined = {(r["task"], r["weighting"]) for r in not_applicable}
    assert markdown(summarise(results, not_applicable), failed).rstrip() in page
    assert f"from {len(results)} results.json files" in page
    assert read_plan(RESULTS).describe({r["task"] for r in results} | {t for t, _ in undefined}) in page
    for section in (_coverage(results, undefined), paired_table(results, TUNED, undefined),
                    paired_table(results, "none", undefined), _timing_table(results), _weights_table(results),
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


def test_the_weight_plots_draw_the_committed_weight_summaries(tmp_path, monkeypatch):
    """The mean weight per epoch that each plot draws, against the same mean added up here from the runs'
    weight_summary.json files (sums over runs, then divided); and the committed image has the drawn one's size."""
    import json

    import matplotlib.image

    from rwkd.report import plots

    results, _, _, _ = _committed()
    drawn = {}
    save = plots._save

    def keep(fig, path):  # the panels of the mean weight per epoch: one per family
        drawn[path.stem] = [(line.get_label(), list(line.get_xdata()), list(line.get_ydata()))
                            for ax in fig.axes if ax.get_label() == "mean per epoch" for line in ax.lines]
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    written = plots.plot_weights(results, tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in PLOTS.glob("weights_*.png"))
    for path in written:
        assert matplotlib.image.imread(path).shape == matplotlib.image.imread(PLOTS / path.name).shape
    for stem, lines in drawn.items():
        task = stem.removeprefix("weights_")
        assert lines, stem
        for label, epochs, means in lines:
            scheme, runs = re.fullmatch(r"(.+) \(n=(\d+)\)", label).groups()
            files = [Path(r["_path"]) / "weight_summary.json" for r in results
                     if r["task"] == task and r["weighting"] == scheme and (Path(r["_path"]) / "weight_summary.json").is_file()]
            assert len(files) == int(runs), (stem, scheme)
            sums: dict = {}
            for f in files:
                per_epoch = json.loads(f.read_text())["per_epoch"]
                for epoch, rows, total in zip(per_epoch["epoch"], per_epoch["rows"], per_epoch["weight_sum"], strict=True):
                    have = sums.setdefault(epoch, [0, 0.0])
                    have[0], have[1] = have[0] + rows, have[1] + total
            assert epochs == sorted(sums), (stem, scheme)
            assert means == pytest.approx([sums[e][1] / sums[e][0] for e in epochs], rel=1e-9), (stem, scheme)


STUDY = ROOT / "results" / "study_glue"
STUDY_PAGE = ROOT / "docs" / "results_v2.md"  # the v2 study read at the meta-chosen epoch
PUBLISHED_PAGE = ROOT / "docs" / "results.md"  # as published (epochs chosen on dev), kept until the v3 page


def test_the_published_study_page_points_to_its_corrected_version_first():
    assert PUBLISHED_PAGE.read_text().splitlines()[0].startswith("> Corrected version: [results_v2.md](results_v2.md)")
K_TERMS_FOLDER = "terms4_teachers2_hidden1"


def _study_command() -> tuple[str, list[str]]:
    command = re.search(r"^Generated by `(rwkd report [^`]+)`", STUDY_PAGE.read_text(), re.M).group(1)
    return command, shlex.split(command)[2:]


def test_the_study_page_is_exactly_what_rwkd_report_makes_of_the_committed_records(monkeypatch):
    command, argv = _study_command()
    args = parser().parse_args(argv)
    # every term set the study committed, and nothing else (the Makefile's results/study_glue/terms*)
    assert args.paths == sorted(str(p.relative_to(ROOT)) for p in STUDY.glob("terms*"))
    monkeypatch.chdir(ROOT)
    reported = read_reported(args)  # the path `rwkd report` takes
    results, table = reported.results, reported.table
    assert not reported.noisy
    assert (ROOT / args.out / "report.md").read_text() == table
    assert document_text(args, results, reported.not_applicable, table, command, None, reported.noisy) == \
        STUDY_PAGE.read_text()
    drawn = {p.name for p in (ROOT / args.plots_dir).glob("weights_*.png")}
    expected = {f"weights_{task}.png" for task in by_task_and_scheme(results)}
    assert expected <= drawn, (expected, drawn)
    assert ("No weight plots were found." in STUDY_PAGE.read_text()) == (not expected)  # early in the study: none yet


def test_every_committed_record_of_the_study_is_a_job_of_its_design_from_a_clean_commit():
    results, failed, not_applicable = find_results([str(STUDY)])
    assert not failed
    params = OmegaConf.load(ROOT / "conf" / "experiment" / "study_glue.yaml").hydra.sweeper.params
    k_schemes = re.search(r"^STUDY_K_SCHEMES := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    schemes = {"terms2": params.weighting.split(","), K_TERMS_FOLDER: k_schemes.split(",")}
    seeds = {int(k) for k in str(params.seed).split(",")}
    for r in results:
        terms, task, scheme, seed = Path(r["_path"]).relative_to(STUDY).parts
        assert task in params.task.split(",") and scheme in schemes[terms], r["_path"]
        assert (r["task"], f"seed{r['seed']}") == (task, seed) and r["seed"] in seeds
        assert r["command"].startswith("rwkd train -m experiment=study_glue"), r["command"]
        assert (terms == K_TERMS_FOLDER) == ("terms=two_teachers_hidden" in r["command"]), r["command"]
        assert not r["git_commit"].endswith("-dirty") and r["git_commit"] != "unknown", r["git_commit"]
    for record in not_applicable:
        assert record["task"] == "stsb", record  # a rule on the teacher's class probabilities, not a score


def test_all_jobs_of_a_task_distilled_one_teacher_or_its_same_score_rebuilds_on_other_cpus():
    results, _, _ = find_results([str(STUDY)])
    builds: dict = {}
    for r in results:
        # by the weights' hash: a teacher fine-tuned again with the pinned thread count on the same kind of CPU is
        # the same bytes, though its cache folder may be named by a key from before the pin
        for position, teacher in enumerate([r["teacher"], *(r.get("more_teachers") or [])] if r.get("teacher") else []):
            build = builds.setdefault((r["task"], position), {}).setdefault(
                teacher["weights_sha256"], {"scores": teacher["dev_metrics"], "cpus": set()})
            assert build["scores"] == teacher["dev_metrics"]
            build["cpus"].add(r["hardware"]["cpu"])
    assert builds
    for (task, position), by_hash in builds.items():
        # more than one build: teacher.accept_rebuild=same_scores, each build the same epoch and scores ...
        assert all(b["scores"] == next(iter(by_hash.values()))["scores"] for b in by_hash.values()), (task, position)
        # ... and made on another kind of CPU than the others (one kind rebuilds the same bytes)
        cpus = [c for b in by_hash.values() for c in b["cpus"]]
        assert len(cpus) == len(set(cpus)), (task, position, by_hash)
