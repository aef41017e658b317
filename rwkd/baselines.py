"""The majority answer: what a classifier scores on dev by always giving the most frequent train label.

Every table puts it beside the students, because on small, skewed GLUE dev sets (MRPC: 68% paraphrases)
a student that has learned nothing still scores far above zero. Regression has no majority answer: a
constant prediction has no correlation, so its Pearson and Spearman are undefined (None, shown as n/a).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rwkd.tasks import TaskSpec


def majority_label(train_labels: Sequence[int]) -> int:
    """The most frequent label; ties go to the smaller label id, so the answer does not depend on row order."""
    counts = Counter(int(y) for y in train_labels)
    return min(counts, key=lambda y: (-counts[y], y))


def majority_metrics(task: TaskSpec, dev_labels: Sequence[float], answer: int | None = None) -> dict[str, float | None]:
    """Dev metrics (0-1 scale, headline included) of always answering `answer` (default: the most
    frequent dev label). Names follow the run's own metrics: {"acc": ..., "headline": ...}."""
    if task.is_regression:
        return {**{m: None for m in task.metrics}, "headline": None}
    labels = [int(y) for y in dev_labels]
    if answer is None:
        answer = majority_label(labels)
    hits = sum(y == answer for y in labels)
    out: dict[str, float | None] = {}
    for metric in task.metrics:
        if metric == "acc":
            out[metric] = hits / len(labels)
        elif metric == "f1":
            # F1 of the positive class (id 1): 0 when the constant answer is 0, else 2p/(1+p) for p its precision
            precision = hits / len(labels)
            out[metric] = 2 * precision / (1 + precision) if answer == 1 else 0.0
        elif metric == "mcc":
            out[metric] = 0.0  # a constant predictor is uncorrelated with the labels (torchmetrics also gives 0)
        else:
            raise ValueError(f"no majority value for metric {metric!r}")
    out["headline"] = sum(out[m] for m in task.headline) / len(task.headline)
    return out
