"""A run's console: rwkd's lines and the progress bar, without Lightning's start-up chatter (rwkd/console.py);
`-v` brings every line back. The filters are named and match exact text: other lines and warnings still show."""

from __future__ import annotations

import logging
import warnings

import pytest
from conftest import TINY, run_rwkd

from rwkd import console

# what a tiny CPU run printed before the filters, one fragment each (the pytree warning: from Lightning's own code)
CHATTER = ["💡 Tip", "litlogger", "GPU available:", "TPU available:", "isinstance(treespec, LeafSpec)",
           "Loading `train_dataloader` to estimate number of stepping batches", "`Trainer.fit` stopped"]


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("pytorch_lightning.utilities.rank_zero", logging.INFO, __file__, 1, message, None, None)


@pytest.mark.parametrize("line", list(console.LIGHTNING_LINES.values()))
def test_each_named_line_is_dropped(line):
    assert not console.LightningChatter().filter(_record(line + " and the rest of the line"))


@pytest.mark.parametrize("line", ["`Trainer.fit` stopped: No training batches.", "Restoring states from the checkpoint",
                                  "GPU available but not used. You can set it by doing `Trainer(accelerator='gpu')`."])
def test_other_lines_show(line):
    assert console.LightningChatter().filter(_record(line))


def test_the_device_lines_show_only_on_a_gpu_or_several_devices():
    def shown(gpu_line: str, tpu_line: str = "TPU available: False, using: 0 TPU cores", several=False) -> list[bool]:
        chatter = console.LightningChatter()
        chatter.several_devices = several
        return [chatter.filter(_record(gpu_line)), chatter.filter(_record(tpu_line))]

    assert shown("GPU available: False, used: False") == [False, False]
    assert shown("GPU available: True (cuda), used: False") == [False, False]  # Lightning warns of that apart
    assert shown("GPU available: True (cuda), used: True") == [True, True]
    assert shown("GPU available: False, used: False", several=True) == [True, True]
    assert shown("GPU available: False, used: False", "TPU available: True, using: 8 TPU cores") == [False, True]


@pytest.mark.parametrize(("trainer", "several"), [
    ({"devices": 1}, False), ({"devices": "auto"}, False), ({"devices": 2}, True), ({"devices": "2"}, True),
    ({"devices": -1}, True), ({"devices": [0, 1]}, True), ({"devices": [3]}, False), ({"devices": "0,1"}, True),
    ({"devices": 1, "num_nodes": 2}, True),
])
def test_several_devices_from_the_trainer_settings(trainer, several):
    assert console.several_devices(trainer) is several


def test_a_trainer_on_several_devices_shows_its_device_lines_while_it_is_built():
    with console.trainer_being_built({"devices": 2, "accelerator": "cpu"}):
        assert console.CHATTER.filter(_record("GPU available: False, used: False"))
    assert not console.CHATTER.filter(_record("GPU available: False, used: False"))


@pytest.mark.parametrize(("args", "verbose"), [
    (["task=rte"], False), (["-v", "task=rte"], True), (["task=rte", "--verbose"], True),
    (["hydra.verbose=true"], True), (["hydra.verbose=[__main__]"], True), (["hydra.verbose=false"], False),
])
def test_verbose_from_the_command_line(args, verbose, monkeypatch):
    monkeypatch.delenv(console.VERBOSE_ENV, raising=False)
    assert console.verbose_requested(args) == (verbose, [a for a in args if a not in ("-v", "--verbose")])


def test_the_pytree_warning_is_dropped_and_no_other():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", **console.PYTREE_DEPRECATION)
        for module, message in [("pytorch_lightning.utilities._pytree", "`isinstance(treespec, LeafSpec)` is deprecated, "
                                 "use `isinstance(treespec, TreeSpec) and treespec.is_leaf()` instead."),
                                ("pytorch_lightning.utilities._pytree", "another deprecation"),
                                ("some_other_package", "`isinstance(treespec, LeafSpec)` is deprecated")]:
            warnings.warn_explicit(message, FutureWarning, "x.py", 1, module=module)
    assert [str(w.message) for w in caught] == ["another deprecation", "`isinstance(treespec, LeafSpec)` is deprecated"]


@pytest.mark.slow
def test_a_run_prints_rwkds_lines_without_lightnings_and_all_of_them_with_v(tmp_path):
    quiet = run_rwkd(["train", "task=rte", *TINY, "weighting=fixed", "hydra.run.dir=runs/quiet"], cwd=tmp_path, process=True)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    printed = quiet.stdout + quiet.stderr
    assert "rwkd: fine-tuning the teacher" in printed and "rwkd: rte dev x 100" in printed  # both trainers ran
    assert [c for c in CHATTER if c in printed] == [], printed
    verbose = run_rwkd(["train", "-v", "task=rte", *TINY, "weighting=none", "hydra.run.dir=runs/verbose"], cwd=tmp_path,
                       process=True)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    printed = verbose.stdout + verbose.stderr
    assert [c for c in CHATTER if c not in printed] == [], printed
