"""A study experiment's plan, from its config: the weighting configs its sweep runs by default and its families."""

from __future__ import annotations


def experiment_plan(experiment: str) -> tuple[list[str], dict[str, list[str]]]:
    """The weighting configs a study experiment sweeps by default (its two-term tuning list) and its families
    (`study.families`: the variants of which a later seed runs one)."""
    from omegaconf import OmegaConf

    from rwkd.checkout import conf_dir
    from rwkd.errors import RwkdError

    path = conf_dir() / "experiment" / f"{experiment}.yaml"
    if not path.is_file():
        raise RwkdError(f"--experiment {experiment!r}: no {path}; accepted: a config of conf/experiment/")
    config = OmegaConf.load(path)
    params = OmegaConf.select(config, "hydra.sweeper.params.weighting")
    if not params:
        raise RwkdError(f"--experiment {experiment!r} sweeps no weighting; name the term set's: FOLDER=W1,W2,...")
    families = OmegaConf.to_container(OmegaConf.select(config, "study.families") or OmegaConf.create({}))
    return str(params).split(","), families
