"""A callback that kills its own process with SIGKILL at a chosen step: a real crash, for resume tests.

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
