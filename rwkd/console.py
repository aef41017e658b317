"""What a run's console shows: rwkd's own lines and the progress bar.

Lightning prints a few lines on every run that say nothing about the run: a tip to install its cloud loggers,
the device lines of a run on one CPU (`GPU available: False, used: False`), the note that it reads the train
loader to count steps, and that fit stopped at max_epochs. Its own code also triggers one deprecation warning of
torch's pytree module, which no setting of a run can avoid. Each is dropped by a named filter below, matched on
its exact text, so any other line or warning still shows. The device lines stay where they say something: when a
GPU is used or the trainer runs on several devices. `rwkd train -v` (or `hydra.verbose=true`) installs none of
these filters.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# rank_zero_info, which prints Lightning's info lines, logs through these (Fabric's, until Lightning replaces it)
LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")

# the start of each info line dropped, by name
LIGHTNING_LINES = {
    "litlogger tip": "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]",
    "litmodels tip": "💡 Tip: For seamless cloud uploads and versioning, try installing [litmodels]",
    "step count": "Loading `train_dataloader` to estimate number of stepping batches.",
    "stopped at max_epochs": "`Trainer.fit` stopped: `max_epochs=",
    "stopped at max_steps": "`Trainer.fit` stopped: `max_steps=",
}
GPU_LINE, TPU_LINE = "GPU available: ", "TPU available: "

# torch deprecated LeafSpec; pytorch_lightning/utilities/_pytree.py still builds one on every fit
PYTREE_DEPRECATION = {"message": re.escape("`isinstance(treespec, LeafSpec)` is deprecated"),
                      "category": FutureWarning, "module": re.escape("pytorch_lightning.utilities._pytree")}

VERBOSE_FLAGS = ("-v", "--verbose")
# `-v` is not a Hydra override, so it cannot stay in the command line that Lightning's DDP launcher re-runs for the
# other ranks: they learn it from the environment instead
VERBOSE_ENV = "RWKD_VERBOSE"


class LightningChatter(logging.Filter):
    """Drops LIGHTNING_LINES, and the device lines unless the trainer uses a GPU or several devices."""

    def __init__(self) -> None:
        super().__init__("lightning chatter")
        self.several_devices = False  # set while a trainer on several devices is built (trainer_being_built)
        self._devices_shown = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(GPU_LINE):  # the first of the pair: it decides for both
            self._devices_shown = self.several_devices or ", used: True" in message
            return self._devices_shown
        if message.startswith(TPU_LINE):
            return self._devices_shown or not message.endswith(" 0 TPU cores")
        return not message.startswith(tuple(LIGHTNING_LINES.values()))


CHATTER = LightningChatter()
_quiet = False


def verbose_requested(args: list[str]) -> tuple[bool, list[str]]:
    """(whether the command line or the environment asks for every line, the arguments without -v)."""
    rest = [a for a in args if a not in VERBOSE_FLAGS]
    hydra_verbose = any(a.split("=", 1)[1].strip().lower() not in ("false", "null", "[]", "")
                        for a in rest if a.lstrip("+").startswith("hydra.verbose="))
    return len(rest) < len(args) or hydra_verbose or os.environ.get(VERBOSE_ENV) == "1", rest


def quiet_lightning(verbose: bool) -> None:
    """Installs the filters, once per process; with `verbose`, none (and DDP ranks started later are told so)."""
    global _quiet
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        return
    if _quiet:
        return
    _quiet = True
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).addFilter(CHATTER)
    warnings.filterwarnings("ignore", **PYTREE_DEPRECATION)


def several_devices(trainer_cfg: dict) -> bool:
    """Whether a Trainer of these settings runs on more than one device. `devices: auto` is one process on CPU;
    on GPUs the device line says `used: True` and shows anyway."""
    if int(trainer_cfg.get("num_nodes") or 1) > 1:
        return True
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    text = str(devices).strip()
    if "," in text:  # "0,1": device indices
        return len([d for d in text.split(",") if d.strip()]) > 1
    return text.lstrip("-").isdigit() and (int(text) > 1 or int(text) == -1)  # -1: every device there is


@contextmanager
def trainer_being_built(trainer_cfg: dict) -> Iterator[None]:
    """Around building a Trainer: its device lines show if it runs on several devices."""
    CHATTER.several_devices = several_devices(trainer_cfg)
    try:
        yield
    finally:
        CHATTER.several_devices = False
