"""`weighting=heuristic`: a fixed per-sample rule, no learning (docs/method.md §2).

rules:
  teacher_confidence  w_i = p_t(y_i)                                 (confidence-aware KD)
  teacher_correct     w_i = p_t(y_i) where the teacher is right, else 0
  student_entropy     w_i = H(p_s,i) / log C                          (Dynamic KD)
  loss_ratio          w_i = 1 - exp(-l_i^label(student) / l_i^label(teacher))  (weighted soft labels)
  confidence_aware    the teacher side gets alpha; with several teachers it is split per sample by their
                      loss on the gold label (CA-MKD, Zhang et al., ICASSP 2022):
                      s_i^t = (1 - softmax_t(CE_i^t)) / (T - 1), so the teacher that is surer of the gold
                      answer gets more. Each teacher's share goes equally to its terms (logits, hidden states).

The first four rules read the first teacher; with more terms their w_i is split equally over the teacher
terms (the base contract).
"""

from __future__ import annotations

import torch

from rwkd import losses
from rwkd.setting_rules import FRACTION, OneOf
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
RULES = (*_RULES, "confidence_aware")


class HeuristicWeight(WeightingScheme):
    name = "heuristic"
    SETTINGS = {"rule": OneOf(RULES), "alpha": FRACTION}  # alpha: the teacher side's share under confidence_aware

    def __init__(self, rule: str = "teacher_confidence", alpha: float = 0.5):
        super().__init__()
        self.check_settings({"rule": rule, "alpha": alpha})
        self.rule, self.alpha = rule, float(alpha)

    def weights(self, s: Signals) -> torch.Tensor:
        if self.rule == "confidence_aware":
            return torch.full_like(s.label_loss, self.alpha).detach()
        return _RULES[self.rule](s).detach().clamp(0.0, 1.0)

    def term_weights(self, s: Signals) -> torch.Tensor:
        if self.rule != "confidence_aware" or s.num_teachers < 2:
            return super().term_weights(s)
        return confidence_aware_weights(s, self.alpha)

    def undefined_for(self, task) -> str | None:
        if self.rule == "student_entropy" and task.is_regression:
            defined = ", ".join(r for r in RULES if r != "student_entropy")
            return (f"weighting.rule=student_entropy is not defined for the regression task {task.name} (one output, "
                    f"no class distribution); accepted there: {defined}")
        return None

    def describe(self) -> str:
        if self.rule == "confidence_aware":
            return f"heuristic(confidence_aware, alpha={self.alpha:g})"
        return f"heuristic({self.rule})"


def teacher_shares(s: Signals) -> torch.Tensor:
    """[T, n]: CA-MKD's per-sample share of each teacher, (1 - softmax over teachers of their gold-label loss)
    / (T - 1); each column sums to 1."""
    losses_ = torch.stack([losses.label_loss(s.teacher_logits_of(t).detach(), s.labels, s.regression)
                           for t in range(s.num_teachers)])
    return (1.0 - losses_.softmax(dim=0)) / (s.num_teachers - 1)


def confidence_aware_weights(s: Signals, alpha: float) -> torch.Tensor:
    """W [K, n]: 1 - alpha on the label term; alpha * the teacher's share, split equally over its terms."""
    shares = teacher_shares(s).to(s.label_loss.dtype)
    owners = s.term_set.owners
    rows = [torch.full_like(s.label_loss, 1.0 - alpha)]
    for owner in owners[1:]:
        count = sum(1 for o in owners if o == owner)
        rows.append(alpha * shares[owner] / count)
    return torch.stack(rows)
