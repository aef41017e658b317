"""The LightningModule: a student, a frozen teacher and a weighting scheme, trained with manual
optimization so that schemes with an inner (meta) step can run it inside the training step."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch
from torch.nn.parallel import DistributedDataParallel
from transformers import get_linear_schedule_with_warmup

from rwkd import losses
from rwkd.errors import RwkdError
from rwkd.metrics import GlueMetrics
from rwkd.models import model_inputs
from rwkd.run.checkpointing import ResumeCheckpoint, capture_rng, restore_rng
from rwkd.run.diagnostics import SampleWeightLog
from rwkd.run.teacher_logits import CachedTeacher, LiveTeacher
from rwkd.tasks import TaskSpec
from rwkd.weighting import features
from rwkd.weighting.base import Signals, WeightingScheme
from rwkd.weighting.meta_context import MetaContext

NAN_POLICIES = ("stop", "skip")
# eager attention, and SDPA run on its math backend in the meta computations (meta_context.py)
DIFFERENTIABLE_ATTENTION = ("eager", "sdpa")


class DistillationModule(pl.LightningModule):
    def __init__(
        self,
        student: torch.nn.Module,
        weighting: WeightingScheme,
        task: TaskSpec,
        teacher: torch.nn.Module | LiveTeacher | CachedTeacher | None = None,
        lr: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        grad_clip: float | None = 1.0,
        fused_adamw: bool | None = None,
        kd_temperature: float = 1.0,
        kd_loss: str = "kl",
        nan_policy: str = "stop",
        run_info: dict | None = None,
        sample_log: SampleWeightLog | None = None,
        extra_val_splits: tuple[str, ...] = (),
        selection: str | None = "val/headline",
    ):
        super().__init__()
        self.automatic_optimization = False
        if kd_loss not in losses.KD_LOSSES:
            raise RwkdError(f"kd.loss={kd_loss!r} is unknown; accepted: {', '.join(losses.KD_LOSSES)}")
        if not kd_temperature > 0:
            raise RwkdError(f"kd.temperature={kd_temperature} must be > 0")
        if nan_policy not in NAN_POLICIES:
            raise RwkdError(f"nan_policy={nan_policy!r} is unknown; accepted: {', '.join(NAN_POLICIES)}")
        if weighting.needs_teacher and teacher is None:
            raise RwkdError(f"weighting {weighting.describe()} needs a teacher, and none was given")
        # from_pretrained returns a model in eval mode (dropout off), and Lightning keeps modules' modes
        self.student = student.train()
        if weighting.needs_higher_order_ad and student.config._attn_implementation not in DIFFERENTIABLE_ATTENTION:
            # fused kernels such as flash attention have neither forward-mode AD nor a double backward
            self.student.set_attn_implementation("eager")
        self.weighting = weighting
        self.task = task
        # The teacher is frozen and lives outside the module tree: it is not in checkpoints, not wrapped
        # by DDP and not seen by the optimizer. A bare model runs live; a CachedTeacher looks logits up.
        if isinstance(teacher, torch.nn.Module):
            teacher = LiveTeacher(teacher)
        object.__setattr__(self, "teacher", teacher)
        self.lr, self.weight_decay, self.warmup_ratio = lr, weight_decay, warmup_ratio
        self.grad_clip = grad_clip
        self.fused_adamw = fused_adamw
        self.kd_temperature, self.kd_loss_kind = kd_temperature, kd_loss
        self.nan_policy = nan_policy
        self.run_info = dict(run_info or {})
        self.metrics = GlueMetrics(task, extra_val_splits)
        self.selection = selection  # the metric that picks the best epoch; None: the last epoch
        self.history: list[dict] = []  # dev metrics per epoch, for results.json
        self.sample_log = sample_log
        self.skipped_batches = 0
        self.train_samples_seen = 0
        self.step_seconds: list[float] = []
        self._step_started = 0.0
        self._rng_to_restore: dict | None = None

    # ---- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, p in self.student.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
        fused = self._use_fused_adamw()
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
            fused=fused,
        )
        total = self._total_steps()
        scheduler = get_linear_schedule_with_warmup(optimizer, int(self.warmup_ratio * total), total)
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]

    def setup(self, stage: str) -> None:
        # A learned scheme's parameters are stepped inside the training step with gradients it syncs
        # itself; DDP must not wait for them in the student's backward.
        names = [f"weighting.{n}" for n, _ in self.weighting.named_parameters()]
        names += [f"weighting.{n}" for n, _ in self.weighting.named_buffers()]
        if names:
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self, names)

    def _use_fused_adamw(self) -> bool:
        # Lightning refuses to clip a fused optimizer's gradients under mixed precision (the fused step
        # would unscale them itself), so mixed precision takes the multi-tensor kernel instead
        precision = str(self.trainer.precision) if self._trainer is not None else "32-true"
        mixed = "mixed" in precision
        if self.fused_adamw is None:  # per-tensor AdamW costs ~50 ms a step on CPU (docs/method.md §6)
            return not (mixed and self.grad_clip)
        if self.fused_adamw and mixed and self.grad_clip:
            raise RwkdError(
                f"optim.fused_adamw=true cannot run with trainer.precision={precision} and gradient clipping "
                f"(optim.grad_clip={self.grad_clip}); accepted: optim.fused_adamw=null or false, "
                "optim.grad_clip=0, or a full precision such as 32-true"
            )
        return bool(self.fused_adamw)

    def _total_steps(self) -> int:
        return max(1, int(self.trainer.estimated_stepping_batches))

    # ---- training ---------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        if self.teacher is not None:
            self.teacher.to(self.device)

    def on_train_start(self) -> None:
        # RNG states from a checkpoint are set here, just before the first step, so that whatever ran
        # between loading and training (sanity validation, loader set-up) cannot shift dropout's draws
        if self._rng_to_restore is not None:
            restore_rng(self._rng_to_restore)
            self._rng_to_restore = None

    def teacher_logits(self, batch: dict) -> torch.Tensor | None:
        if self.teacher is None or not self.weighting.needs_teacher:
            return None
        return self.teacher(batch)

    def _sync_device(self) -> None:
        # CUDA kernels run asynchronously: without a barrier the clock would time their launch only
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def on_train_batch_start(self, batch, batch_idx) -> None:
        self._sync_device()
        self._step_started = time.perf_counter()

    def _count_step(self, batch: dict) -> None:
        # counted inside training_step: a step checkpoint is written by a callback's on_train_batch_end,
        # which Lightning calls before the module's, and it must already hold this step's time
        self._sync_device()
        self.step_seconds.append(time.perf_counter() - self._step_started)
        self.train_samples_seen += int(batch["labels"].shape[0])

    def _next_meta_batch(self) -> tuple[dict, torch.Tensor | None]:
        """The next batch of the meta split (cycled, reshuffled each pass), with its teacher logits."""
        batch = {k: v.to(self.device) for k, v in self.trainer.datamodule.next_meta_batch().items()}
        return batch, self.teacher_logits(batch)

    def _signals(self, batch: dict, student_logits, teacher_logits) -> Signals:
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
        replacement = self.weighting.teacher_term(signals)
        if replacement is not None:
            signals.kd_loss = replacement
        if self.weighting.needs_meta:
            meta_batch, meta_teacher_logits = self._next_meta_batch()
            signals.meta = MetaContext(
                student=self.student, batch=batch, teacher_logits=teacher_logits, meta_batch=meta_batch,
                meta_teacher_logits=meta_teacher_logits, regression=regression,
                kd_temperature=self.kd_temperature, kd_kind=self.kd_loss_kind,
            )
        return signals

    def training_step(self, batch: dict, batch_idx: int):
        loss = self._optimise(batch)
        self._count_step(batch)
        return loss

    def _optimise(self, batch: dict) -> torch.Tensor | None:
        optimizer = self.optimizers()
        scheduler = self.lr_schedulers()

        student_logits = self.student(**model_inputs(batch)).logits
        s = self._signals(batch, student_logits, self.teacher_logits(batch))
        self.weighting.update(s)  # a learned scheme's own step (metanet); nothing for the others
        weights = self.weighting.weights(s).detach()
        loss = losses.mix(s.label_loss, s.kd_loss, weights)

        if not torch.isfinite(loss):
            if self.nan_policy == "skip":
                self.skipped_batches += 1
                self.log("train/skipped_batches", float(self.skipped_batches))
                return None
            saved = [cb.last_model_path for cb in self.trainer.callbacks if isinstance(cb, ResumeCheckpoint)]
            last_good = next((p for p in saved if p), "")
            raise RwkdError(
                f"non-finite loss ({loss.item()}) at step {self.global_step}, epoch {self.current_epoch}; "
                f"last good checkpoint: {last_good or 'none saved yet'} (nan_policy=skip skips such batches)"
            )

        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.grad_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")
        optimizer.step()
        scheduler.step()

        self._log_step(loss, s, weights, scheduler.get_last_lr()[0])
        return loss.detach()

    def _log_step(self, loss, s: Signals, weights, lr) -> None:
        label_term = s.label_loss.detach()
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
        self.log_dict(values, prog_bar=False, on_step=True, on_epoch=False)
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)
        if self.sample_log is not None:
            has_teacher = s.teacher_logits is not None
            self.sample_log.add(
                self.current_epoch, self.global_step, s.idx, weights, label_term,
                None if s.kd_loss is None else s.kd_loss,
                features.teacher_correct(s) if has_teacher else None,
                features.teacher_confidence(s) if has_teacher else None,
            )

    def on_train_epoch_end(self) -> None:
        if self.sample_log is not None:
            self.sample_log.write(self.trainer.global_rank, self.trainer.world_size)

    # ---- validation ---------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        split = self.metrics.splits[dataloader_idx]  # the DataModule's val loaders come in this order
        logits = self.student(**model_inputs(batch)).logits
        self.metrics.update(split, logits.float(), batch["labels"])

    def on_validation_epoch_end(self) -> None:
        values = self.metrics.compute()
        self.metrics.reset()
        self.log_dict(values, prog_bar=False, sync_dist=False)
        self.log("val_headline", values["val/headline"], prog_bar=True, logger=False)
        if not self.trainer.sanity_checking:
            self.history.append({"epoch": self.current_epoch, "step": self.global_step, **values})

    def best_epoch(self) -> dict:
        """The validation record the checkpoint callback keeps: the highest `selection` metric (the first
        such epoch on a tie, as the callback keeps it), or the last epoch when selection is None."""
        if self.selection is None:
            return self.history[-1]
        return max(self.history, key=lambda h: h[self.selection])

    # ---- checkpoints ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Everything `rwkd eval` needs to rebuild and score the student, as plain types.
        checkpoint["rwkd"] = {
            **self.run_info,
            "task": self.task.name,
            "num_labels": self.task.num_labels,
            "student_config": self.student.config.to_dict(),
            "history": list(self.history),
        }
        # What a resumed run needs beyond weights and optimizer states to continue exactly
        checkpoint["rwkd_progress"] = {
            "rng": capture_rng(),
            "history": list(self.history),
            "step_seconds": list(self.step_seconds),
            "train_samples_seen": self.train_samples_seen,
            "skipped_batches": self.skipped_batches,
            "sample_log": self.sample_log.state_dict() if self.sample_log is not None else None,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        progress = checkpoint.get("rwkd_progress")
        if progress is None:
            return
        self._rng_to_restore = progress["rng"]
        self.history = list(progress["history"])
        self.step_seconds = list(progress["step_seconds"])
        self.train_samples_seen = int(progress["train_samples_seen"])
        self.skipped_batches = int(progress["skipped_batches"])
        if self.sample_log is not None and progress["sample_log"] is not None:
            self.sample_log.load_state_dict(progress["sample_log"])
