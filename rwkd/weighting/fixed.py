"""`weighting=fixed`: w_i = alpha for every sample and step (classic KD)."""

from __future__ import annotations

import torch

from rwkd.errors import RwkdError
from rwkd.weighting.base import Signals, WeightingScheme


class FixedWeight(WeightingScheme):
    name = "fixed"

    def __init__(self, alpha: float = 0.5):
        super().__init__()
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise RwkdError(f"weighting.alpha={alpha!r} is not a number; give a value in [0, 1]") from None
        if not 0.0 <= alpha <= 1.0:
            raise RwkdError(f"weighting.alpha={alpha} is outside [0, 1]; alpha weighs the teacher term and must lie in [0, 1]")
        self.alpha = alpha

    def weights(self, signals: Signals) -> torch.Tensor:
        return torch.full_like(signals.label_loss, self.alpha).detach()

    def describe(self) -> str:
        return f"fixed(alpha={self.alpha:g})"
