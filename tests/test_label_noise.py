"""data.label_noise: the exact share of training labels made wrong, classification labels really changed, regression
given another train row's score, the meta split and dev untouched, the same rows for every scheme of a seed and a
resumed run, refused bad values; the weight summary's split of flipped and clean rows, and the report's table."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, run_rwkd, run_rwkd_here

from rwkd.cli import compose_train
from rwkd.config.settings import check_settings
from rwkd.data.datamodule import GlueDataModule
from rwkd.data.label_noise import CHANGES_FILE
from rwkd.errors import RwkdError
from rwkd.models import load_tokenizer
from rwkd.records.weight_summary import NOISED, SUMMARY, pool, summarise_log
from rwkd.report.noise import histogram_median, label_noise_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("embedded")


def _data(task: str, folder, tokenizer, p: float = 0.0, seed: int | None = 1, **settings) -> GlueDataModule:
    dm = GlueDataModule(task, tokenizer, dir=str(folder), max_len=16, max_train_samples=300, label_noise=p,
                        label_noise_seed=seed, **settings)
    dm.setup("fit")
    return dm


def _labels(examples) -> dict[int, object]:
    return {e.idx: e.label for e in examples}


@pytest.fixture(scope="module")
def mnli_dir(tmp_path_factory) -> Path:
    """A generated MNLI folder (3 classes; not in the shared GLUE copy)."""
    folder = tmp_path_factory.mktemp("mnli")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "synthetic_glue.py"), str(folder), "--tasks", "mnli",
                    "--train", "400", "--dev", "20"], check=True, capture_output=True)
    return folder


@pytest.mark.parametrize("task", ["mrpc", "mnli"])
def test_exactly_round_p_n_training_labels_change_each_to_another_class(task, glue_dir, mnli_dir, tokenizer):
    folder = mnli_dir if task == "mnli" else glue_dir
    clean, noisy = _data(task, folder, tokenizer), _data(task, folder, tokenizer, p=0.3)
    before, after = _labels(clean.train_set.examples), _labels(noisy.train_set.examples)
    n = len(before)  # 300 less the meta split: 270
    changed = sorted(i for i in before if before[i] != after[i])
    assert len(changed) == round(0.3 * n) == len(noisy.label_noise.rows)
    assert changed == list(noisy.label_noise.rows)  # every chosen row really got another label
    assert list(noisy.label_noise.original) == [before[i] for i in changed]
    assert list(noisy.label_noise.new) == [after[i] for i in changed]
    classes = noisy.task.num_labels
    assert set(after.values()) <= set(range(classes))
    if classes == 3:  # the wrong class is drawn among both others, not always the next one
        assert len({(before[i] - after[i]) % 3 for i in changed}) == 2
    assert clean.label_noise is None and "label_noise" not in clean.describe()
    record = noisy.describe()["label_noise"]
    assert record == {"p": 0.3, "seed": 1, "changed": len(changed), "digest": noisy.label_noise.digest(),
                      "rows": CHANGES_FILE}


def test_regression_rows_get_the_score_of_another_training_row(glue_dir, tokenizer):
    clean, noisy = _data("stsb", glue_dir, tokenizer), _data("stsb", glue_dir, tokenizer, p=0.3)
    before = _labels(clean.train_set.examples)
    noise = noisy.label_noise
    assert len(noise.rows) == round(0.3 * len(before))
    scores = Counter(before.values())
    for row, old, new in zip(noise.rows, noise.original, noise.new, strict=True):
        assert old == before[row]
        # a train score of some other row (equal to its own only where another row has that score too)
        assert new in scores and (new != old or scores[old] > 1)
    assert sum(o != n for o, n in zip(noise.original, noise.new, strict=True)) > 0.8 * len(noise.rows)  # mostly really changed
    after = _labels(noisy.train_set.examples)
    assert {i for i in before if before[i] != after[i]} <= set(noise.rows)


def test_the_meta_split_and_dev_are_never_touched(glue_dir, tokenizer):
    clean, noisy = _data("mrpc", glue_dir, tokenizer), _data("mrpc", glue_dir, tokenizer, p=0.9)
    assert noisy.meta_set.examples == clean.meta_set.examples
    assert noisy.dev_sets["dev"].examples == clean.dev_sets["dev"].examples
    assert not set(noisy.label_noise.rows) & {e.idx for e in noisy.meta_set.examples}
    assert [e.idx for e in noisy.train_set.examples] == [e.idx for e in clean.train_set.examples]


def test_the_rows_depend_on_the_seeds_only(glue_dir, tokenizer):
    """Not on global RNG state, batch order or batch size (what differs between schemes, ranks and a resume)."""
    def rows(seed, **settings):
        random.seed(seed + 5)
        torch.manual_seed(seed + 7)
        np.random.seed(seed + 11)
        return _data("mrpc", glue_dir, tokenizer, p=0.3, seed=seed, **settings).label_noise

    first = rows(1)
    assert rows(1, order_seed=9, batch_size=7, meta_batch_size=3) == first
    resumed = GlueDataModule("mrpc", tokenizer, dir=str(glue_dir), max_len=16, max_train_samples=300,
                             label_noise=0.3, label_noise_seed=1)
    resumed.load_state_dict({"train": {"pass_": 1, "batches_done": 2}})
    resumed.setup("fit")
    assert resumed.label_noise == first
    other = rows(2)
    assert other.rows != first.rows and other.digest() != first.digest()
    # the seed defaults to the run's (order_seed, data.order_seed=${seed})
    assert _data("mrpc", glue_dir, tokenizer, p=0.3, seed=None, order_seed=1).label_noise == first


@pytest.mark.parametrize(("value", "message"), [
    ("1.5", "data.label_noise=1.5 is outside [0, 1); accepted: a number in [0, 1)"),
    ("1", "data.label_noise=1 is outside [0, 1); accepted: a number in [0, 1)"),
    ("-0.1", "data.label_noise=-0.1 is outside [0, 1); accepted: a number in [0, 1)"),
    ("abc", "data.label_noise='abc' is not a number in [0, 1)"),
])
def test_a_bad_share_is_refused_in_one_line(value, message):
    with pytest.raises(RwkdError) as err:
        check_settings(compose_train(["task=mrpc", f"data.label_noise={value}"]))
    assert str(err.value) == message
    with pytest.raises(RwkdError, match=r"data.label_noise_seed=0.5 is not an integer"):
        check_settings(compose_train(["task=mrpc", "data.label_noise=0.3", "data.label_noise_seed=0.5"]))


def test_the_cli_refuses_a_bad_share_before_any_work(tmp_path):
    proc = run_rwkd_here(["train", "task=mrpc", "data.label_noise=1.5", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rwkd: error:")]
    assert errors == ["rwkd: error: data.label_noise=1.5 is outside [0, 1); accepted: a number in [0, 1)"]
    assert "Traceback" not in proc.stderr
    assert not any((tmp_path / "run").glob("*"))  # nothing written: no teacher, no data read, no log


@pytest.mark.parametrize("task", ["mrpc", "sst2"])
def test_the_noise_experiment_composes_and_passes_the_checks(task):
    cfg = compose_train(["experiment=noise_v3", f"task={task}"])
    check_settings(cfg)
    assert cfg.data.label_noise == 0.3 and cfg.data.label_noise_seed == cfg.seed
    assert cfg.student.name == "minilm-l6" and cfg.student.model.layers is None and cfg.teacher.name == "mpnet-base"
    assert cfg.data.max_train_samples == (8000 if task == "sst2" else None)
    # the states folder the v3 study's K-term runs read, so the two-term and K=3 runs distil one folder
    k_terms = compose_train(["experiment=noise_v3", f"task={task}", "terms=hidden", "weighting=meta"])
    check_settings(k_terms)
    states = compose_train(["experiment=study_glue_v3", "terms=mpnet_minilm_hidden", f"task={task}"]).teacher.outputs
    assert cfg.teacher.outputs == k_terms.teacher.outputs == states and len(k_terms.kd.hidden) == 1


# ---- the weights on flipped and clean rows -------------------------------------------------------------------
def _noisy_log(weights: list[float], noised: list[int], epoch: list[int]) -> dict:
    n = len(weights)
    return {"epoch": epoch, "step": list(range(n)), "idx": list(range(n)), "weight": weights,
            "label_loss": [1.0] * n, "kd_loss": [1.0] * n, "teacher_correct": [1.0] * n,
            "teacher_confidence": [0.5] * n, NOISED: noised}


def test_the_summary_splits_the_label_terms_weight_by_flipped_and_clean_rows():
    log = _noisy_log([0.2, 0.4, 0.9, 0.6, 0.1, 0.8], noised=[0, 0, 1, 0, 0, 1], epoch=[0, 0, 0, 1, 1, 1])
    split = summarise_log(log)["by_label_noise"]
    assert set(split) == {"label", "teacher"}
    label = split["label"]
    assert label["clean"]["rows"] == [2, 2] and label["flipped"]["rows"] == [1, 1]
    assert label["clean"]["weight_sum"] == pytest.approx([0.8 + 0.6, 0.4 + 0.9])  # 1 - w
    assert label["flipped"]["weight_sum"] == pytest.approx([0.1, 0.2])
    assert label["flipped"]["low"] == pytest.approx([0.1, 0.2]) and label["clean"]["high"] == pytest.approx([0.8, 0.9])
    assert split["teacher"]["flipped"]["weight_sum"] == pytest.approx([0.9, 0.8])
    assert sum(label["clean"]["histogram"][0]) == 2 and label["clean"]["histogram"][0][24] == 1  # 0.6 in [0.6, 0.625)
    assert "by_label_noise" not in summarise_log({k: v for k, v in log.items() if k != NOISED})
    # pooling two halves equals summarising the rows together
    halves = [{k: v[:3] for k, v in log.items()}, {k: v[3:] for k, v in log.items()}]
    _assert_close(pool([summarise_log(h) for h in halves])["by_label_noise"], split)


def _assert_close(got, expected) -> None:
    if isinstance(expected, dict):
        assert got.keys() == expected.keys()
        for k in expected:
            _assert_close(got[k], expected[k])
    elif isinstance(expected, list):
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            _assert_close(g, e)
    else:
        assert got == pytest.approx(expected)


def test_the_median_is_exact_for_equal_weights_and_within_a_bin_otherwise():
    counts = [0] * 40
    counts[20] = 5
    assert histogram_median(counts, 0.5, 0.5) == 0.5
    values = np.random.default_rng(0).uniform(0, 1, 999)
    hist = np.histogram(values, bins=40, range=(0, 1))[0].tolist()
    assert abs(histogram_median(hist, values.min(), values.max()) - np.median(values)) < 1 / 40
    assert histogram_median([0] * 40, None, None) is None
    # an even count: the mean of the two middle weights, each in its own bin (not a point of the lower bin)
    halves = np.concatenate([np.random.default_rng(1).uniform(0, 0.1, 500), np.random.default_rng(2).uniform(0.9, 1, 500)])
    hist = np.histogram(halves, bins=40, range=(0, 1))[0].tolist()
    assert abs(histogram_median(hist, halves.min(), halves.max()) - np.median(halves)) < 1 / 40
    two = [0] * 40
    two[0] = two[39] = 1
    assert histogram_median(two, 0.01, 0.99) == pytest.approx(0.5)


def _made_up_run(folder: Path, scheme: str, seed: int, dev: float, label_clean: float, label_flipped: float) -> dict:
    """A run folder holding a weight summary whose last epoch gives the label term these weights (the first epoch
    something else), and its results record."""
    folder.mkdir(parents=True)
    weights = [0.5] * 4 + [1 - label_clean] * 3 + [1 - label_flipped]
    log = _noisy_log(weights, noised=[0, 0, 0, 1, 0, 0, 0, 1], epoch=[0] * 4 + [1] * 4)
    (folder / SUMMARY).write_text(json.dumps(summarise_log(log)))
    return {"_path": str(folder), "task": "mrpc", "weighting": scheme, "seed": seed,
            "best": {"metrics": {"val/headline": dev}},
            "data": {"label_noise": {"p": 0.3, "seed": seed, "changed": 1, "digest": "x", "rows": CHANGES_FILE}}}


def test_the_report_tables_dev_score_and_label_weight_on_clean_and_flipped_rows(tmp_path):
    results = [_made_up_run(tmp_path / "a1", "meta", 1, 0.80, label_clean=0.7, label_flipped=0.3),
               _made_up_run(tmp_path / "a2", "meta", 2, 0.70, label_clean=0.7, label_flipped=0.1),
               _made_up_run(tmp_path / "b1", "fixed(0.5)", 1, 0.60, label_clean=0.5, label_flipped=0.5)]
    clean_run = dict(results[2], weighting="none", _path=str(tmp_path / "c"), data={})  # no noise: not in the table
    table = label_noise_table([*results, clean_run])
    lines = table.splitlines()
    assert lines[0].startswith("| task | scheme | p | runs | dev | label weight, clean | label weight, flipped |")
    assert len(lines) == 4
    fixed = next(line for line in lines if "fixed(0.5)" in line)
    assert "| 0.500 (0.500) | 0.500 (0.500) | +0.000 |" in fixed
    meta = next(line for line in lines if "| meta |" in line)
    cells = [c.strip() for c in meta.strip("|").split("|")]
    assert cells[2:5] == ["0.3", "2", "75.00"]  # p, runs, dev mean over seeds
    assert cells[5].startswith("0.700") and cells[6].startswith("0.200") and cells[7] == "-0.500"
    assert cells[8] == "0.300 / 0.800"  # the teacher side: w
    assert label_noise_table([clean_run]) is None
    # a run that scored NaN: the dev mean is over the others, and says over how many
    results[1]["best"] = {"metrics": {"val/headline": float("nan")}}
    meta = next(line for line in label_noise_table(results).splitlines() if "| meta |" in line)
    assert "| 2 | 80.00 (n=1) |" in meta
    # two shares of noise would pool into one row of weights: refused
    results[1]["data"] = {"label_noise": {**results[1]["data"]["label_noise"], "p": 0.1}}
    with pytest.raises(RwkdError, match=r"the noisy runs of mrpc meta have label_noise p 0.1, 0.3"):
        label_noise_table(results)


def test_a_study_reported_with_its_noisy_condition_keeps_them_apart(tmp_path):
    """`rwkd report STUDY NOISY`: the same task, scheme and seed name one run in each; the tables are the clean
    study's, and the noisy runs get a section of their own, with their commands and paired differences."""
    from rwkd.report.command import main

    families = {"fixed": ["fixed_a25", "fixed_a75"]}
    dev = {False: {"none": 70, "fixed_a25": 72, "fixed_a75": 71}, True: {"none": 50, "fixed_a25": 61, "fixed_a75": 55}}
    for noisy, by_scheme in dev.items():
        for scheme, score in by_scheme.items():
            for seed in (1, 2):
                row = {"epoch": 0, "val/headline": (score + seed) / 100, "meta/headline": 0.6 if scheme != "fixed_a75" else 0.5}
                record = {"task": "mrpc", "weighting": scheme, "seed": seed, "choices": {"weighting": scheme},
                          "command": f"rwkd train -m experiment={'noise' if noisy else 'study'} seed=1,2",
                          "config": {"study": {"families": families}}, "history": [row],
                          "best": {"epoch": 0, "metrics": row}, "last": {"metrics": row},
                          "data": {"label_noise": {"p": 0.3, "seed": seed}} if noisy else {}}
                folder = tmp_path / ("noisy" if noisy else "study") / scheme / str(seed)
                folder.mkdir(parents=True)
                (folder / "results.json").write_text(json.dumps(record))
    doc = tmp_path / "page.md"
    assert main([str(tmp_path / "study"), str(tmp_path / "noisy"), "--no-plots", "--out", str(tmp_path),
                 "--doc", str(doc)]) == 0
    page = doc.read_text()
    main_part, noise_part = page.split("## Noisy labels")
    assert "| none | 71.50 ± 0.71 (n=2) |" in main_part and "51.50" not in main_part  # the clean runs alone
    assert "experiment=noise" not in main_part.split("## Commands")[1].split("##")[0]
    assert "rwkd train -m experiment=noise seed=1,2" in noise_part
    # the noisy runs' own paired table: the tuned fixed alpha (0.25 on the meta split) minus none, +11 each seed
    assert "| none | -11.00" in noise_part
    assert "A condition of its own (6 runs)" in noise_part


