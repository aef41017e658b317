"""GLUE dev metrics (docs/method.md §5) with torchmetrics, so they sync across processes."""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryF1Score, BinaryMatthewsCorrCoef, MulticlassAccuracy
from torchmetrics.regression import PearsonCorrCoef, SpearmanCorrCoef

from rwkd.tasks import TaskSpec


def _metric(name: str, task: TaskSpec):
    if name == "acc":
        # micro: the fraction of correct predictions (torchmetrics' multiclass default is macro)
        return MulticlassAccuracy(num_classes=task.num_labels, average="micro")
    if name == "f1":
        return BinaryF1Score()
    if name == "mcc":
        return BinaryMatthewsCorrCoef()
    if name == "pearson":
        return PearsonCorrCoef()
    if name == "spearman":
        return SpearmanCorrCoef()
    raise ValueError(f"no metric {name!r}")


def predictions(logits: torch.Tensor, task: TaskSpec) -> torch.Tensor:
    if task.is_regression:
        return logits.squeeze(-1).float()
    return logits.argmax(dim=-1)


def split_prefix(task: TaskSpec, split: str) -> str:
    """`val` for the headline dev split, `val_<split>` for other dev splits (MNLI mismatched), and the
    split's own name for held-out parts of train (`meta`)."""
    if split not in task.dev_splits:
        return split
    return "val" if split == task.dev_splits[0] else f"val_{split}"


class GlueMetrics(torch.nn.Module):
    """One metric collection per scored split; `compute` gives {"val/acc": ..., "val/headline": ...}.

    `extra_splits` are scored alongside dev, e.g. "meta": the held-out part of train on which a study
    may choose hyper-parameters (never on dev).
    """

    def __init__(self, task: TaskSpec, extra_splits: tuple[str, ...] = ()):
        super().__init__()
        self.task = task
        self.splits = (*task.dev_splits, *extra_splits)
        self.by_split = torch.nn.ModuleDict(
            {split: MetricCollection({m: _metric(m, task) for m in task.metrics}) for split in self.splits}
        )

    def update(self, split: str, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.by_split[split].update(predictions(logits, self.task), labels)

    def compute(self) -> dict[str, float]:
        out = {}
        for split, collection in self.by_split.items():
            prefix = split_prefix(self.task, split)
            values = {k: float(v) for k, v in collection.compute().items()}
            for name, value in values.items():
                out[f"{prefix}/{name}"] = value
            out[f"{prefix}/headline"] = sum(values[m] for m in self.task.headline) / len(self.task.headline)
        return out

    def reset(self) -> None:
        for collection in self.by_split.values():
            collection.reset()
