"""The preemption callback in process: a signal lets the step in hand finish, last.ckpt is written, a
handler installed before (submitit's requeue) is called after that, and the handlers are put back."""

from __future__ import annotations

import os
import signal

import pytest
import pytorch_lightning as pl

from rwkd.data.datamodule import GlueDataModule
from rwkd.models import build_classifier, load_tokenizer
from rwkd.run.preemption import Preempted, Preemption
from rwkd.tasks import get_task
from rwkd.training.checkpointing import read_checkpoint
from rwkd.training.module import DistillationModule
from rwkd.weighting.none import NoKD

SMALL = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)


class _SignalAt(pl.Callback):
    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def test_the_earlier_handler_runs_after_the_checkpoint(glue_dir, tmp_path):
    calls = []

    def requeue(signum, frame):  # stands in for submitit's checkpoint_and_try_requeue
        calls.append((signum, (tmp_path / "last.ckpt").is_file()))

    before = signal.signal(signal.SIGUSR2, requeue)
    try:
        module = DistillationModule(build_classifier("embedded", 2, random_init=True, config_overrides=SMALL, seed=2),
                                    NoKD(), get_task("rte"), optim={"lr": 1e-3})
        dm = GlueDataModule("rte", load_tokenizer("embedded"), dir=str(glue_dir), max_len=32, batch_size=8,
                            max_train_samples=80, meta_size=16, max_eval_samples=16)
        trainer = pl.Trainer(accelerator="cpu", max_steps=6, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                             limit_val_batches=0, callbacks=[Preemption(tmp_path / "last.ckpt"), _SignalAt(2, signal.SIGUSR2)])
        with pytest.raises(Preempted) as stopped:
            trainer.fit(module, datamodule=dm)
        assert stopped.value.step == 3 and calls == [(signal.SIGUSR2, True)]
        assert read_checkpoint(tmp_path / "last.ckpt", "test")["global_step"] == 3
        assert signal.getsignal(signal.SIGUSR2) is requeue  # put back

        trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                             limit_val_batches=0, callbacks=[Preemption(tmp_path / "other.ckpt")])
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)}
        trainer.fit(module, datamodule=dm)  # a fit that ends normally puts them back too
        assert {s: signal.getsignal(s) for s in handlers} == handlers and not (tmp_path / "other.ckpt").exists()
    finally:
        signal.signal(signal.SIGUSR2, before)
