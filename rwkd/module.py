"""The LightningModule: a student, a frozen teacher and a weighting scheme, trained with manual
optimization so that schemes with an inner (meta) step can run it inside the training step."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch
from transformers import get_linear_schedule_with_warmup

from rwkd import losses
from rwkd.errors import RwkdError
from rwkd.metrics import GlueMetrics
from rwkd.tasks import TaskSpec
from rwkd.weighting.base import Signals, WeightingScheme

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
NAN_POLICIES = ("stop", "skip")


def model_inputs(batch: dict) -> dict:
    return {k: batch[k] for k in MODEL_INPUTS if k in batch}


class DistillationModule(pl.LightningModule):
    def __init__(
        self,
        student: torch.nn.Module,
        weighting: WeightingScheme,
        task: TaskSpec,
        teacher: torch.nn.Module | None = None,
        lr: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        grad_clip: float | None = 1.0,
        fused_adamw: bool | None = None,
        kd_temperature: float = 1.0,
        kd_loss: str = "kl",
        nan_policy: str = "stop",
        run_info: dict | None = None,
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
        self.weighting = weighting
        self.task = task
        # The teacher is frozen and lives outside the module tree: it is not in checkpoints, not wrapped
        # by DDP and not seen by the optimizer.
        object.__setattr__(self, "teacher", teacher.eval().requires_grad_(False) if teacher is not None else None)
        self.lr, self.weight_decay, self.warmup_ratio = lr, weight_decay, warmup_ratio
        self.grad_clip = grad_clip
        self.fused_adamw = fused_adamw
        self.kd_temperature, self.kd_loss_kind = kd_temperature, kd_loss
        self.nan_policy = nan_policy
        self.run_info = dict(run_info or {})
        self.metrics = GlueMetrics(task)
        self.history: list[dict] = []  # dev metrics per epoch, for results.json
        self.skipped_batches = 0
        self.train_samples_seen = 0
        self.train_step_seconds = 0.0
        self._step_started = 0.0

    # ---- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, p in self.student.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
        fused = self.fused_adamw
        if fused is None:  # per-tensor AdamW costs ~50 ms a step on CPU (METHOD.md section 5)
            fused = True
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
            fused=fused,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = get_linear_schedule_with_warmup(optimizer, int(self.warmup_ratio * total), total)
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]

    def _total_steps(self) -> int:
        return max(1, int(self.trainer.estimated_stepping_batches))

    # ---- training ---------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        if self.teacher is not None:
            self.teacher.to(self.device)

    def teacher_logits(self, batch: dict) -> torch.Tensor | None:
        if self.teacher is None or not self.weighting.needs_teacher:
            return None
        with torch.no_grad():
            return self.teacher(**model_inputs(batch)).logits.float()

    def on_train_batch_start(self, batch, batch_idx) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.train_step_seconds += time.perf_counter() - self._step_started
        self.train_samples_seen += int(batch["labels"].shape[0])

    def training_step(self, batch: dict, batch_idx: int):
        optimizer = self.optimizers()
        scheduler = self.lr_schedulers()
        regression = self.task.is_regression

        student_logits = self.student(**model_inputs(batch)).logits
        teacher_logits = self.teacher_logits(batch)
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
        weights = self.weighting.weights(signals).detach()
        loss = losses.mix(label_term, kd_term, weights)

        if not torch.isfinite(loss):
            if self.nan_policy == "skip":
                self.skipped_batches += 1
                self.log("train/skipped_batches", float(self.skipped_batches))
                return None
            ckpt = self.trainer.checkpoint_callback
            last_good = (ckpt.last_model_path or ckpt.best_model_path) if ckpt is not None else ""
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

        self._log_step(loss, label_term, kd_term, weights, scheduler.get_last_lr()[0])
        return loss.detach()

    def _log_step(self, loss, label_term, kd_term, weights, lr) -> None:
        values = {
            "train/loss": loss.detach(),
            "train/label_loss": label_term.detach().mean(),
            "train/weight_mean": weights.mean(),
            "train/weight_std": weights.std(unbiased=False),
            "train/lr": lr,
        }
        if kd_term is not None:
            values["train/kd_loss"] = kd_term.detach().mean()
        self.log_dict(values, prog_bar=False, on_step=True, on_epoch=False)
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)

    # ---- validation ---------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        split = self.task.dev_splits[dataloader_idx]
        logits = self.student(**model_inputs(batch)).logits
        self.metrics.update(split, logits.float(), batch["labels"])

    def on_validation_epoch_end(self) -> None:
        values = self.metrics.compute()
        self.metrics.reset()
        self.log_dict(values, prog_bar=False, sync_dist=False)
        self.log("val_headline", values["val/headline"], prog_bar=True, logger=False)
        if not self.trainer.sanity_checking:
            self.history.append({"epoch": self.current_epoch, "step": self.global_step, **values})

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
