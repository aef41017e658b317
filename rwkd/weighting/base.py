"""The one contract every weighting scheme follows (docs/method.md §2).

A scheme maps the per-sample signals of a batch to each sample's weights over the run's K loss terms,
W [K, n] with every column on the simplex: the objective is (1/n) sum_i sum_k W[k, i] * term_k,i. Term 0
is the label loss, term 1 the first teacher's logit term; kd.teachers and kd.hidden add more
(rwkd/terms.py). The training step calls `term_weights` and never asks which scheme it holds: adding a
scheme is one file here and one config in conf/weighting/.

A scheme that needs every term's derivative along some direction in parameter space (RW-KD's scores along the
meta gradient) names the direction before the step's forward (`forward_direction`); the step then runs its one
training forward with that tangent and hands the derivatives over in `Signals.term_tangents`.

Most schemes decide one number per sample, w_i in [0, 1], the teacher side's share: they implement
`weights`, and the default `term_weights` gives the label term 1 - w_i and splits w_i equally over the
teacher terms. With two terms that is (1 - w_i) * label_loss_i + w_i * kd_loss_i, classic KD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch.autograd import forward_ad

from rwkd.errors import RwkdError
from rwkd.setting_rules import check_values

if TYPE_CHECKING:
    from rwkd.terms import TermSet
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
    extra_terms: tuple[torch.Tensor, ...] = ()  # [n] each: the terms after label and kd (rwkd/terms.py)
    extra_targets: tuple[torch.Tensor, ...] = ()  # each extra term's teacher output for the batch
    term_set: TermSet | None = None  # names and teachers of all K terms; None: the two classic terms
    # [K, n], detached: each term's derivative along the scheme's forward_direction, from the very forward that
    # gave the terms (train mode, this step's dropout masks); None where the scheme named no direction
    term_tangents: torch.Tensor | None = None

    @property
    def num_terms(self) -> int:
        return 1 if self.kd_loss is None else 2 + len(self.extra_terms)

    def terms(self) -> torch.Tensor:
        """All K per-sample terms, [K, n], in the graph."""
        if self.kd_loss is None:
            return self.label_loss.unsqueeze(0)
        return torch.stack([self.label_loss, self.kd_loss, *self.extra_terms])

    def split_tangents(self) -> None:
        """Inside tangent_forward (rwkd/weighting/meta_context.py): keep each term's tangent in term_tangents,
        one [K, n] tensor (a term the direction does not reach gets zeros), and the terms as plain tensors."""
        stacked = forward_ad.unpack_dual(self.terms())  # one stack: its tangent is every term's, zeros where none
        tangent = stacked.tangent
        self.term_tangents = (torch.zeros_like(stacked.primal) if tangent is None else tangent).detach()
        self.label_loss = forward_ad.unpack_dual(self.label_loss).primal
        if self.kd_loss is not None:
            self.kd_loss = forward_ad.unpack_dual(self.kd_loss).primal
        self.extra_terms = tuple(forward_ad.unpack_dual(t).primal for t in self.extra_terms)
        self.student_logits = forward_ad.unpack_dual(self.student_logits).primal

    def teacher_logits_of(self, teacher: int) -> torch.Tensor:
        """The logits of teacher `teacher` (0: the first) for this batch."""
        if teacher == 0:
            if self.teacher_logits is None:
                raise RwkdError("this run has no teacher logits")
            return self.teacher_logits
        for term, target in zip(self.term_set.extras, self.extra_targets, strict=True):
            if term.teacher == teacher and not term.is_hidden:
                return target
        raise RwkdError(f"teacher {teacher} has no logit term in this run")

    @property
    def num_teachers(self) -> int:
        if self.kd_loss is None:
            return 0
        return 1 if self.term_set is None else 1 + max((t.teacher for t in self.term_set.extras), default=0)


def split_teacher_side(w: torch.Tensor, num_terms: int) -> torch.Tensor:
    """[1 - w, w / (K - 1), ..., w / (K - 1)]: the teacher side's share w_i spread equally over its K - 1 terms."""
    if num_terms == 1:
        return torch.ones_like(w).unsqueeze(0)
    share = w if num_terms == 2 else w / (num_terms - 1)
    return torch.stack([1.0 - w, *([share] * (num_terms - 1))])


class WeightingScheme(torch.nn.Module):
    """Base class. Subclasses set `name` and implement `weights`; an nn.Module so that a learned
    scheme's parameters are checkpointed and moved with the student."""

    name: str = "base"
    needs_teacher: bool = True  # False: the run needs no fine-tuned teacher at all
    needs_meta: bool = False  # True: `signals.meta` carries the functional student and a meta batch
    needs_higher_order_ad: bool = False  # True: forward-mode or second-order AD through the student
    SETTINGS: ClassVar[dict] = {}  # the scheme's settings: constructor argument -> rule (rwkd/setting_rules.py)

    @classmethod
    def check_settings(cls, values: Mapping) -> None:
        """Raises RwkdError for the first value its rule in SETTINGS refuses: the one check of a scheme's
        settings, made by the config validator before a run and by the constructor (API callers)."""
        check_values("weighting.", cls.SETTINGS, values)

    def forward_direction(self, meta: MetaContext | None) -> dict[str, torch.Tensor] | None:
        """Called once per step before the student's training forward, with the step's meta context (None for
        schemes without needs_meta): a direction (trainable parameter name -> tensor of its shape) along which
        that forward also differentiates every term (Signals.term_tangents), or None (the default) for a plain
        forward."""
        return None

    def update(self, signals: Signals) -> None:
        """A learned scheme's own training step, called once per batch just before `weights`; the scheme
        owns its parameters and their optimizer. Schemes without parameters do nothing here."""

    def configure_terms(self, term_set: TermSet | None) -> None:
        """Called once, before training, with the run's terms (None: label and one teacher). A scheme that
        cannot weigh them raises RwkdError saying why; one whose shape depends on K builds itself here."""

    def term_weights(self, signals: Signals) -> torch.Tensor:
        """W [K, n], each column on the simplex; no side effects (a learned scheme changes only in `update`)."""
        return split_teacher_side(self.weights(signals), signals.num_terms)

    def weights(self, signals: Signals) -> torch.Tensor:
        """The teacher side's per-sample share w_i in [0, 1], for schemes that use the default `term_weights`."""
        raise NotImplementedError(f"{type(self).__name__} implements neither weights nor term_weights")

    def sample_diagnostics(self) -> dict[str, torch.Tensor]:
        """Per-sample values of the last `term_weights` call worth logging beside the weights (columns of the
        run's sample log); none by default."""
        return {}

    def teacher_term(self, signals: Signals) -> torch.Tensor | None:
        """A replacement for the per-sample teacher term, or None to keep the configured KD loss."""
        return None

    def undefined_for(self, task) -> str | None:
        """Why this scheme has no meaning on `task` (a TaskSpec), or None where it does."""
        return None

    def describe(self) -> str:
        """A label for tables: the scheme and the settings that tell its variants apart."""
        return self.name
