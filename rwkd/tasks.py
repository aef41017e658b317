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

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)


_BINARY = ("0", "1")
_ENTAIL2 = ("entailment", "not_entailment")

TASKS: dict[str, TaskSpec] = {
    "cola": TaskSpec(
        "cola", "CoLA", "cola",
        text_a=Column(position=3), text_b=None, label=Column(position=1), labels=_BINARY,
        metrics=("mcc",), headline=("mcc",), has_header=False, n_columns=4,
    ),
    "sst2": TaskSpec(
        "sst2", "SST-2", "sst2",
        text_a=Column("sentence"), text_b=None, label=Column("label"), labels=_BINARY,
        metrics=("acc",), headline=("acc",),
    ),
    "mrpc": TaskSpec(
        "mrpc", "MRPC", "mrpc",
        text_a=Column("#1 String"), text_b=Column("#2 String"), label=Column("Quality"), labels=_BINARY,
        metrics=("f1", "acc"), headline=("f1", "acc"), hub_text_columns=("sentence1", "sentence2"),
    ),
    "stsb": TaskSpec(
        "stsb", "STS-B", "stsb",
        text_a=Column("sentence1"), text_b=Column("sentence2"), label=Column("score"), labels=None,
        metrics=("pearson", "spearman"), headline=("pearson", "spearman"),
        hub_text_columns=("sentence1", "sentence2"),
    ),
    "qqp": TaskSpec(
        "qqp", "QQP", "qqp",
        text_a=Column("question1"), text_b=Column("question2"), label=Column("is_duplicate"), labels=_BINARY,
        metrics=("f1", "acc"), headline=("f1", "acc"), hub_text_columns=("question1", "question2"),
    ),
    "mnli": TaskSpec(
        "mnli", "MNLI", "mnli",
        text_a=Column("sentence1"), text_b=Column("sentence2"), label=Column("gold_label"),
        # The hub's label order, so models trained from either source agree on ids.
        labels=("entailment", "neutral", "contradiction"),
        metrics=("acc",), headline=("acc",), dev_splits=("dev_matched", "dev_mismatched"),
        hub_text_columns=("premise", "hypothesis"),
        hub_dev_splits=("validation_matched", "validation_mismatched"),
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
    ),
}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[str(name).lower()]
    except KeyError:
        raise RwkdError(f"unknown task {name!r}; accepted: {', '.join(TASKS)}") from None
