"""The distillation LightningModule: a student, a frozen teacher and a weighting scheme. Manual
optimization, so that schemes with an inner (meta) step can run it inside the training step; the step
hands the scheme plain data and never asks which scheme it holds. A scheme that names a direction before the
forward (`forward_direction`) gets every term's derivative along it from that same forward."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from lightning_fabric.utilities.apply_func import move_data_to_device
from torch.func import functional_call
from torch.nn.parallel import DistributedDataParallel

from rwkd import losses
from rwkd.errors import RwkdError
from rwkd.models import model_inputs
from rwkd.optim import OptimSettings
from rwkd.records import identity
from rwkd.setting_rules import check_values
from rwkd.tasks import TaskSpec
from rwkd.terms import ExtraTerm, TermSet, projector
from rwkd.training.classifier_module import ClassifierModule
from rwkd.training.teacher_signal import CachedTeacher, LiveTeacher
from rwkd.training.weight_log import SampleStep
from rwkd.weighting.base import Signals, WeightingScheme
from rwkd.weighting.meta_context import MetaContext, tangent_forward

# eager attention, and SDPA run on its math backend in the meta computations (meta_context.py)
DIFFERENTIABLE_ATTENTION = ("eager", "sdpa")


class DistillationModule(ClassifierModule):
    model_attr = "student"

    def __init__(
        self,
        student: torch.nn.Module,
        weighting: WeightingScheme,
        task: TaskSpec,
        teacher: torch.nn.Module | LiveTeacher | CachedTeacher | None = None,
        optim: OptimSettings | Mapping | None = None,
        kd: Mapping | None = None,
        nan_policy: str = "stop",
        run_info: dict | None = None,
        score_meta_split: bool = False,
        selection: str | None = "val/headline",
        extra_terms: Sequence[ExtraTerm] = (),
        extra_sources: Sequence = (),
    ):
        super().__init__(student, task, optim, nan_policy, run_info, score_meta_split, selection)
        kd = dict(kd or {})
        self.kd_temperature, self.kd_loss_kind = float(kd.get("temperature", 1.0)), kd.get("loss", "kl")
        check_values("kd.", losses.KD_SETTINGS, {"loss": self.kd_loss_kind, "temperature": self.kd_temperature})
        if weighting.needs_teacher and teacher is None:
            raise RwkdError(f"weighting {weighting.describe()} needs a teacher, and none was given")
        if weighting.needs_higher_order_ad and student.config._attn_implementation not in DIFFERENTIABLE_ATTENTION:
            # fused kernels such as flash attention have neither forward-mode AD nor a double backward
            self.student.set_attn_implementation("eager")
        self.weighting = weighting
        # The teacher is frozen and lives outside the module tree: it is not in checkpoints, not wrapped
        # by DDP and not seen by the optimizer. A bare model runs live; a CachedTeacher looks logits up.
        if isinstance(teacher, torch.nn.Module):
            teacher = LiveTeacher(teacher)
        object.__setattr__(self, "teacher", teacher)
        # Terms beyond label + teacher (rwkd/terms.py): each with the source of its teacher output (cached
        # or live, like `teacher`, outside the module tree); hidden-state terms' projections are in the student.
        if len(extra_terms) != len(extra_sources):
            raise RwkdError(f"{len(extra_terms)} extra terms but {len(extra_sources)} teacher sources for them")
        self.term_set = TermSet(extra_terms, task.is_regression, self.kd_temperature, self.kd_loss_kind) \
            if extra_terms and weighting.needs_teacher else None
        object.__setattr__(self, "extra_sources", [LiveTeacher(m) if isinstance(m, torch.nn.Module) else m
                                                   for m in extra_sources] if self.term_set else [])
        weighting.configure_terms(self.term_set)
        self.last_step: SampleStep | None = None  # the last step's per-sample values, for callbacks (weight_log.py)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        # a resumed run records the start it was launched from, not the one this process built before loading
        # (None from a checkpoint written before the start was kept: unknown, not guessed)
        self.run_info[identity.STUDENT_INIT] = (checkpoint.get("rwkd") or {}).get(identity.STUDENT_INIT)

    def setup(self, stage: str) -> None:
        # A learned scheme's parameters are stepped inside the training step with gradients it syncs
        # itself; DDP must not wait for them in the student's backward.
        names = [f"weighting.{n}" for n, _ in self.weighting.named_parameters()]
        names += [f"weighting.{n}" for n, _ in self.weighting.named_buffers()]
        if names:
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self, names)

    def on_fit_start(self) -> None:
        if self.teacher is not None:
            self.teacher.to(self.device)
        for source in self.extra_sources:
            source.to(self.device)

    def teacher_logits(self, batch: dict) -> torch.Tensor | None:
        if self.teacher is None or not self.weighting.needs_teacher:
            return None
        return self.teacher(batch)

    def extra_targets(self, batch: dict) -> tuple[torch.Tensor, ...]:
        return tuple(source(batch) for source in self.extra_sources)

    def _student_outputs(self, batch: dict, params: dict[str, torch.Tensor] | None = None):
        """The training forward: the student itself, or at `params` (tangent_forward's dual parameters)."""
        inputs = model_inputs(batch)
        if self.term_set is not None and self.term_set.needs_hidden_states:
            inputs["output_hidden_states"] = True
        if params is None:
            return self.student(**inputs)
        return functional_call(self.student, params, (), inputs)

    def _next_meta_batch(self) -> tuple[dict, torch.Tensor | None]:
        """The next batch of the meta split (cycled, reshuffled each pass), with its teacher logits."""
        batch = move_data_to_device(self.trainer.datamodule.next_meta_batch(), self.device)
        return batch, self.teacher_logits(batch)

    def _meta_context(self, batch: dict, teacher_logits, extra_targets) -> MetaContext | None:
        if not self.weighting.needs_meta:
            return None
        meta_batch, meta_teacher_logits = self._next_meta_batch()
        return MetaContext(
            student=self.student, batch=batch, teacher_logits=teacher_logits, meta_batch=meta_batch,
            meta_teacher_logits=meta_teacher_logits, regression=self.task.is_regression,
            kd_temperature=self.kd_temperature, kd_kind=self.kd_loss_kind,
            term_set=self.term_set if teacher_logits is not None else None, extra_targets=extra_targets,
        )

    def _signals(self, batch: dict, outputs, teacher_logits, extra_targets, params=None) -> Signals:
        student_logits = outputs.logits
        regression = self.task.is_regression
        label_term = losses.label_loss(student_logits, batch["labels"], regression)
        kd_term = (
            losses.kd_loss(student_logits, teacher_logits, regression, self.kd_temperature, self.kd_loss_kind)
            if teacher_logits is not None
            else None
        )
        signals = Signals(
            label_loss=label_term,
            kd_loss=kd_term,
            student_logits=student_logits,
            teacher_logits=teacher_logits,
            labels=batch["labels"],
            idx=batch["idx"],
            step=self.global_step,
            progress=min(1.0, self.global_step / self._total_steps()),
            regression=regression,
        )
        if self.term_set is not None and teacher_logits is not None:
            signals.term_set = self.term_set
            signals.extra_targets = extra_targets
            params = dict(self.student.named_parameters()) if params is None else params
            signals.extra_terms = tuple(self.term_set.values(outputs, signals.extra_targets, projector(params)))
        replacement = self.weighting.teacher_term(signals)
        if replacement is not None:
            signals.kd_loss = replacement
        return signals

    def training_step(self, batch: dict, batch_idx: int):
        self.last_step = None
        teacher_logits = self.teacher_logits(batch)
        extra_targets = self.extra_targets(batch) if self.term_set is not None and teacher_logits is not None else ()
        meta = self._meta_context(batch, teacher_logits, extra_targets)
        # a scheme may name a direction (RW-KD's shared impl: the meta gradient); the one training forward then
        # also gives every term's derivative along it, with this step's dropout masks
        direction = self.weighting.forward_direction(meta)
        with tangent_forward(self.student, direction) as params:
            s = self._signals(batch, self._student_outputs(batch, params), teacher_logits, extra_targets, params)
            if direction is not None:
                s.split_tangents()
        s.meta = meta
        self.weighting.update(s)  # a learned scheme's own step (metanet); nothing for the others
        term_weights = self.weighting.term_weights(s).detach()
        if term_weights.shape != (s.num_terms, s.label_loss.shape[0]):
            raise RwkdError(f"weighting {self.weighting.describe()} gave weights of shape {tuple(term_weights.shape)} "
                            f"for {s.num_terms} terms of {s.label_loss.shape[0]} samples")
        terms = s.terms()
        loss = losses.mix_terms(terms, term_weights)
        if self.stop_or_skip(loss):
            self.count_step(batch)
            return None
        lr = self.apply_update(loss)
        self._log_step(loss, s, terms.detach(), term_weights, lr)
        self.count_step(batch)
        return loss.detach()

    def _log_step(self, loss, s: Signals, terms, term_weights, lr) -> None:
        label_term = s.label_loss.detach()
        # the teacher side's share (with two terms: w itself, bit for bit)
        weights = term_weights[1:].sum(0) if term_weights.shape[0] > 1 else torch.zeros_like(label_term)
        values = {
            "train/loss": loss.detach(),
            "train/label_loss": label_term.mean(),
            "train/label_loss_std": label_term.std(unbiased=False),
            "train/weight_mean": weights.mean(),
            "train/weight_std": weights.std(unbiased=False),
            "train/weight_min": weights.min(),
            "train/weight_max": weights.max(),
            "train/lr": lr,
        }
        if s.kd_loss is not None:
            values["train/kd_loss"] = s.kd_loss.detach().mean()
            values["train/kd_loss_std"] = s.kd_loss.detach().std(unbiased=False)
        if s.extra_terms:
            names = s.term_set.names
            for name, term in zip(names[2:], s.extra_terms, strict=True):
                values[f"train/{name}_loss"] = term.detach().mean()
            for name, w in zip(names, term_weights, strict=True):
                values[f"train/weight_{name}_mean"] = w.mean()
        self.log_dict(values, prog_bar=False, on_step=True, on_epoch=False)
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)
        self.last_step = SampleStep(self.current_epoch, self.global_step, s, weights, term_weights, terms)