# ---- end to end --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_noisy_run_records_its_rows_and_splits_its_weights(tmp_path):
    common = ["train", "task=mrpc", *TINY, "trainer.max_epochs=1", "data.label_noise=0.3", "seed=3"]
    runs = {}
    for scheme in ("none", "heuristic_correct"):
        proc = run_rwkd([*common, f"weighting={scheme}", f"hydra.run.dir=runs/{scheme}"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[scheme] = tmp_path / "runs" / scheme
    records = {s: json.loads((run / "results.json").read_text()) for s, run in runs.items()}
    changes = {s: json.loads((run / CHANGES_FILE).read_text()) for s, run in runs.items()}
    noise = records["heuristic_correct"]["data"]["label_noise"]
    n_train = records["heuristic_correct"]["data"]["train_samples"]
    assert noise["p"] == 0.3 and noise["seed"] == 3 and noise["changed"] == round(0.3 * n_train)
    assert noise["rows"] == CHANGES_FILE and len(changes["heuristic_correct"]["rows"]) == noise["changed"]
    assert all(o != n for o, n in zip(changes["heuristic_correct"]["original"], changes["heuristic_correct"]["new"], strict=True))
    # every scheme of a seed trains on the same wrong labels
    assert changes["none"] == changes["heuristic_correct"]
    assert records["none"]["data"]["label_noise"]["digest"] == noise["digest"]
    for scheme, run in runs.items():
        split = json.loads((run / SUMMARY).read_text())["by_label_noise"]
        # one epoch, every training row weighted once
        assert split["label"]["flipped"]["rows"] == [noise["changed"]], scheme
        assert split["label"]["clean"]["rows"] == [n_train - noise["changed"]], scheme
    none = json.loads((runs["none"] / SUMMARY).read_text())["by_label_noise"]["label"]
    assert none["flipped"]["weight_sum"] == pytest.approx([noise["changed"]])  # no teacher: the label weighs 1
    table = label_noise_table([{**r, "_path": str(runs[s])} for s, r in records.items()])
    assert len(table.splitlines()) == 4  # header, separator, a row per scheme


def test_the_teacher_is_fine_tuned_on_clean_labels():
    """The teacher's cache key has no noise setting: one cached teacher serves clean and noisy runs, so it must
    never learn from the noisy rows."""
    from rwkd.teacher.finetune import _teacher_settings

    cfg = compose_train(["task=mrpc", "data.label_noise=0.3"])
    assert _teacher_settings(cfg).data.label_noise == 0.0 and cfg.data.label_noise == 0.3
