"""Per-sample signals derived from logits, shared by the heuristic rules and the meta-weight net."""

from __future__ import annotations

import math

import torch

from rwkd import losses
from rwkd.errors import RwkdError
from rwkd.weighting.base import Signals

# Regression has no class probabilities: the teacher counts as "right" within this distance of the gold score.
REGRESSION_TOLERANCE = 0.5


def _need_teacher(s: Signals, what: str) -> torch.Tensor:
    if s.teacher_logits is None:
        raise RwkdError(f"{what} needs teacher logits, and this run has no teacher")
    return s.teacher_logits.detach()


def teacher_confidence(s: Signals) -> torch.Tensor:
    """p_t(y_i): the teacher's probability of the gold label; exp(-(z_t - y)^2) for regression."""
    zt = _need_teacher(s, "teacher_confidence")
    if s.regression:
        return torch.exp(-((zt.squeeze(-1) - s.labels) ** 2))
    return zt.softmax(-1).gather(1, s.labels.view(-1, 1)).squeeze(1)


def teacher_correct(s: Signals) -> torch.Tensor:
    """1 where the teacher predicts the training label (within REGRESSION_TOLERANCE for regression), else 0. It is
    the label the student trains on: under data.label_noise a changed one, so a clean teacher counts as wrong there."""
    zt = _need_teacher(s, "teacher_correct")
    if s.regression:
        right = (zt.squeeze(-1) - s.labels).abs() <= REGRESSION_TOLERANCE
    else:
        right = zt.argmax(-1) == s.labels
    return right.to(s.label_loss.dtype)


def student_entropy(s: Signals) -> torch.Tensor:
    """H(p_s) / log C in [0, 1]: the student's normalised uncertainty."""
    if s.regression:
        raise RwkdError("student_entropy needs class probabilities; it is not defined for a regression task")
    logp = s.student_logits.detach().log_softmax(-1)
    return -(logp.exp() * logp).sum(-1) / math.log(s.student_logits.shape[-1])


def teacher_label_loss(s: Signals) -> torch.Tensor:
    zt = _need_teacher(s, "teacher_label_loss")
    return losses.label_loss(zt, s.labels, s.regression)


def detached_label_loss(s: Signals) -> torch.Tensor:
    """The step's label loss as an input (no gradient): losses.label_loss computes it."""
    return s.label_loss.detach()


def detached_kd_loss(s: Signals) -> torch.Tensor:
    """The step's teacher term as an input (no gradient): losses.kd_loss computes it."""
    if s.kd_loss is None:
        raise RwkdError("kd_loss needs a teacher, and this run has none")
    return s.kd_loss.detach()


def term_losses(s: Signals) -> torch.Tensor:
    """Every term's loss, [n, K] (label, kd, then kd.teachers and kd.hidden): a metanet input of K columns."""
    return s.terms().detach().T


FEATURES = {
    "label_loss": detached_label_loss,
    "kd_loss": detached_kd_loss,
    "teacher_confidence": teacher_confidence,
    "teacher_correct": teacher_correct,
    "student_entropy": student_entropy,
    "teacher_label_loss": teacher_label_loss,
    "term_losses": term_losses,
}


def feature(name: str):
    try:
        return FEATURES[name]
    except KeyError:
        raise RwkdError(f"unknown per-sample signal {name!r}; accepted: {', '.join(FEATURES)}") from None
