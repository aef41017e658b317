"""Every option of every config group composes, and everything it would instantiate exists and accepts the
settings it is given: a misspelt key or a renamed argument fails here, in process, not hours into a sweep.

Objects that can be built offline and cheaply (weighting schemes, tiny and embedded models, the CPU trainer,
the CSV logger) are built for real; the rest (hub models, GPU trainers, online loggers) have their `_target_`
located and their settings bound to its signature.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from rwkd.cli import CONF_DIR
from rwkd.config.settings import check_target_arguments
from rwkd.run.run_folders import register_resolvers
from rwkd.terms import plan_extra_terms

GROUPS = ["task", "data", "teacher", "student", "weighting", "terms", "trainer", "logger", "experiment",
          "hparams_search", "recipe", "committed_outputs"]
APPENDED = {"committed_outputs"}  # groups that are not in train.yaml's defaults list: added with +group=option
OFFLINE_MODELS = {"embedded"}  # name_or_path values that need no network


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in _options(g)]


def _compose(group: str, option: str, output_dir: Path) -> DictConfig:
    register_resolvers()
    override = f"{'+' if group in APPENDED else ''}{group}={option}"
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[override], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)  # what a real run has when ${hydra:...} settings resolve
    return cfg


def _targets(node, path=""):
    """(path, node) for every mapping with a _target_ in the config, outside hydra's own settings."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node:
            if path == "" and key == "hydra":
                continue
            yield from _targets(node[key], f"{path}.{key}" if path else str(key))


def _build_offline(path: str, node: DictConfig, cfg: DictConfig):
    if path == "weighting":
        return instantiate(node)
    if path in ("teacher.model", "student.model") and (node.get("random_init") or node.get("name_or_path") in OFFLINE_MODELS):
        from rwkd.tasks import get_task

        return instantiate(node, num_labels=get_task(cfg.task.name).num_labels)
    if path == "logger.csv":
        return instantiate(node)
    return None


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_option_composes_and_its_targets_accept_their_settings(group, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a logger built here writes under tmp_path
    cfg = _compose(group, option, tmp_path)
    targets = list(_targets(cfg))
    # every object a run builds from config: `rwkd train --cfg job` shows all their settings
    assert {"data", "module", "weighting", "student.model", "teacher.model"} <= {p for p, _ in targets}
    for path, node in targets:
        check_target_arguments(path, node)  # the validator's own check: every key is an argument of its target
        _build_offline(path, node, cfg)
    plan_extra_terms(OmegaConf.to_container(cfg.kd, resolve=True))  # kd.teachers and kd.hidden are well formed
    if cfg.trainer.accelerator == "cpu":
        trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
        instantiate(trainer_cfg, logger=False, enable_checkpointing=False, default_root_dir=str(tmp_path))


def test_every_group_is_covered():
    on_disk = {p.name for p in Path(CONF_DIR).iterdir() if p.is_dir() and p.name != "hydra"}
    assert on_disk == set(GROUPS)


def _readme_rows() -> dict[str, str]:
    """The README's configuration table: group -> its options cell."""
    readme = (Path(CONF_DIR).parent / "README.md").read_text()
    table = readme.split("## Configuration (`conf/`)", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1]
    return rows


def test_the_readme_names_every_option_of_every_group():
    """A config added without a line in the README's table fails here; recipes are named by their pattern."""
    rows = _readme_rows()
    assert set(rows) == set(GROUPS)
    pattern = re.compile(rf"({'|'.join(_options('task'))})_({'|'.join(_options('teacher'))})_"
                         rf"({'|'.join(_options('student'))})")
    for group in GROUPS:
        named = set(re.findall(r"[\w.\-]+", rows[group]))
        missing = [o for o in _options(group) if o not in named and not (group == "recipe" and pattern.fullmatch(o))]
        assert not missing, f"README's configuration table does not name {group}: {missing}"
