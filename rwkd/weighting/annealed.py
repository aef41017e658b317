"""`weighting=annealed`: one weight for all samples that moves with training progress t in [0, 1].

schedules:
  linear, cosine  alpha(t) from alpha_start to alpha_end
  annealing_kd    Annealing-KD (Jafari et al., EACL 2021). Phase 1 (t < phase1_fraction): w = 1 and the
                  teacher term is the logit regression (z_s - phi z_t)^2, with phi = 1 - (T - 1) / T_max
                  and the temperature T stepping down from T_max to 1, so phi rises step-wise to 1.
                  Phase 2: w = 0, labels only.
"""

from __future__ import annotations

import math

import torch

from rwkd.errors import RwkdError
from rwkd.setting_rules import FRACTION, Number, OneOf
from rwkd.weighting.base import Signals, WeightingScheme

SCHEDULES = ("linear", "cosine", "annealing_kd")


class AnnealedWeight(WeightingScheme):
    name = "annealed"
    SETTINGS = {"schedule": OneOf(SCHEDULES), "alpha_start": FRACTION, "alpha_end": FRACTION,
                "max_temperature": Number(low=1),
                "phase1_fraction": Number(low=0, high=1, low_open=True, high_open=True)}

    def __init__(self, schedule: str = "linear", alpha_start: float = 1.0, alpha_end: float = 0.0,
                 max_temperature: int = 7, phase1_fraction: float = 0.5):
        super().__init__()
        self.check_settings({"schedule": schedule, "alpha_start": alpha_start, "alpha_end": alpha_end,
                             "max_temperature": max_temperature, "phase1_fraction": phase1_fraction})
        self.schedule = schedule
        self.alpha_start, self.alpha_end = float(alpha_start), float(alpha_end)
        self.max_temperature = int(max_temperature)
        self.phase1_fraction = float(phase1_fraction)

    def alpha(self, progress: float) -> float:
        t = min(max(progress, 0.0), 1.0)
        if self.schedule == "linear":
            return self.alpha_start + (self.alpha_end - self.alpha_start) * t
        if self.schedule == "cosine":
            return self.alpha_end + (self.alpha_start - self.alpha_end) * 0.5 * (1.0 + math.cos(math.pi * t))
        return 1.0 if self.in_phase1(t) else 0.0

    def in_phase1(self, progress: float) -> bool:
        return progress < self.phase1_fraction

    def teacher_scale(self, progress: float) -> float:
        """phi for Annealing-KD phase 1: T steps from T_max down to 1 over the phase."""
        within = min(progress / self.phase1_fraction, 1.0) if self.phase1_fraction > 0 else 1.0
        temperature = max(1, self.max_temperature - math.floor(within * self.max_temperature))
        return 1.0 - (temperature - 1) / self.max_temperature

    def configure_terms(self, term_set) -> None:
        # Annealing-KD replaces the one teacher term by a logit regression; it defines nothing for more terms
        if self.schedule == "annealing_kd" and term_set is not None:
            raise RwkdError(f"weighting.schedule=annealing_kd defines one teacher term, and this run has "
                            f"{term_set.size} terms ({', '.join(term_set.names)}); accepted: kd.teachers=[] and "
                            "kd.hidden=[], or schedule=linear or cosine")

    def weights(self, s: Signals) -> torch.Tensor:
        """alpha(t): with more terms, the teacher side's share, split equally over them."""
        return torch.full_like(s.label_loss, self.alpha(s.progress)).detach()

    def teacher_term(self, s: Signals) -> torch.Tensor | None:
        if self.schedule != "annealing_kd" or s.teacher_logits is None:
            return None
        target = self.teacher_scale(s.progress) * s.teacher_logits.detach()
        return ((s.student_logits - target) ** 2).mean(-1)

    def describe(self) -> str:
        if self.schedule == "annealing_kd":
            return f"annealed(annealing_kd, T_max={self.max_temperature})"
        return f"annealed({self.schedule}, {self.alpha_start:g}->{self.alpha_end:g})"
