"""Callbacks that kill their own process with SIGKILL at a chosen step (a real crash) or send it a signal
(a scheduler's preemption notice), for resume tests.

Added to a run with `+callbacks.kill._target_=fault_injection.KillAtStep` (tests/ on PYTHONPATH); it
does nothing unless RWKD_TEST_KILL_AT_STEP is set, so the same command line can be re-run to resume.
"""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl

ENV = "RWKD_TEST_KILL_AT_STEP"


class KillAtStep(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = os.environ.get(ENV)
        if step is not None and trainer.global_step == int(step):
            os.kill(os.getpid(), signal.SIGKILL)


SIGNAL_ENV = "RWKD_TEST_SIGNAL_AT_STEP"  # "10:SIGTERM": that signal to this process at step 10; "10:SIGTERM:0": rank 0 only
LAST_VALIDATION = "last-validation"  # "last-validation:SIGTERM": as the last epoch's validation starts, after every step


class SignalAtStep(pl.Callback):
    """Sends a signal to its own process as a step starts, as a scheduler would mid-step."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        spec = os.environ.get(SIGNAL_ENV)
        if spec is not None and not spec.startswith(LAST_VALIDATION + ":"):
            step, name, *rank = spec.split(":")
            if trainer.global_step == int(step) and (not rank or trainer.global_rank == int(rank[0])):
                os.kill(os.getpid(), getattr(signal, name))

    def on_validation_start(self, trainer, pl_module) -> None:
        spec = os.environ.get(SIGNAL_ENV)
        if spec is not None and spec.startswith(LAST_VALIDATION + ":") and not trainer.sanity_checking \
                and trainer.current_epoch == trainer.max_epochs - 1:
            os.kill(os.getpid(), getattr(signal, spec.split(":")[1]))
