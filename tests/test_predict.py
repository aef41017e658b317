"""`rwkd predict`: the GLUE leaderboard's submission files, on the real test files and on generated ones laid out
like the tasks whose files are not here (QQP, MNLI and its diagnostic set AX, WNLI), the all-tasks zip, the refusals,
and dev predictions that score what `rwkd eval` scores."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import run_rwkd_here, write_tsv
from test_bad_input import _assert_one_line_error

from rwkd.data.glue_tsv import read_split
from rwkd.metrics import GlueMetrics
from rwkd.models import build_classifier, load_tokenizer
from rwkd.run.export import save_classifier
from rwkd.tasks import get_task

# initializer_range 1: at BERT's 0.02 a random tiny model gives every row the same answer, and a row mix-up would
# not show; at 1 its answers vary from row to row (and STS-B's stray outside 0-5, so the clipping is exercised)
TINY_CONFIG = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
               "max_position_embeddings": 128, "initializer_range": 1.0}
# the strings gluebenchmark.com reads for each class
LEADERBOARD_LABELS = {"cola": {"0", "1"}, "sst2": {"0", "1"}, "mrpc": {"0", "1"}, "qqp": {"0", "1"}, "wnli": {"0", "1"},
                      "rte": {"entailment", "not_entailment"}, "qnli": {"entailment", "not_entailment"},
                      "mnli": {"entailment", "neutral", "contradiction"}}
REAL_TEST_ROWS = {"cola": 1063, "sst2": 1821, "mrpc": 1725, "stsb": 1379, "rte": 3000, "qnli": 5463}  # shared/glue/README


def tiny_model(path: Path, task_name: str, export: bool = False, seed: int = 0) -> Path:
    """A randomly initialised tiny BERT for the task, as a run's best.ckpt or as its best_hf export: seconds to make,
    where training one would take a run."""
    task = get_task(task_name)
    model = build_classifier("embedded", task.num_labels, random_init=True, config_overrides=TINY_CONFIG, seed=seed)
    if export:
        save_classifier(model, load_tokenizer("embedded"), task, path, extra={"tokenizer": "embedded", "max_len": 64})
        return path
    # what DistillationModule.on_save_checkpoint puts in best.ckpt for rwkd eval: the student's weights, how to rebuild it
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"student.{k}": v for k, v in model.state_dict().items()},
                "rwkd": {"task": task.name, "num_labels": task.num_labels, "student_config": model.config.to_dict(),
                         "tokenizer": "embedded", "max_len": 64}}, path)
    return path


def _ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-3000:]}"
    return proc


def _ids_of(path: Path) -> list[str]:
    """A test file's own ids, read here without rwkd (tab-separated, no quoting, header first)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    lines = lines[:-1] if lines[-1] == "" else lines
    header = lines[0].split("\t")
    column = header.index("id" if "id" in header else "index")
    return [line.split("\t")[column] for line in lines[1:]]


