"""What every rwkd training shares, student or teacher: a GLUE classifier trained with manual
optimization, validated on dev (and the meta split) each epoch, its best epoch picked by one metric,
and everything a resumed run needs saved in its checkpoints.

Subclasses name the model they train (`model_attr`, the prefix of its weights in a checkpoint) and write
`training_step`, finishing each step with `apply_update`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytorch_lightning as pl
import torch

from rwkd import distributed
from rwkd.errors import RwkdError
from rwkd.metrics import GlueMetrics
from rwkd.models import model_inputs
from rwkd.optim import OptimSettings, adamw_with_warmup
from rwkd.records.provenance import JobClock
from rwkd.setting_rules import OneOf, check_values
from rwkd.tasks import TaskSpec
from rwkd.training.checkpointing import ResumeCheckpoint, capture_rng, restore_rng

NAN_POLICIES = ("stop", "skip")
NAN_POLICY = OneOf(NAN_POLICIES)  # the one rule, checked by the config validator and here


class ClassifierModule(pl.LightningModule):
    model_attr: str  # the attribute holding the trained model, and its weights' prefix in checkpoints

    def __init__(
        self,
        model: torch.nn.Module,
        task: TaskSpec,
        optim: OptimSettings | Mapping | None = None,
        nan_policy: str = "stop",
        run_info: dict | None = None,
        score_meta_split: bool = False,
        selection: str | None = "val/headline",
    ):
        super().__init__()
        self.automatic_optimization = False
        self.rank_states: dict = {}  # name -> a callback's per-process state (state_dict/load_state_dict)
        check_values("", {"nan_policy": NAN_POLICY}, {"nan_policy": nan_policy})
        # from_pretrained returns a model in eval mode (dropout off), and Lightning keeps modules' modes
        setattr(self, self.model_attr, model.train())
        self.task = task
        self.optim = optim if isinstance(optim, OptimSettings) else OptimSettings.from_mapping(optim or {})
        self.nan_policy = nan_policy
        self.run_info = dict(run_info or {})
        self.metrics = GlueMetrics(task, ("meta",) if score_meta_split else ())
        self.selection = selection  # the metric that picks the best epoch; None: the last epoch
        self.history: list[dict] = []  # dev metrics per epoch, for results.json
        self.skipped_batches = 0
        self.train_samples_seen = 0
        self.clock = JobClock()  # the job's runner hands in its own, started before the teacher stage
        self.step_seconds: list[float] = []
        self._step_started = 0.0
        self._rng_to_restore: dict | None = None

    @property
    def trained_model(self) -> torch.nn.Module:
        return getattr(self, self.model_attr)

    # ---- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self):
        precision = str(self.trainer.precision) if self._trainer is not None else "32-true"
        optimizer, scheduler = adamw_with_warmup(self.trained_model, self.optim, self._total_steps(),
                                                 self.optim.use_fused(precision))
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]

    def _total_steps(self) -> int:
        return max(1, int(self.trainer.estimated_stepping_batches))

    def stop_or_skip(self, loss: torch.Tensor) -> bool:
        """False for a finite loss. A non-finite one is skipped (True) under nan_policy=skip, else the run
        stops with one line naming the last good checkpoint."""
        if torch.isfinite(loss):
            return False
        if self.nan_policy == "skip":
            self.skipped_batches += 1
            self.log("train/skipped_batches", float(self.skipped_batches))
            return True
        saved = [cb.last_model_path for cb in self.trainer.callbacks if isinstance(cb, ResumeCheckpoint)]
        last_good = next((p for p in saved if p), "")
        raise RwkdError(
            f"non-finite loss ({loss.item()}) at step {self.global_step}, epoch {self.current_epoch}; "
            f"last good checkpoint: {last_good or 'none saved yet'} (nan_policy=skip skips such batches)"
        )

    def apply_update(self, loss: torch.Tensor) -> float:
        """One optimizer step on `loss`: backward, clipping, step, schedule; returns the new learning rate."""
        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.optim.grad_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.optim.grad_clip, gradient_clip_algorithm="norm")
        optimizer.step()
        scheduler.step()
        return scheduler.get_last_lr()[0]

    # ---- timing -------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        # RNG states from a checkpoint are set here, just before the first step, so that whatever ran
        # between loading and training (sanity validation, loader set-up) cannot shift dropout's draws
        if self._rng_to_restore is not None:
            restore_rng(self._rng_to_restore)
            self._rng_to_restore = None

    def _sync_device(self) -> None:
        # CUDA kernels run asynchronously: without a barrier the clock would time their launch only
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def on_train_batch_start(self, batch, batch_idx) -> None:
        self._sync_device()
        self._step_started = time.perf_counter()

    def count_step(self, batch: dict) -> None:
        # counted inside training_step: a step checkpoint is written by a callback's on_train_batch_end,
        # which Lightning calls before the module's, and it must already hold this step's time
        self._sync_device()
        self.step_seconds.append(time.perf_counter() - self._step_started)
        self.train_samples_seen += int(batch["labels"].shape[0])

    # ---- validation ---------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        split = self.metrics.splits[dataloader_idx]  # the DataModule's val loaders come in this order
        logits = self.trained_model(**model_inputs(batch)).logits
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
        # Everything `rwkd eval` needs to rebuild and score the model, as plain types.
        checkpoint["rwkd"] = {
            **self.run_info,
            "task": self.task.name,
            "num_labels": self.task.num_labels,
            f"{self.model_attr}_config": self.trained_model.config.to_dict(),
            "history": list(self.history),
        }
        # What a resumed run needs beyond weights and optimizer states to continue exactly. Every process
        # writes the hook's result, rank 0 the file: what differs between processes is gathered into it.
        mine = self.rank_progress()
        checkpoint["rwkd_progress"] = {
            **mine,
            "ranks": distributed.gather_objects(mine),
            "history": list(self.history),
            "step_seconds": list(self.step_seconds),
            "train_samples_seen": self.train_samples_seen,
            "skipped_batches": self.skipped_batches,
            "elapsed": self.clock.elapsed(),
        }

    def rank_progress(self) -> dict:
        """The part of the resumable state that is each process's own under data parallelism: its RNG, and the
        state of whatever a callback registered in `rank_states` (the per-sample weight log)."""
        return {"rng": capture_rng(), **{name: part.state_dict() for name, part in self.rank_states.items()}}

    def load_rank_progress(self, state: dict) -> None:
        self._rng_to_restore = state["rng"]
        for name, part in self.rank_states.items():
            if state.get(name) is not None:
                part.load_state_dict(state[name])

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        progress = checkpoint.get("rwkd_progress")
        if progress is None:
            return
        ranks = progress.get("ranks") or [progress]
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self._trainer is not None else (1, 0)
        self.load_rank_progress(ranks[rank] if len(ranks) == world else progress)
        self.history = list(progress["history"])
        self.step_seconds = list(progress["step_seconds"])
        self.train_samples_seen = int(progress["train_samples_seen"])
        self.skipped_batches = int(progress["skipped_batches"])
        self.clock.resume_from(progress.get("elapsed"))  # absent in checkpoints written before it was kept
