"""Stopping cleanly when the machine is taken away.

A scheduler that preempts a job, or reaches its time limit, sends a signal first: SIGTERM, SIGUSR1
(SLURM's `--signal`, commonly) or SIGUSR2 (what submitit, behind `hydra/launcher=slurm`, asks SLURM for).
On any of them the run finishes the step in hand, writes checkpoints/last.ckpt, and stops with exit code
PREEMPTED_EXIT_CODE; `resume=auto` with the same command continues from there exactly. A handler that was
installed before (submitit's requeue) is called after the checkpoint is written, so the job is requeued
holding the newest state.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytorch_lightning as pl
import torch

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: try again later; distinct from a user error's 2
SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


class StopRequested(Exception):
    """A job was not started because the stop file exists (`stop_file`): the jobs already running finish,
    nothing new starts, and the same command after the file is removed goes on where the sweep stopped."""

    def __init__(self, stop_file: Path, job: Path):
        self.stop_file, self.job = Path(stop_file), Path(job)
        super().__init__(f"{job} not started: {stop_file} exists (remove it and run the same command to go on)")


def check_stop_file(cfg, job: Path) -> None:
    """Raises StopRequested where the config's stop file exists; a config without `stop_file` never stops."""
    stop_file = cfg.get("stop_file")
    if stop_file and Path(stop_file).exists():
        raise StopRequested(Path(stop_file), job)


class Preempted(Exception):
    """The run was asked to stop; its last.ckpt holds the state after the last finished step."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        where = f"last.ckpt written to {checkpoint}" if checkpoint else "no checkpoint written (run again from the start)"
        super().__init__(f"stopped by {signal.Signals(signum).name} after step {step}; {where}; "
                         "the same command with resume=auto continues it")


_late_signal: int | None = None  # a signal the run noted after its last step: acted on once the job has finished


def take_late_signal() -> int | None:
    """The signal a finished job received after its last training step, once; None if there was none."""
    global _late_signal
    signum, _late_signal = _late_signal, None
    return signum


class Preemption(pl.Callback):
    def __init__(self, last_checkpoint: Path):
        self.last_checkpoint = Path(last_checkpoint)
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def on_train_start(self, trainer, pl_module) -> None:
        # after Lightning has installed its own handlers (it puts back what was there before it, ours gone,
        # when the fit ends); Python lets only the main thread install handlers
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._note)

    def _note(self, signum: int, frame) -> None:
        # only a flag here: the step in hand finishes, and the checkpoint is written between steps
        if self.received is None:
            self.received = signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        received = self.received or 0
        if trainer.world_size > 1:  # a signal to any process stops them all, at the same step
            received = int(trainer.strategy.reduce(torch.tensor(received, device=pl_module.device), reduce_op="max"))
        if not received:
            return
        self.received = received
        trainer.save_checkpoint(self.last_checkpoint, weights_only=False)
        previous = self._previous.get(self.received)
        self._restore()
        if callable(previous):  # e.g. submitit's requeue, which exits the process itself
            previous(self.received, None)
        raise Preempted(self.received, trainer.global_step, self.last_checkpoint)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._restore()  # the fit stops on an error: the handlers go back as the fit leaves

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore()  # before Lightning puts back what it found, so that its handlers do not outlive the fit
        if self.received is not None:
            # noted after the last step (in the last validation): no step is left to stop at, so the run
            # finishes and records itself, and the sweep it belongs to starts nothing more
            global _late_signal
            _late_signal = self.received

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
