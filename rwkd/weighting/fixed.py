"""`weighting=fixed`: the same weights for every sample and step (classic KD).

Two terms: w_i = alpha on the teacher term. K terms: `alpha` is the teacher side's share, split equally
over the teacher terms, or `term_weights` gives the whole vector (one weight per term, in the order of
rwkd/terms.py: label, kd, further teachers, hidden states; summing to 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rwkd.errors import RwkdError
from rwkd.setting_rules import FRACTION
from rwkd.weighting.base import Signals, WeightingScheme


class FixedWeight(WeightingScheme):
    name = "fixed"
    SETTINGS = {"alpha": FRACTION}  # the teacher term's weight; term_weights is checked against the run's terms

    def __init__(self, alpha: float = 0.5, term_weights: Sequence[float] | None = None):
        super().__init__()
        self.check_settings({"alpha": alpha})
        self.alpha = float(alpha)
        self.vector = None if term_weights is None else self._checked(term_weights)

    @staticmethod
    def _checked(values) -> tuple[float, ...]:
        try:
            vector = tuple(float(v) for v in values)
        except (TypeError, ValueError):
            raise RwkdError(f"weighting.term_weights={values!r} is not a list of numbers") from None
        if len(vector) < 2 or min(vector) < 0 or abs(sum(vector) - 1.0) > 1e-6:
            raise RwkdError(f"weighting.term_weights={list(vector)} is not a weight vector; accepted: one weight >= 0 "
                            "per term (label, kd, then kd.teachers and kd.hidden in order), summing to 1")
        return vector

    def configure_terms(self, term_set) -> None:
        k = 2 if term_set is None else term_set.size
        if self.vector is not None and len(self.vector) != k:
            names = ("label", "kd") if term_set is None else term_set.names
            raise RwkdError(f"weighting.term_weights has {len(self.vector)} weights and this run has {k} terms "
                            f"({', '.join(names)}); accepted: {k} weights summing to 1")

    def term_weights(self, signals: Signals) -> torch.Tensor:
        if self.vector is None or signals.num_terms == 1:
            return super().term_weights(signals)
        column = torch.tensor(self.vector, dtype=signals.label_loss.dtype, device=signals.label_loss.device)
        return column.unsqueeze(1).expand(-1, signals.label_loss.shape[0]).clone()

    def weights(self, signals: Signals) -> torch.Tensor:
        return torch.full_like(signals.label_loss, self.alpha).detach()

    def describe(self) -> str:
        if self.vector is not None:
            return f"fixed(term_weights={'/'.join(f'{v:g}' for v in self.vector)})"
        return f"fixed(alpha={self.alpha:g})"
