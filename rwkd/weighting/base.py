"""The one contract every weighting scheme follows (METHOD.md section 2).

A scheme maps the per-sample signals of a batch to per-sample weights w_i in [0, 1], the weight of the
teacher term in (1 - w_i) * label_loss_i + w_i * kd_loss_i. The training step calls `weights` and
never asks which scheme it holds: adding a scheme is one file here and one config in conf/weighting/.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Signals:
    """What a scheme may look at for one training batch; losses are per sample and still in the graph."""

    label_loss: torch.Tensor  # [n]
    kd_loss: torch.Tensor | None  # [n]; None when no teacher is used
    student_logits: torch.Tensor  # [n, C] (C = 1 for regression)
    teacher_logits: torch.Tensor | None  # [n, C]
    labels: torch.Tensor  # [n]
    idx: torch.Tensor  # [n] sample ids in the train file
    step: int  # optimizer steps taken so far
    progress: float  # training progress t in [0, 1]
    regression: bool


class WeightingScheme(torch.nn.Module):
    """Base class. Subclasses set `name` and implement `weights`; an nn.Module so that a learned
    scheme's parameters are checkpointed and moved with the student."""

    name: str = "base"
    needs_teacher: bool = True  # False: the run needs no fine-tuned teacher at all

    def weights(self, signals: Signals) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        """A label for tables: the scheme and the settings that tell its variants apart."""
        return self.name
