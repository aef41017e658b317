"""GLUE parsing on the real files (row counts from shared/glue/README.md) and on generated files
for the tasks whose data is not here (QQP, MNLI, QNLI train)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import write_tsv

from rwkd.data.glue_tsv import read_split
from rwkd.errors import RwkdError
from rwkd.tasks import TASKS, get_task

REAL_COUNTS = {
    ("cola", "train"): 8551, ("cola", "dev"): 1043,
    ("sst2", "train"): 67349, ("sst2", "dev"): 872,
    ("mrpc", "train"): 3668, ("mrpc", "dev"): 408,
    ("stsb", "train"): 5749, ("stsb", "dev"): 1500,
    ("rte", "train"): 2490, ("rte", "dev"): 277,
    ("wnli", "train"): 635, ("wnli", "dev"): 71,
    ("qnli", "dev"): 5463,
}


@pytest.mark.parametrize(("task", "split"), sorted(REAL_COUNTS))
def test_real_files_load_with_published_row_counts(real_glue_dir, task, split):
    examples = read_split(real_glue_dir, get_task(task), split)
    assert len(examples) == REAL_COUNTS[(task, split)]
    assert [e.idx for e in examples] == list(range(len(examples)))
    assert all(e.text_a for e in examples)


def test_real_label_distributions_match_readme(real_glue_dir):
    mrpc = Counter(e.label for e in read_split(real_glue_dir, get_task("mrpc"), "train"))
    assert mrpc == {1: 2474, 0: 1194}
    cola = Counter(e.label for e in read_split(real_glue_dir, get_task("cola"), "dev"))
    assert cola == {1: 721, 0: 322}
    rte = Counter(e.label for e in read_split(real_glue_dir, get_task("rte"), "train"))
    assert rte == {0: 1249, 1: 1241}  # entailment=0, as on the hub
    qnli = Counter(e.label for e in read_split(real_glue_dir, get_task("qnli"), "dev"))
    assert qnli == {0: 2702, 1: 2761}


def test_real_quirks_bom_quotes_floats(real_glue_dir):
    mrpc_dev = read_split(real_glue_dir, get_task("mrpc"), "dev")
    # the first dev pair's second sentence opens with an unbalanced quote: kept verbatim
    assert mrpc_dev[0].text_b.startswith('" The foodservice pie business')
    stsb = read_split(real_glue_dir, get_task("stsb"), "dev")
    assert stsb[0].label == 5.0 and all(isinstance(e.label, float) and 0 <= e.label <= 5 for e in stsb)
    cola = read_split(real_glue_dir, get_task("cola"), "train")
    assert cola[0].text_b is None and cola[0].text_a.startswith("Our friends won't buy this analysis")


def test_every_task_has_a_config():
    conf = Path(__file__).resolve().parents[1] / "conf" / "task"
    assert sorted(p.stem for p in conf.glob("*.yaml")) == sorted(TASKS)


def _qqp(root: Path) -> None:
    header = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    rows = [["0", "1", "2", 'How do I "learn" Python?', "What is the best way to learn Python?", "1"],
            ["1", "3", "4", "Why is the sky blue?", "How tall is Everest?", "0"]]
    write_tsv(root / "QQP" / "train.tsv", header, rows)
    write_tsv(root / "QQP" / "dev.tsv", header, rows[:1])


def _mnli(root: Path) -> None:
    parses = ["( a )", "( b )", "(ROOT a)", "(ROOT b)"]
    train_header = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                    "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
    dev_header = train_header[:11] + ["label2", "label3", "label4", "label5", "gold_label"]
    train = [["0", "1", "1e", "gov", *parses, "A man sleeps.", "A person rests.", "entailment", "entailment"],
             ["1", "2", "2c", "fiction", *parses, "It rains.", "It is dry.", "contradiction", "contradiction"],
             ["2", "3", "3n", "travel", *parses, "She left.", "She left early.", "neutral", "neutral"]]
    write_tsv(root / "MNLI" / "train.tsv", train_header, train)
    dev = [["0", "9", "9n", "slate", *parses, "He ran.", "He ran fast.", "neutral", "neutral", "neutral",
            "entailment", "neutral", "neutral"]]
    write_tsv(root / "MNLI" / "dev_matched.tsv", dev_header, dev)
    write_tsv(root / "MNLI" / "dev_mismatched.tsv", dev_header, dev + dev)


def _qnli(root: Path) -> None:
    header = ["index", "question", "sentence", "label"]
    rows = [["0", "Who wrote it?", '"A lone quote opens this sentence.', "not_entailment"],
            ["1", "When?", "In 1990.", "entailment"]]
    write_tsv(root / "QNLI" / "train.tsv", header, rows)
    write_tsv(root / "QNLI" / "dev.tsv", header, rows)


def test_qqp_loader_on_generated_files(tmp_path):
    _qqp(tmp_path)
    train = read_split(tmp_path, get_task("qqp"), "train")
    assert [(e.text_a, e.text_b, e.label) for e in train] == [
        ('How do I "learn" Python?', "What is the best way to learn Python?", 1),
        ("Why is the sky blue?", "How tall is Everest?", 0),
    ]


def test_mnli_loader_reads_gold_label_and_both_dev_sets(tmp_path):
    _mnli(tmp_path)
    task = get_task("mnli")
    train = read_split(tmp_path, task, "train")
    assert [e.label for e in train] == [0, 2, 1]  # entailment, contradiction, neutral in hub order
    assert train[0].text_a == "A man sleeps." and train[0].text_b == "A person rests."
    assert len(read_split(tmp_path, task, "dev_matched")) == 1
    assert len(read_split(tmp_path, task, "dev_mismatched")) == 2


def test_qnli_loader_keeps_lone_quotes(tmp_path):
    _qnli(tmp_path)
    train = read_split(tmp_path, get_task("qnli"), "train")
    assert train[0].text_b == '"A lone quote opens this sentence.' and train[0].label == 1


def test_bom_header_is_accepted(tmp_path):
    header = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    write_tsv(tmp_path / "MRPC" / "train.tsv", header, [["1", "1", "2", "a", "b"]], bom=True)
    assert read_split(tmp_path, get_task("mrpc"), "train")[0].label == 1


def test_malformed_row_names_file_and_line(tmp_path):
    header = ["index", "sentence1", "sentence2", "label"]
    write_tsv(tmp_path / "RTE" / "train.tsv", header, [["0", "a", "b", "entailment"], ["1", "a only", "entailment"]])
    with pytest.raises(RwkdError, match=r"RTE/train\.tsv:3: malformed row: expected 4 .* found 3"):
        read_split(tmp_path, get_task("rte"), "train")


def test_label_out_of_range_names_value_and_accepted(tmp_path):
    write_tsv(tmp_path / "CoLA" / "train.tsv", None, [["src", "1", "", "ok"], ["src", "2", "", "bad"]])
    with pytest.raises(RwkdError, match=r"CoLA/train\.tsv:2: label '2' out of range; cola accepts 0, 1"):
        read_split(tmp_path, get_task("cola"), "train")
    header = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score"]
    write_tsv(tmp_path / "STS-B" / "train.tsv", header, [["0", "g", "f", "y", "0", "s", "s", "a", "b", "7.5"]])
    with pytest.raises(RwkdError, match=r"label '7.5' out of range"):
        read_split(tmp_path, get_task("stsb"), "train")


def test_missing_folder_and_split_file_name_the_expected_layout(tmp_path):
    with pytest.raises(RwkdError, match=r"does not exist; expected the GLUE layout .*RTE/\{train,dev\}\.tsv"):
        read_split(tmp_path / "nowhere", get_task("rte"), "train")
    (tmp_path / "RTE").mkdir()
    with pytest.raises(RwkdError, match=r"missing split file .*RTE/train\.tsv"):
        read_split(tmp_path, get_task("rte"), "train")


def test_empty_file_is_reported(tmp_path):
    (tmp_path / "RTE").mkdir()
    (tmp_path / "RTE" / "train.tsv").write_text("")
    with pytest.raises(RwkdError, match="is empty"):
        read_split(tmp_path, get_task("rte"), "train")


def test_unknown_task_lists_accepted():
    with pytest.raises(RwkdError, match=r"unknown task 'foo'; accepted: cola, sst2, mrpc"):
        get_task("foo")


def test_hub_source_maps_hub_rows_to_examples(monkeypatch):
    """The hub path (not reachable here) is exercised with a stand-in for datasets.load_dataset."""
    import datasets

    from rwkd.data.sources import GlueSource

    calls = []

    def fake_load(name, config, split):
        calls.append((name, config, split))
        return [{"premise": "p", "hypothesis": "h", "label": 2, "idx": 0}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    rows = GlueSource(get_task("mnli"), None).read("dev_mismatched")
    assert calls == [("nyu-mll/glue", "mnli", "validation_mismatched")]
    assert (rows[0].text_a, rows[0].text_b, rows[0].label) == ("p", "h", 2)

    def failing_load(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", failing_load)
    with pytest.raises(RwkdError, match=r"could not load nyu-mll/glue/rte \[train\] from the hub .*set data.dir"):
        GlueSource(get_task("rte"), None).read("train")
