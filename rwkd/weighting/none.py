"""`weighting=none`: w_i = 0, plain fine-tuning of the student on labels, the no-KD baseline."""

from __future__ import annotations

import torch

from rwkd.weighting.base import Signals, WeightingScheme


class NoKD(WeightingScheme):
    name = "none"
    needs_teacher = False

    def weights(self, signals: Signals) -> torch.Tensor:
        return torch.zeros_like(signals.label_loss).detach()
