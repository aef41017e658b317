"""Per-sample loss terms (docs/method.md §1). Every function returns one value per sample: the
weighting schemes act per sample, so nothing here reduces over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rwkd.setting_rules import POSITIVE, OneOf

KD_LOSSES = ("kl", "mse")
# kd.*: the one statement of what the distillation term accepts (the config validator and the module check by it)
KD_SETTINGS = {"loss": OneOf(KD_LOSSES), "temperature": POSITIVE}


def label_loss(student_logits: torch.Tensor, labels: torch.Tensor, regression: bool) -> torch.Tensor:
    """CE against the gold label, or squared error for a regression task (one output)."""
    if regression:
        return (student_logits.squeeze(-1) - labels.to(student_logits.dtype)) ** 2
    return F.cross_entropy(student_logits, labels, reduction="none")


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    regression: bool,
    temperature: float = 1.0,
    kind: str = "kl",
) -> torch.Tensor:
    """The teacher term.

    kl:  tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau)), summed over classes. Both logits are
         divided by tau; the tau^2 factor keeps the gradient's scale independent of tau.
    mse: mean over classes of (z_s - z_t)^2 on raw logits.
    Regression always uses (z_s - z_t)^2.
    """
    teacher_logits = teacher_logits.to(student_logits.dtype)
    if regression:
        return (student_logits.squeeze(-1) - teacher_logits.squeeze(-1)) ** 2
    if kind == "mse":
        return ((student_logits - teacher_logits) ** 2).mean(dim=-1)
    if kind != "kl":
        raise ValueError(f"unknown kd loss {kind!r}; accepted: {', '.join(KD_LOSSES)}")
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1)
    return temperature**2 * kl


def mix(label: torch.Tensor, kd: torch.Tensor | None, weights: torch.Tensor) -> torch.Tensor:
    """(1/n) sum_i (1 - w_i) l_i^label + w_i l_i^kd: the student objective for per-sample weights w."""
    if kd is None:
        return label.mean()
    return ((1.0 - weights) * label + weights * kd).mean()


def mix_terms(terms: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(1/n) sum_i sum_k W[k, i] * terms[k, i] for K per-sample terms [K, n] and their weights [K, n].

    Two terms go through `mix` with w = W[1], so a two-term run takes the same floating-point steps as
    before K terms existed (W[0] = 1 - W[1] up to rounding); one term is the label loss alone.
    """
    if terms.shape[0] == 1:
        return terms[0].mean()
    if terms.shape[0] == 2:
        return mix(terms[0], terms[1], weights[1])
    return (weights * terms).sum(dim=0).mean()
