"""`rwkd train`, `rwkd teacher` and `rwkd eval` run for real on tiny random BERTs (in this process, as the console
script would run them: tests/conftest.py `run_rwkd`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import TINY, run_rwkd
from omegaconf import OmegaConf

pytestmark = pytest.mark.slow


def _ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rwkd_e2e")


@pytest.fixture(scope="module")
def rte_runs(workdir) -> dict[str, Path]:
    runs = {}
    for name, extra in [("none", ["weighting=none"]), ("fixed", ["weighting=fixed", "weighting.alpha=0.3"]),
                        ("fixed_seed2", ["weighting=fixed", "seed=2"])]:
        _ok(run_rwkd(["train", "task=rte", *TINY, *extra, f"hydra.run.dir=runs/{name}"], cwd=workdir))
        runs[name] = workdir / "runs" / name
    return runs


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_runs_write_results_checkpoint_and_hf_export(rte_runs):
    for run in rte_runs.values():
        r = _results(run)
        # last.ckpt is for resuming: gone once the run has finished (checkpoint.keep_last=false)
        assert (run / "checkpoints" / "best.ckpt").is_file() and not (run / "checkpoints" / "last.ckpt").exists()
        assert (run / "best_hf" / "config.json").is_file() and (run / "best_hf" / "tokenizer.json").is_file()
        assert r["task"] == "rte" and r["best"]["epoch"] in (0, 1) and r["last"]["epoch"] == 1
        assert 0.0 <= r["best"]["metrics"]["val/headline"] <= 1.0
        assert r["best"]["metrics"]["val/headline"] >= r["last"]["metrics"]["val/headline"]
        assert r["timing"]["samples_per_second"] > 0 and r["peak_memory"]["cpu_rss_mb"] > 0
        assert 0 < r["timing"]["cpu_seconds"] < 4 * r["timing"]["wall_seconds"]  # this job's CPU time, 2 cores
        assert r["versions"]["torch"].startswith("2.") and r["command"].startswith("rwkd train task=rte")
        assert r["config"]["data"]["max_train_samples"] == 96
        assert r["data"]["train_samples"] + r["data"]["meta_samples"] == 96


def test_none_needs_no_teacher_and_fixed_reuses_the_cached_teacher(rte_runs):
    assert _results(rte_runs["none"])["teacher"] is None
    first = _results(rte_runs["fixed"])["teacher"]
    second = _results(rte_runs["fixed_seed2"])["teacher"]
    assert first["origin"] == "fine-tuned" and second["origin"] == "cache"
    assert first["path"] == second["path"] and "val/headline" in first["dev_metrics"]
    assert _results(rte_runs["fixed"])["weighting"] == "fixed(alpha=0.3)"
    # the run that fine-tuned the teacher times that stage apart; both carry what the fine-tuning cost
    fine_tuned, cached = (_results(rte_runs[name])["timing"] for name in ("fixed", "fixed_seed2"))
    assert 0 < fine_tuned["teacher_stage_cpu_seconds"] < fine_tuned["cpu_seconds"]
    assert cached["teacher_stage_cpu_seconds"] < fine_tuned["teacher_stage_cpu_seconds"]
    assert first["fine_tune_processes"] == 1 and 0 < first["fine_tune_cpu_seconds"] < fine_tuned["teacher_stage_cpu_seconds"]
    assert second["fine_tune_cpu_seconds"] == first["fine_tune_cpu_seconds"]


def _printed_headline(stdout: str) -> float:
    return float(re.search(r"val/headline\s+([0-9.]+)", stdout).group(1))


@pytest.mark.parametrize("what", ["checkpoints/best.ckpt", "best_hf"])
def test_eval_reproduces_the_best_dev_metric(rte_runs, workdir, what):
    run = rte_runs["fixed"]
    proc = _ok(run_rwkd(["eval", f"ckpt={run / what}"], cwd=workdir))
    assert _printed_headline(proc.stdout) == pytest.approx(_results(run)["best"]["metrics"]["val/headline"], abs=5e-5)
    written = list((run / Path(what).parent).glob("*_eval_rte.json"))
    assert written and json.loads(written[0].read_text())["metrics"]["val/headline"] == pytest.approx(
        _results(run)["best"]["metrics"]["val/headline"], abs=1e-9)


def test_teacher_command_finds_the_cached_teacher(rte_runs, workdir):
    proc = _ok(run_rwkd(["teacher", "task=rte", *TINY], cwd=workdir))
    assert "(cache)" in proc.stdout and "val/headline" in proc.stdout


def test_the_teacher_is_the_same_whether_or_not_the_run_scores_the_meta_split(tmp_path):
    teachers = []
    for scoring in ("true", "false"):
        (tmp_path / scoring).mkdir()
        _ok(run_rwkd(["train", "task=rte", *TINY, "weighting=fixed", f"data.eval_meta_split={scoring}",
                      "teacher.finetune.epochs=3", "hydra.run.dir=run"], cwd=tmp_path / scoring))
        record, = (tmp_path / scoring / "outputs" / "teachers" / "rte").glob("*/teacher.json")
        teachers.append(json.loads(record.read_text()))
    assert teachers[0]["key"] == teachers[1]["key"]
    assert teachers[0]["weights_sha256"] == teachers[1]["weights_sha256"]
    assert teachers[0]["history"] == teachers[1]["history"]
    # the teacher keeps its best epoch on the held-out meta split, never on dev
    history = teachers[0]["history"]
    assert len(history) == 3 and teachers[0]["selected_on"] == "meta/headline"
    assert teachers[0]["dev_metrics"] == max(history, key=lambda h: h["meta/headline"])
    scored = _results(tmp_path / "true" / "run")
    assert "meta/headline" in scored["best"]["metrics"]  # the student still scores it
    assert scored["teacher"]["weights_sha256"] == teachers[0]["weights_sha256"]


def test_a_teacher_pinned_to_one_thread_is_the_same_bits_from_a_one_or_a_two_thread_process(tmp_path):
    """CPU kernels split their sums by thread: a teacher fine-tuned again on a fresh machine is the same
    teacher only under the same thread count, which teacher.finetune.threads fixes whatever the process has."""
    def fine_tune(folder: str, omp: str, *extra: str) -> dict:
        _ok(run_rwkd(["teacher", "task=rte", *TINY, "teacher.model.config_overrides.hidden_size=64",
                      "teacher.model.config_overrides.intermediate_size=256", *extra], cwd=tmp_path / folder,
                     env={"OMP_NUM_THREADS": omp, "MKL_NUM_THREADS": omp}))
        record, = (tmp_path / folder / "outputs" / "teachers" / "rte").glob("*/teacher.json")
        return json.loads(record.read_text())

    for folder in ("one", "two", "unpinned"):
        (tmp_path / folder).mkdir()
    one, two = fine_tune("one", "1", "teacher.finetune.threads=1"), fine_tune("two", "2", "teacher.finetune.threads=1")
    unpinned = fine_tune("unpinned", "2")
    assert one["fine_tune_threads"] == two["fine_tune_threads"] == 1 and unpinned["fine_tune_threads"] == 2
    assert one["weights_sha256"] == two["weights_sha256"]
    assert one["key"]["finetune"]["threads"] == 1
    assert "threads" not in unpinned["key"]["finetune"]  # unpinned: the key of a teacher cached before the setting


def test_no_meta_split_trains_on_every_train_row(tmp_path):
    # data.meta_size=0: fixed-alpha KD with every row of train; the teacher keeps its last epoch (nothing to
    # select on off dev) and the logit cache covers the train rows alone
    _ok(run_rwkd(["train", "task=rte", *TINY, "weighting=fixed", "data.meta_size=0", "hydra.run.dir=run"], cwd=tmp_path))
    r = _results(tmp_path / "run")
    assert r["data"]["train_samples"] == 96 and r["data"]["meta_samples"] is None
    assert r["teacher"]["logits"] == "cached" and "meta/headline" not in r["best"]["metrics"]
    record, = (tmp_path / "outputs" / "teachers" / "rte").glob("*/teacher.json")
    teacher = json.loads(record.read_text())
    assert teacher["selected_on"] == "last epoch" and teacher["dev_metrics"] == teacher["history"][-1]


def test_regression_task_end_to_end(workdir):
    _ok(run_rwkd(["train", "task=stsb", *TINY, "hydra.run.dir=runs/stsb"], cwd=workdir))
    r = _results(workdir / "runs" / "stsb")
    assert set(r["best"]["metrics"]) >= {"val/pearson", "val/spearman", "val/headline"}
    assert r["teacher"]["dev_metrics"]["val/headline"] == pytest.approx(
        (r["teacher"]["dev_metrics"]["val/pearson"] + r["teacher"]["dev_metrics"]["val/spearman"]) / 2)


def test_hydra_flags_pass_through(workdir):
    cfg = _ok(run_rwkd(["train", "--cfg", "job", "task=cola", "weighting.alpha=0.25"], cwd=workdir)).stdout
    assert "name: cola" in cfg and "alpha: 0.25" in cfg
    assert "weighting: annealed, annealed_kd, annealed_linear, fixed, fixed_a25" in _ok(run_rwkd(["train", "--help"], cwd=workdir)).stdout
    top = _ok(run_rwkd(["--help"], cwd=workdir)).stdout
    assert all(c in top for c in ("train", "teacher", "eval"))


def test_two_by_two_multirun_with_offline_wandb_and_its_report(workdir):
    proc = _ok(run_rwkd(["train", "-m", "task=rte,stsb", "weighting=none,fixed", *TINY, "logger=wandb",
                         "hydra.sweep.dir=multi"], cwd=workdir, env={"WANDB_MODE": "offline"}))
    jobs = sorted(p for p in (workdir / "multi").iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0_rte_none_seed1", "1_rte_fixed_seed1", "2_stsb_none_seed1", "3_stsb_fixed_seed1"]
    runs = set()
    for job in jobs:
        assert json.loads((job / "results.json").read_text())["task"] in job.name
        offline = list((job / "wandb").glob("offline-run-*"))
        assert len(offline) == 1, proc.stdout[-2000:]  # one wandb run per job, finished before the next
        runs.add(offline[0].name)
    assert len(runs) == 4
    report = _ok(run_rwkd(["report", str(workdir / "multi")], cwd=workdir))
    assert "| scheme | rte | stsb | mean of 2 tasks |" in report.stdout
    none_row = next(line for line in report.stdout.splitlines() if line.startswith("| none |"))
    assert none_row.count("(n=1)") == 2
    # none and fixed give every sample of a step the same weight: no weight plot is drawn for them
    assert not list((workdir / "multi").glob("weights_*.png"))

@pytest.mark.parametrize("scheme", [
    ["weighting=annealed", "weighting.schedule=annealing_kd"],
    ["weighting=heuristic", "weighting.rule=loss_ratio"],
    ["weighting=meta"],
    ["weighting=metanet", "weighting.inputs=[label_loss,kd_loss,teacher_confidence]"],
])
def test_every_scheme_trains_and_writes_its_weights_file(rte_runs, workdir, scheme):
    import pyarrow.parquet as pq

    name = scheme[0].split("=")[1]
    _ok(run_rwkd(["train", "task=rte", *TINY, *scheme, f"hydra.run.dir=runs/{name}"], cwd=workdir))
    run = workdir / "runs" / name
    table = pq.read_table(run / "sample_weights.parquet").to_pydict()
    r = _results(run)
    assert r["teacher"]["origin"] == "cache"
    n_train = r["data"]["train_samples"]
    assert len(table["idx"]) == 2 * n_train  # one row per training sample per epoch
    assert sorted(set(table["idx"])) == sorted(set(table["idx"][:n_train]))
    assert all(0.0 <= w <= 1.0 for w in table["weight"])
    assert all(c in (0.0, 1.0) for c in table["teacher_correct"])


def test_two_teachers_and_a_hidden_state_term_train_export_evaluate_and_report(rte_runs, workdir):
    import pyarrow.parquet as pq
    from safetensors.torch import load_file

    _ok(run_rwkd(["train", "task=rte", *TINY, "weighting=meta", "terms=two_teachers_hidden", "hydra.run.dir=runs/k4"],
                 cwd=workdir))
    run = workdir / "runs" / "k4"
    r = _results(run)
    assert [t["name"] for t in r["terms"]] == ["label", "kd", "kd1", "hidden0"]
    assert r["terms"][3] == {"name": "hidden0", "teacher": 0, "student_layer": 1, "teacher_layer": 2, "state": "cls"}
    assert r["teacher"]["origin"] == "cache" and r["more_teachers"][0]["origin"] == "fine-tuned"
    assert r["more_teachers"][0]["weights_sha256"] != r["teacher"]["weights_sha256"]  # another fine-tuning seed
    assert r["weighting"].endswith(" [label+kd+kd1+hidden0]")
    table = pq.read_table(run / "sample_weights.parquet").to_pydict()
    weights = [table[f"weight_{t}"] for t in ("label", "kd", "kd1", "hidden0")]
    assert all(abs(sum(w) - 1) < 1e-5 for w in zip(*weights, strict=True))
    assert table["weight"] == pytest.approx([1 - w for w in weights[0]], abs=1e-5)
    assert set(json.loads((run / "weight_summary.json").read_text())["terms"]) == {"label", "kd", "kd1", "hidden0"}
    # the projection trains with the student and stays out of the export; eval reads the checkpoint without it
    exported = load_file(run / "best_hf" / "model.safetensors")
    assert not any("rwkd_projections" in k for k in exported)
    proc = _ok(run_rwkd(["eval", f"ckpt={run / 'checkpoints' / 'best.ckpt'}"], cwd=workdir))
    assert _printed_headline(proc.stdout) == pytest.approx(r["best"]["metrics"]["val/headline"], abs=1e-4)
    _ok(run_rwkd(["report", str(run), "--out", str(workdir / "k4_report"), "--doc", str(workdir / "k4.md")], cwd=workdir))
    doc = (workdir / "k4.md").read_text()
    assert "| rte | meta(rwkd, meta_loss=label, impl=fast) [label+kd+kd1+hidden0] | 1 | label " in doc
    assert "| task | scheme | runs | no score floored | some floored | all floored (uniform) |" in doc
    assert f"| teacher 2 (kd.teachers[0]) | {100 * r['more_teachers'][0]['dev_metrics']['val/headline']:.2f} |" in doc
    assert (workdir / "k4_report" / "weights_terms_rte.png").stat().st_size > 10_000


def test_a_failing_sweep_job_is_recorded_and_the_others_run(workdir):
    # a bad setting refuses the whole sweep before it starts (test_bad_input.py); a job can still fail on
    # what only the job finds, here QNLI, whose train file is not in the offline GLUE folder
    proc = run_rwkd(["train", "-m", "task=rte,qnli", "weighting=none", *TINY, "hydra.sweep.dir=multi_fail"], cwd=workdir)
    assert proc.returncode == 2
    assert "1 sweep job(s) failed" in proc.stderr and "missing split file" in proc.stderr
    jobs = sorted((workdir / "multi_fail").glob("[0-9]_*"))
    assert len(jobs) == 2
    assert (jobs[0] / "results.json").is_file() and not (jobs[0] / "failed.json").exists()
    failed = json.loads((jobs[1] / "failed.json").read_text())
    assert "missing split file" in failed["error"] and "task=qnli" in failed["overrides"]


def test_an_undefined_combination_is_recorded_not_failed_and_shown_as_na(workdir):
    proc = run_rwkd(["train", "-m", "task=stsb", "weighting=heuristic", "weighting.rule=student_entropy,loss_ratio",
                     *TINY, "hydra.sweep.dir=multi_na"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "not applicable: weighting.rule=student_entropy is not defined for the regression task stsb" in proc.stderr
    undefined, defined = sorted((workdir / "multi_na").glob("[0-9]_*"))
    record = json.loads((undefined / "not_applicable.json").read_text())
    assert record["task"] == "stsb" and record["weighting"] == "heuristic(student_entropy)"
    assert not (undefined / "results.json").exists() and not (undefined / "failed.json").exists()
    assert (defined / "results.json").is_file() and (defined / "weight_summary.json").is_file()
    report = _ok(run_rwkd(["report", str(workdir / "multi_na"), "--no-plots"], cwd=workdir))
    assert "| heuristic(student_entropy) | n/a |  |" in report.stdout
    assert "n/a: heuristic(student_entropy) on stsb, not run: weighting.rule=student_entropy" in report.stdout


def test_report_tables_the_runs_and_plots_the_weights(rte_runs, workdir):
    proc = _ok(run_rwkd(["report", str(workdir / "runs"), "--out", str(workdir / "report")], cwd=workdir))
    assert "| scheme | rte |" in proc.stdout and "| teacher |" in proc.stdout
    fixed = _results(rte_runs["fixed"])
    assert f"{100 * fixed['best']['metrics']['val/headline']:.2f}" in proc.stdout
    assert "| fixed(alpha=0.3) |" in (workdir / "report" / "report.md").read_text()
    rows = (workdir / "report" / "report.csv").read_text().splitlines()
    assert rows[0] == "task,scheme,epoch,n,mean,std,seeds" and any(r.startswith("rte,none,best,1,") for r in rows)
    assert (workdir / "report" / "weights_rte.png").stat().st_size > 10_000
    bad = run_rwkd(["report", str(workdir / "nothing_here")], cwd=workdir)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_optuna_search_maximises_the_meta_split_headline_not_dev(rte_runs, workdir):
    proc = _ok(run_rwkd(["train", "-m", "hparams_search=optuna", "task=rte", *TINY, "trainer.max_epochs=1",
                         "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=1",
                         "hydra.sweep.dir=optuna"], cwd=workdir))
    best = (workdir / "optuna" / "optimization_results.yaml").read_text()
    values = [json.loads(p.read_text())["best"]["metrics"]["meta/headline"]
              for p in (workdir / "optuna").glob("*/results.json")]
    assert len(values) == 2 and "best_value" in best
    assert f"best_value: {max(values)}" in best, (best, values, proc.stdout[-500:])


def test_a_student_from_the_fine_tuned_teachers_layers_needs_the_teacher_even_without_kd(workdir):
    _ok(run_rwkd(["train", "task=rte", *TINY, "weighting=none", "student.init=teacher", "student.model.random_init=false",
                  "student.model.config_overrides=null", "+student.model.layers=[1]", "hydra.run.dir=runs/from_teacher"],
                 cwd=workdir))
    r = _results(workdir / "runs" / "from_teacher")
    assert r["teacher"] is not None and r["teacher"]["logits"] == "unused"  # fine-tuned for the init, no KD term
    assert r["config"]["student"]["init"] == "teacher"
    assert r["majority"]["val/headline"] is not None


def test_recipe_search_records_trials_skips_them_on_rerun_and_writes_page_and_defaults(tmp_path):
    # the searched student config (it has layers to sweep), made tiny and random
    tiny_minilm = ["student=minilm", "+student.model.random_init=true", "student.model.layers=[0]",
                   "+student.model.config_overrides={hidden_size:16,num_hidden_layers:1,num_attention_heads:2,"
                   "intermediate_size:32,max_position_embeddings:128}"]
    small = [a for a in TINY if not a.startswith(("trainer.max_epochs", "student="))] + tiny_minilm
    teacher = ["teacher", "-m", "experiment=recipe_teacher", "task=rte", *small, "teacher.finetune.lr=1e-3,3e-3",
               "teacher.finetune.epochs=2"]
    _run_command(teacher, tmp_path)
    trials = sorted((tmp_path / "outputs" / "recipe_search" / "rte" / "teacher").glob("*/teacher_trial.json"))
    assert len(trials) == 2
    for path in trials:
        record = json.loads(path.read_text())
        assert record["selected"] == max(record["history"], key=lambda h: h["meta/headline"])
    again = _run_command(teacher, tmp_path)
    assert again.stdout.count("has finished already; skipped") == 2

    student = ["train", "-m", "experiment=recipe_student", "task=rte", *small, "student.init=pretrained", "optim.lr=1e-3", "trainer.max_epochs=1,2",
               "recipe_search.max_layer_epochs=1"]
    _run_command(student, tmp_path)
    # the student trials sit under the teacher fine-tuning they were made with
    tiny_teacher = OmegaConf.load(Path(__file__).parents[1] / "conf" / "teacher" / "tiny.yaml")
    folder = tmp_path / "outputs" / "recipe_search" / "rte" / "student"
    assert [p.name for p in folder.iterdir()] == [f"teacher-lr{tiny_teacher.finetune.lr}_ep{tiny_teacher.finetune.epochs}"
                                                  f"_wu{tiny_teacher.finetune.warmup_ratio}"]
    assert len(list(folder.glob("*/*/results.json"))) == 1 and len(list(folder.glob("*/*/not_applicable.json"))) == 1

    page = tmp_path / "recipe.md"
    _run_command(["recipe", str(tmp_path / "outputs" / "recipe_search"), "--doc", str(page),
                  "--write-conf", str(tmp_path / "conf")], tmp_path)
    text = page.read_text()
    assert text.count("**chosen**") == 2 and "Not run (over the budget): trainer.max_epochs=2" in text
    assert "- rte, student (teacher-lr" in text
    written = OmegaConf.load(tmp_path / "conf" / "rte_tiny_minilm.yaml")
    assert written.trainer.max_epochs == 1 and written.teacher.finetune.lr in (1e-3, 3e-3)


def _run_command(args: list[str], cwd: Path):
    return _ok(run_rwkd(args, cwd=cwd))


def test_the_study_tunes_on_its_first_seed_and_runs_only_the_chosen_variant_on_the_next(workdir):
    import subprocess
    import sys

    tiny = [a for a in TINY if not a.startswith("trainer.max_epochs")] + ["trainer.max_epochs=1", "paths.outputs=study"]
    _ok(run_rwkd(["train", "-m", "experiment=study_glue", "task=rte", "seed=1", "weighting=none,fixed_a25,fixed_a75",
                  *tiny], cwd=workdir))
    sweep = workdir / "study" / "studies" / "glue_v2" / "terms2"
    records = {p.parent.parent.name: json.loads(p.read_text()) for p in sweep.glob("rte/*/seed1/results.json")}
    assert set(records) == {"none", "fixed_a25", "fixed_a75"}
    assert records["fixed_a25"]["config"]["study"]["families"]["fixed"] == ["fixed_a25", "fixed_a50", "fixed_a75"]
    chosen = max(("fixed_a25", "fixed_a75"),  # the meta split decides, as the report does (first label on a tie)
                 key=lambda k: (max(h["meta/headline"] for h in records[k]["history"] if "meta/headline" in h), k == "fixed_a25"))
    printed = subprocess.run([sys.executable, "-m", "rwkd.study.tuning", str(sweep), "--task", "rte", "--wait-seeds", "1"], cwd=workdir,
                             capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    later = printed.stdout.strip()
    assert sorted(later.split(",")) == sorted(["none", chosen])
    _ok(run_rwkd(["train", "-m", "experiment=study_glue", "task=rte", "seed=2", f"weighting={later}", *tiny], cwd=workdir))
    assert sorted(p.parent.parent.name for p in sweep.glob("rte/*/seed2/results.json")) == sorted(["none", chosen])
    report = _ok(run_rwkd(["report", str(sweep), "--out", str(workdir / "study_report"), "--no-plots",
                           "--doc", str(workdir / "study.md")], cwd=workdir))
    page = (workdir / "study.md").read_text()
    assert "Complete: all 3 defined task x scheme cells (the 1 task and 3 schemes found: rte) have 2 seeds (the " \
           "variants not chosen: their tuning seeds)." in page
    assert "## Variants chosen on the meta split" in page and "| fixed, alpha chosen on meta split |" in report.stdout


@pytest.mark.parametrize("select_on", ["meta", "dev", "last"])
def test_the_reported_and_exported_epoch_is_chosen_where_checkpoint_select_on_says(workdir, select_on):
    run = workdir / "runs" / f"select_{select_on}"
    _ok(run_rwkd(["train", "task=rte", *TINY, "trainer.max_epochs=3", "weighting=fixed", f"checkpoint.select_on={select_on}",
                  f"hydra.run.dir={run}"], cwd=workdir))
    results = _results(run)
    history = results["history"]
    metric = {"meta": "meta/headline", "dev": "val/headline", "last": None}[select_on]
    expected = history[-1] if metric is None else max(history, key=lambda h: h[metric])
    assert results["best"]["epoch"] == expected["epoch"]
    assert results["best"]["selected_on"] == (metric or "last epoch")
    # choosing on the meta split scores it every epoch (data.eval_meta_split is false in TINY)
    assert all(("meta/headline" in h) == (select_on == "meta") for h in history)
    # the exported checkpoint is that epoch: eval scores it to the recorded dev headline
    proc = _ok(run_rwkd(["eval", f"ckpt={run / 'checkpoints' / 'best.ckpt'}"], cwd=workdir))
    assert _printed_headline(proc.stdout) == pytest.approx(expected["val/headline"], abs=5e-5)


def test_compare_with_prints_another_runs_reported_epoch_beside_this_one(rte_runs, workdir):
    other = _results(rte_runs["fixed"])
    proc = _ok(run_rwkd(["train", "task=rte", *TINY, "weighting=none", "trainer.max_epochs=1",
                         f"+compare_with.no_kd='{rte_runs['fixed'] / 'results.json'}'",
                         f"+compare_with.gone='{workdir / 'nothing.json'}'", "hydra.run.dir=runs/compared"], cwd=workdir))
    row = next(line for line in proc.stdout.splitlines() if line.strip().startswith("no_kd, epoch"))
    assert f"epoch {other['best']['epoch']}" in row
    assert f"{100 * other['best']['metrics']['val/headline']:.2f}" in row.split()[-2:]
    assert "compare_with.gone=" in proc.stdout and "cannot be read" in proc.stdout  # a warning, not a lost run
