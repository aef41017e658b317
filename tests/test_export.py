"""An exported student (best_hf/) says what it answers: its task's label names in id2label / label2id, STS-B as
one regression output, and it works as it is in `transformers.pipeline("text-classification")`."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_rwkd_here
from test_predict import TINY_CONFIG
from transformers import pipeline

from rwkd.data.glue_tsv import read_split
from rwkd.models import build_classifier, load_tokenizer
from rwkd.run.evaluate import load_for_eval
from rwkd.run.export import save_classifier
from rwkd.tasks import TASKS, get_task

# id order = the ids rwkd trains with (the files' label order; the hub's for MNLI), names as the GLUE hub dataset gives them
LABEL_NAMES = {
    "cola": ["unacceptable", "acceptable"],
    "sst2": ["negative", "positive"],
    "mrpc": ["not_equivalent", "equivalent"],
    "qqp": ["not_duplicate", "duplicate"],
    "mnli": ["entailment", "neutral", "contradiction"],
    "qnli": ["entailment", "not_entailment"],
    "rte": ["entailment", "not_entailment"],
    "wnli": ["not_entailment", "entailment"],
    "stsb": ["similarity"],
}


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_an_export_carries_its_tasks_label_names(task_name, tmp_path):
    task = get_task(task_name)
    model = build_classifier("embedded", task.num_labels, random_init=True, config_overrides=TINY_CONFIG, seed=0)
    save_classifier(model, load_tokenizer("embedded"), task, tmp_path / "best_hf")
    config = json.loads((tmp_path / "best_hf" / "config.json").read_text())
    names = LABEL_NAMES[task_name]
    assert config["id2label"] == {str(i): name for i, name in enumerate(names)}
    assert config["label2id"] == {name: i for i, name in enumerate(names)}
    assert config["finetuning_task"] == task_name
    assert config["problem_type"] == ("regression" if task_name == "stsb" else "single_label_classification")


def test_a_regression_export_gives_its_raw_score_in_a_pipeline(tmp_path):
    task = get_task("stsb")
    model = build_classifier("embedded", 1, random_init=True, config_overrides=TINY_CONFIG, seed=1)
    tokenizer = load_tokenizer("embedded")
    save_classifier(model, tokenizer, task, tmp_path / "best_hf")
    scorer = pipeline("text-classification", model=str(tmp_path / "best_hf"), device="cpu")
    pair = {"text": "A man is playing a guitar.", "text_pair": "A man plays the guitar."}
    with torch.no_grad():
        raw = model.eval()(**tokenizer(pair["text"], pair["text_pair"], return_tensors="pt")).logits.item()
    for kwargs in ({"function_to_apply": "none"}, {}):  # problem_type regression: no sigmoid by default either
        answer = scorer(pair, **kwargs)
        answer = answer[0] if isinstance(answer, list) else answer
        assert answer["label"] == "similarity" and answer["score"] == pytest.approx(raw, abs=1e-5)


@pytest.mark.slow
def test_a_trained_runs_export_answers_sentence_pairs_in_a_pipeline(trained_mrpc, glue_dir, tmp_path):
    """The export of a real tiny MRPC run, in a pipeline, names its answers and gives the answers `rwkd predict` writes."""
    export = trained_mrpc / "best_hf"
    classifier = pipeline("text-classification", model=str(export), device="cpu")
    rows = read_split(glue_dir, get_task("mrpc"), "dev")[:12]
    # the run read at most 48 tokens a pair (data.max_len): the pipeline is asked to cut the same way
    answers = classifier([{"text": r.text_a, "text_pair": r.text_b} for r in rows], truncation=True, max_length=48)
    assert {a["label"] for a in answers} <= {"not_equivalent", "equivalent"}
    # each answer is the model's on that pair (the second sentence reached it as the pair's second segment)
    model, tokenizer = load_for_eval(export)[0].eval(), load_tokenizer(str(export))
    with torch.no_grad():
        for row, answer in zip(rows, answers, strict=True):
            pair = tokenizer(row.text_a, row.text_b, truncation=True, max_length=48, return_tensors="pt")
            probabilities = model(**pair).logits.softmax(-1)[0]
            assert answer["label"] == LABEL_NAMES["mrpc"][int(probabilities.argmax())]
            assert answer["score"] == pytest.approx(float(probabilities.max()), abs=1e-5)
    assert len({round(a["score"], 6) for a in answers}) > 1  # different pairs, different answers
    run = run_rwkd_here(["predict", f"ckpt={export}", "split=dev", f"out={tmp_path / 'dev'}"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    written = [line.split("\t")[1] for line in (tmp_path / "dev" / "MRPC.tsv").read_text().splitlines()[1:13]]
    assert [a["label"] for a in answers] == [LABEL_NAMES["mrpc"][int(w)] for w in written]