def _submission(path: Path) -> tuple[list[str], list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "index\tprediction"
    ids, answers = zip(*(line.split("\t") for line in lines[1:]), strict=True)
    return list(ids), list(answers)


def _check_answers(task_name: str, answers: list[str]) -> None:
    if task_name == "stsb":
        assert all(0.0 <= float(a) <= 5.0 for a in answers)
    else:
        assert set(answers) <= LEADERBOARD_LABELS[task_name], set(answers)


@pytest.mark.parametrize("task_name", sorted(REAL_TEST_ROWS))
def test_real_test_files(task_name, real_glue_dir, tmp_path):
    task = get_task(task_name)
    ckpt = tiny_model(tmp_path / "best.ckpt", task_name)
    _ok(run_rwkd_here(["predict", f"ckpt={ckpt}", f"data.dir={real_glue_dir}", f"out={tmp_path / 'out'}"], cwd=tmp_path))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{task.folder}.tsv"]  # CoLA.tsv, SST-2.tsv, ...
    ids, answers = _submission(tmp_path / "out" / f"{task.folder}.tsv")
    assert ids == _ids_of(real_glue_dir / task.folder / "test.tsv") and len(ids) == REAL_TEST_ROWS[task_name]
    _check_answers(task_name, answers)
    assert len(set(answers)) > 1  # the rows get different answers: a mix-up of rows would show


def _text(i: int) -> str:
    return f"some words for row {i} , with a \" lone quote"


def write_test_files(glue: Path, n: int = 23) -> dict[str, list[str]]:
    """Test files in the GLUE layout of QQP, MNLI (matched, mismatched, the diagnostic set) and WNLI, with ids that
    are not row numbers, so a submission that numbered its rows would show. Returns each file's ids."""
    ids = [str(1000 + 7 * i) for i in range(n)]
    mnli = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
            "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]
    layouts = {
        "QQP/test.tsv": (["id", "question1", "question2"], lambda i: [_text(i), _text(i + 1)]),
        "MNLI/test_matched.tsv": (mnli, lambda i: ["1", "2", "fiction", "(a)", "(b)", "(ROOT a)", "(ROOT b)", _text(i), _text(i + 1)]),
        "MNLI/test_mismatched.tsv": (mnli, lambda i: ["3", "4", "letters", "(a)", "(b)", "(ROOT a)", "(ROOT b)", _text(i), _text(i)]),
        "diagnostic/diagnostic.tsv": (["index", "sentence1", "sentence2"], lambda i: [_text(i), _text(i + 2)]),
        "WNLI/test.tsv": (["index", "sentence1", "sentence2"], lambda i: [_text(i), _text(i + 3)]),
    }
    for name, (header, row) in layouts.items():
        write_tsv(glue / name, header, [[j, *row(i)] for i, j in enumerate(ids)])
    return {name: ids for name in layouts}


@pytest.mark.parametrize("task_name", ["qqp", "mnli", "wnli"])
def test_generated_test_files(task_name, tmp_path):
    glue = tmp_path / "glue"
    ids = write_test_files(glue)
    ckpt = tiny_model(tmp_path / "best_hf", task_name, export=True)
    _ok(run_rwkd_here(["predict", f"ckpt={ckpt}", f"data.dir={glue}", f"out={tmp_path / 'out'}"], cwd=tmp_path))
    expected = {"qqp": {"QQP.tsv": "QQP/test.tsv"}, "wnli": {"WNLI.tsv": "WNLI/test.tsv"},
                "mnli": {"MNLI-m.tsv": "MNLI/test_matched.tsv", "MNLI-mm.tsv": "MNLI/test_mismatched.tsv",
                         "AX.tsv": "diagnostic/diagnostic.tsv"}}[task_name]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(expected)
    for written, source in expected.items():
        got_ids, answers = _submission(tmp_path / "out" / written)
        assert got_ids == ids[source]
        _check_answers(task_name, answers)


def test_the_diagnostic_set_given_by_path_and_mnli_without_one(tmp_path, capsys):
    glue = tmp_path / "glue"
    write_test_files(glue)
    (glue / "diagnostic" / "diagnostic.tsv").rename(tmp_path / "AX-elsewhere.tsv")
    ckpt = tiny_model(tmp_path / "mnli.ckpt", "mnli")
    proc = _ok(run_rwkd_here(["predict", f"ckpt={ckpt}", f"data.dir={glue}", f"out={tmp_path / 'none'}"], cwd=tmp_path))
    assert "AX.tsv is not written" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "none").iterdir()) == ["MNLI-m.tsv", "MNLI-mm.tsv"]
    _ok(run_rwkd_here(["predict", f"ckpt={ckpt}", f"data.dir={glue}", f"ax={tmp_path / 'AX-elsewhere.tsv'}",
                       f"out={tmp_path / 'given'}"], cwd=tmp_path))
    assert len(_submission(tmp_path / "given" / "AX.tsv")[0]) == 23


