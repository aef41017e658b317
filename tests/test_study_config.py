"""The comparison study's experiment config: its grid, its subset, and one resumable folder per job."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rwkd.cli import CONF_DIR
from rwkd.run.run_folders import register_resolvers

# the named variants: every option of the weighting group but the bases the variants extend, and the variants
# that differ from a swept one only with more than two terms (with two, heuristic_ca_mkd is fixed_a50 and
# metanet_terms is metanet: the study weighs two terms)
SCHEMES = sorted(p.stem for p in (Path(CONF_DIR) / "weighting").glob("*.yaml")
                 if p.stem not in ("fixed", "annealed", "heuristic", "heuristic_ca_mkd", "metanet_terms"))


def _compose(*overrides: str):
    register_resolvers()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=["experiment=study_glue", *overrides], return_hydra_config=True)


def test_the_study_sweeps_every_scheme_over_five_tasks_and_three_seeds():
    params = _compose().hydra.sweeper.params
    assert params.task.split(",") == ["mrpc", "rte", "stsb", "cola", "sst2"]
    assert sorted(params.weighting.split(",")) == SCHEMES and len(SCHEMES) == 12
    assert params.seed.split(",") == ["1", "2", "3"]


def test_each_scheme_sets_its_weighting_and_only_sst2_is_subsampled():
    cfg = _compose("task=sst2", "weighting=heuristic_loss_ratio")
    assert cfg.weighting._target_.endswith("HeuristicWeight") and cfg.weighting.rule == "loss_ratio"
    assert cfg.data.max_train_samples == 8000 and cfg.data.eval_meta_split and cfg.resume == "auto"
    assert _compose("task=mrpc", "weighting=fixed_a25").data.max_train_samples is None
    assert _compose("task=mrpc", "weighting=fixed_a25").weighting.alpha == 0.25
    hydra_cfg = _compose("task=cola", "weighting=meta", "seed=2").hydra
    # a job's folder depends only on (task, scheme, seed): the same command finds it again to skip or resume
    assert OmegaConf.to_container(hydra_cfg.sweep, resolve=False)["subdir"] == \
        "${task.name}/${hydra:runtime.choices.weighting}/seed${seed}"
    assert hydra_cfg.sweep.dir == "outputs/studies/glue"
