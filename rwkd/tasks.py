"""The GLUE tasks: where their files live, which columns hold text and label, and how they are scored."""

from __future__ import annotations

from dataclasses import dataclass, field

from rwkd.errors import RwkdError


@dataclass(frozen=True)
class Column:
    """A column found by header name, or by position in files that have no header (CoLA)."""

    name: str | None = None
    position: int | None = None


@dataclass(frozen=True)
class TaskSpec:
    name: str
    folder: str  # folder name in the original GLUE layout
    hub_config: str  # config name of the hub dataset nyu-mll/glue
    text_a: Column
    text_b: Column | None
    label: Column
    labels: tuple[str, ...] | None  # label strings in id order; None for regression
    metrics: tuple[str, ...]  # dev metrics, names as logged under val/
    headline: tuple[str, ...]  # metrics averaged into the headline number
    dev_splits: tuple[str, ...] = ("dev",)  # file stems; the first is the headline split
    has_header: bool = True
    n_columns: int | None = None  # fixed column count for files without a header
    hub_text_columns: tuple[str, ...] = field(default=("sentence",))
    hub_dev_splits: tuple[str, ...] = ("validation",)
    # The unlabelled test files, one per dev split in the same order (MNLI: matched, mismatched), and the name the
    # GLUE site expects for each one's predictions; () means the task's folder name (RTE -> RTE.tsv).
    test_splits: tuple[str, ...] = ("test",)
    leaderboard_names: tuple[str, ...] = ()
    test_id: str = "index"  # the test file's id column, which the leaderboard matches predictions by (QQP: id)
    # test files always have a header; where train/dev find text by position (CoLA), the test file's names for it
    test_text_columns: tuple[str, ...] = ()
    # what an exported model calls its outputs (id2label): readable where the files say 0/1 (MRPC: equivalent)
    label_names: tuple[str, ...] | None = None

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)

    @property
    def submission_names(self) -> tuple[str, ...]:
        """The GLUE site's file stem for each of test_splits."""
        return self.leaderboard_names or (self.folder,)

    @property
    def output_names(self) -> tuple[str, ...]:
        """An export's id2label, in id order: label_names where given, else the files' label strings."""
        return self.label_names or self.labels or ("LABEL_0",)


_BINARY = ("0", "1")
_ENTAIL2 = ("entailment", "not_entailment")

TASKS: dict[str, TaskSpec] = {
    "cola": TaskSpec(
        "cola", "CoLA", "cola",
        text_a=Column(position=3), text_b=None, label=Column(position=1), labels=_BINARY,
        metrics=("mcc",), headline=("mcc",), has_header=False, n_columns=4,
        test_text_columns=("sentence",), label_names=("unacceptable", "acceptable"),
    ),
    "sst2": TaskSpec(
        "sst2", "SST-2", "sst2",
        text_a=Column("sentence"), text_b=None, label=Column("label"), labels=_BINARY,
        metrics=("acc",), headline=("acc",), label_names=("negative", "positive"),
    ),
    "mrpc": TaskSpec(
        "mrpc", "MRPC", "mrpc",
        text_a=Column("#1 String"), text_b=Column("#2 String"), label=Column("Quality"), labels=_BINARY,
        metrics=("f1", "acc"), headline=("f1", "acc"), hub_text_columns=("sentence1", "sentence2"),
        label_names=("not_equivalent", "equivalent"),
    ),
    "stsb": TaskSpec(
        "stsb", "STS-B", "stsb",
        text_a=Column("sentence1"), text_b=Column("sentence2"), label=Column("score"), labels=None,
        metrics=("pearson", "spearman"), headline=("pearson", "spearman"),
        hub_text_columns=("sentence1", "sentence2"), label_names=("similarity",),
    ),
    "qqp": TaskSpec(
        "qqp", "QQP", "qqp",
        text_a=Column("question1"), text_b=Column("question2"), label=Column("is_duplicate"), labels=_BINARY,
        metrics=("f1", "acc"), headline=("f1", "acc"), hub_text_columns=("question1", "question2"),
        test_id="id", label_names=("not_duplicate", "duplicate"),
    ),
    "mnli": TaskSpec(
        "mnli", "MNLI", "mnli",
        text_a=Column("sentence1"), text_b=Column("sentence2"), label=Column("gold_label"),
        # The hub's label order, so models trained from either source agree on ids.
        labels=("entailment", "neutral", "contradiction"),
        metrics=("acc",), headline=("acc",), dev_splits=("dev_matched", "dev_mismatched"),
        hub_text_columns=("premise", "hypothesis"),
        hub_dev_splits=("validation_matched", "validation_mismatched"),
        test_splits=("test_matched", "test_mismatched"), leaderboard_names=("MNLI-m", "MNLI-mm"),
    ),
    "qnli": TaskSpec(
        "qnli", "QNLI", "qnli",
        text_a=Column("question"), text_b=Column("sentence"), label=Column("label"), labels=_ENTAIL2,
        metrics=("acc",), headline=("acc",), hub_text_columns=("question", "sentence"),
    ),
    "rte": TaskSpec(
        "rte", "RTE", "rte",
        text_a=Column("sentence1"), text_b=Column("sentence2"), label=Column("label"), labels=_ENTAIL2,
        metrics=("acc",), headline=("acc",), hub_text_columns=("sentence1", "sentence2"),
    ),
    "wnli": TaskSpec(
        "wnli", "WNLI", "wnli",
        text_a=Column("sentence1"), text_b=Column("sentence2"), label=Column("label"), labels=_BINARY,
        metrics=("acc",), headline=("acc",), hub_text_columns=("sentence1", "sentence2"),
        label_names=("not_entailment", "entailment"),
    ),
}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[str(name).lower()]
    except KeyError:
        raise RwkdError(f"unknown task {name!r}; accepted: {', '.join(TASKS)}") from None