def test_all_tasks_gathers_one_model_per_task_into_a_zip(tmp_path):
    glue = tmp_path / "glue"
    write_test_files(glue)
    models = tmp_path / "models"
    tiny_model(models / "qqp" / "best_hf", "qqp", export=True)  # an export
    tiny_model(models / "MNLI" / "best.ckpt", "mnli")  # GLUE's folder name, a copied checkpoint
    tiny_model(models / "wnli" / "checkpoints" / "best.ckpt", "wnli")  # a run folder
    (models / "notes").mkdir()  # no model: not a task folder, and not an error
    proc = _ok(run_rwkd_here(["predict", "--all-tasks", str(models), f"data.dir={glue}"], cwd=tmp_path))
    names = ["QQP.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "WNLI.tsv", "AX.tsv"]
    with zipfile.ZipFile(models / "submission_test.zip") as archive:
        assert sorted(archive.namelist()) == sorted(names)  # all at the root
        assert archive.read("QQP.tsv") == (models / "submission_test" / "QQP.tsv").read_bytes()
    assert "a full GLUE submission also has CoLA.tsv, SST-2.tsv, MRPC.tsv, STS-B.tsv, QNLI.tsv, RTE.tsv" in proc.stdout
    # a mapping adds or replaces a task's model
    tiny_model(tmp_path / "other" / "best_hf", "wnli", export=True, seed=3)
    _ok(run_rwkd_here(["predict", f"all_tasks={models}", f"+models.wnli={tmp_path / 'other' / 'best_hf'}",
                       f"data.dir={glue}", f"out={tmp_path / 'sub'}"], cwd=tmp_path))
    with zipfile.ZipFile(tmp_path / "sub.zip") as archive:
        assert sorted(archive.namelist()) == sorted(names)


def test_refusals_name_the_bad_value(tmp_path, glue_dir):
    rte = tiny_model(tmp_path / "rte.ckpt", "rte")
    here = tmp_path
    cases = [
        (["predict", f"ckpt={rte}", "task=mrpc"],
         r"ckpt=.*rte.ckpt was trained on rte, not task=mrpc; drop task= to predict rte's test files, or give a model trained on mrpc"),
        (["predict", f"ckpt={rte}", "split=train"], r"split='train' is unknown; accepted: test, dev"),
        (["predict"], r"rwkd predict needs a model; accepted: ckpt=PATH \(one model\) or all_tasks=DIR"),
        (["predict", f"ckpt={rte}", f"all_tasks={tmp_path}"], r"ckpt=.* gives one model, and all_tasks/models one per task"),
        (["predict", f"ckpt={rte}", f"ax={tmp_path / 'no.tsv'}"], r"ax=.*no.tsv is MNLI's diagnostic set, .* and none is given"),
        (["predict", f"ckpt={rte}", f"data.dir={tmp_path / 'empty'}"], r"missing test file .*empty/RTE/test.tsv; expected the GLUE layout"),
        (["predict", f"all_tasks={tmp_path / 'nowhere'}"], r"all_tasks=.*nowhere is not a folder"),
        (["predict", f"+models.rtf={rte}"], r"models.rtf is not a task; accepted: models.TASK=PATH for TASK among cola, "),
    ]
    (tmp_path / "empty").mkdir()
    for args, pattern in cases:
        _assert_one_line_error(run_rwkd_here(args, cwd=here), pattern)
    # a model in the wrong task's folder, and a folder that is no task
    tiny_model(tmp_path / "all" / "mrpc" / "best.ckpt", "rte")
    _assert_one_line_error(run_rwkd_here(["predict", f"all_tasks={tmp_path / 'all'}"], cwd=here),
                           r"all/mrpc/best.ckpt \(the mrpc model\) was trained on rte, not task=mrpc; each task's model")
    tiny_model(tmp_path / "odd" / "rtee" / "best.ckpt", "rte")
    _assert_one_line_error(run_rwkd_here(["predict", f"all_tasks={tmp_path / 'odd'}"], cwd=here),
                           r"odd/rtee holds a model, and 'rtee' is not a task; accepted folder names: cola, ")
    # another label count: an export that does not record its task, asked for a regression task
    model = build_classifier("embedded", 2, random_init=True, config_overrides=TINY_CONFIG, seed=0)
    model.save_pretrained(tmp_path / "bare")
    load_tokenizer("embedded").save_pretrained(tmp_path / "bare")
    _assert_one_line_error(run_rwkd_here(["predict", f"ckpt={tmp_path / 'bare'}", "task=stsb"], cwd=here),
                           r"ckpt=.*bare has 2 output\(s\); task stsb needs 1")
    assert not list(tmp_path.glob("**/*_predictions_*"))  # nothing written by a refused command


def _dev_metrics_of(predictions: dict[str, Path], task_name: str, glue: Path) -> dict[str, float]:
    """What GlueMetrics makes of the written dev predictions against the dev labels."""
    task = get_task(task_name)
    metrics = GlueMetrics(task)
    for split, path in predictions.items():
        ids, answers = _submission(path)
        labels = torch.tensor([e.label for e in read_split(glue, task, split)])
        assert ids == [str(i) for i in range(len(labels))]  # dev rows go by row number
        chosen = torch.tensor([task.labels.index(a) for a in answers])
        metrics.update(split, torch.nn.functional.one_hot(chosen, task.num_labels).float(), labels)
    return metrics.compute()


@pytest.mark.parametrize("task_name", ["rte", "cola"])
def test_dev_predictions_score_what_eval_scores(task_name, glue_dir, tmp_path):
    ckpt = tiny_model(tmp_path / "best.ckpt", task_name, seed=5)
    _ok(run_rwkd_here(["predict", f"ckpt={ckpt}", "split=dev", f"data.dir={glue_dir}"], cwd=tmp_path))
    _ok(run_rwkd_here(["eval", f"ckpt={ckpt}", f"data.dir={glue_dir}", f"out={tmp_path / 'eval.json'}"], cwd=tmp_path))
    scored = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    folder = get_task(task_name).folder
    written = tmp_path / "best_predictions_dev" / f"{folder}.tsv"
    assert len(set(_submission(written)[1])) > 1  # the rows get different answers: a mix-up of rows would show
    assert _dev_metrics_of({"dev": written}, task_name, glue_dir) == pytest.approx(scored, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["checkpoints/best.ckpt", "best_hf"])
def test_a_trained_run_predicts_what_eval_scores(trained_mrpc, glue_dir, tmp_path, what):
    model = trained_mrpc / what
    _ok(run_rwkd_here(["predict", f"ckpt={model}", "split=dev", f"out={tmp_path / 'dev'}"], cwd=tmp_path))
    # the run scored 48 dev rows (data.max_eval_samples); predictions cover all of them, so eval is asked for all too
    _ok(run_rwkd_here(["eval", f"ckpt={model}", "data.max_eval_samples=100000", f"out={tmp_path / 'eval.json'}"],
                      cwd=tmp_path))
    scored = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert _dev_metrics_of({"dev": tmp_path / "dev" / "MRPC.tsv"}, "mrpc", glue_dir) == pytest.approx(scored, abs=1e-6)
