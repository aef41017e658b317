"""The one contract every weighting scheme follows (docs/method.md §2).

A scheme maps the per-sample signals of a batch to per-sample weights w_i in [0, 1], the weight of the
teacher term in (1 - w_i) * label_loss_i + w_i * kd_loss_i. The training step calls `weights` and
never asks which scheme it holds: adding a scheme is one file here and one config in conf/weighting/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from rwkd.weighting.meta_context import MetaContext


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
    meta: MetaContext | None = None  # set only for schemes with needs_meta


class WeightingScheme(torch.nn.Module):
    """Base class. Subclasses set `name` and implement `weights`; an nn.Module so that a learned
    scheme's parameters are checkpointed and moved with the student."""

    name: str = "base"
    needs_teacher: bool = True  # False: the run needs no fine-tuned teacher at all
    needs_meta: bool = False  # True: `signals.meta` carries the functional student and a meta batch
    needs_higher_order_ad: bool = False  # True: forward-mode or second-order AD through the student

    def update(self, signals: Signals) -> None:
        """A learned scheme's own training step, called once per batch just before `weights`; the scheme
        owns its parameters and their optimizer. Schemes without parameters do nothing here."""

    def weights(self, signals: Signals) -> torch.Tensor:
        """The batch's per-sample weights; no side effects (a learned scheme changes only in `update`)."""
        raise NotImplementedError

    def teacher_term(self, signals: Signals) -> torch.Tensor | None:
        """A replacement for the per-sample teacher term, or None to keep the configured KD loss."""
        return None

    def undefined_for(self, task) -> str | None:
        """Why this scheme has no meaning on `task` (a TaskSpec), or None where it does."""
        return None

    def describe(self) -> str:
        """A label for tables: the scheme and the settings that tell its variants apart."""
        return self.name
