"""`weighting=heuristic`: a fixed per-sample rule, no learning (docs/method.md §2).

rules:
  teacher_confidence  w_i = p_t(y_i)                                 (confidence-aware KD)
  teacher_correct     w_i = p_t(y_i) where the teacher is right, else 0
  student_entropy     w_i = H(p_s,i) / log C                          (Dynamic KD)
  loss_ratio          w_i = 1 - exp(-l_i^label(student) / l_i^label(teacher))  (weighted soft labels)
"""

from __future__ import annotations

import torch

from rwkd.errors import RwkdError
from rwkd.weighting import features
from rwkd.weighting.base import Signals, WeightingScheme

_TINY = 1e-12  # keeps the loss ratio finite when the teacher's loss underflows to 0


def _loss_ratio(s: Signals) -> torch.Tensor:
    return 1.0 - torch.exp(-features.detached_label_loss(s) / features.teacher_label_loss(s).clamp_min(_TINY))


_RULES = {
    "teacher_confidence": features.teacher_confidence,
    "teacher_correct": lambda s: features.teacher_confidence(s) * features.teacher_correct(s),
    "student_entropy": features.student_entropy,
    "loss_ratio": _loss_ratio,
}
RULES = tuple(_RULES)


class HeuristicWeight(WeightingScheme):
    name = "heuristic"

    def __init__(self, rule: str = "teacher_confidence"):
        super().__init__()
        if rule not in RULES:
            raise RwkdError(f"weighting.rule={rule!r} is unknown; accepted: {', '.join(RULES)}")
        self.rule = rule

    def weights(self, s: Signals) -> torch.Tensor:
        return _RULES[self.rule](s).detach().clamp(0.0, 1.0)

    def undefined_for(self, task) -> str | None:
        if self.rule == "student_entropy" and task.is_regression:
            defined = ", ".join(r for r in RULES if r != "student_entropy")
            return (f"weighting.rule=student_entropy is not defined for the regression task {task.name} (one output, "
                    f"no class distribution); accepted there: {defined}")
        return None

    def describe(self) -> str:
        return f"heuristic({self.rule})"
