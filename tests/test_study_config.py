"""The comparison studies' experiment configs: their grids, their families, and one resumable folder per job."""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rwkd.cli import CONF_DIR
from rwkd.run.run_folders import register_resolvers

ROOT = Path(CONF_DIR).parent
# the named variants with two terms: every option of the weighting group but the bases the variants extend, and
# the variants that differ from a swept one only with more than two terms (with two, heuristic_ca_mkd is
# fixed_a50 and metanet_terms is metanet), and the fast configurations of the meta steps, which came after the study
TWO_TERM_SCHEMES = sorted(p.stem for p in (Path(CONF_DIR) / "weighting").glob("*.yaml")
                          if p.stem not in ("fixed", "annealed", "heuristic", "heuristic_ca_mkd", "metanet_terms",
                                            "meta_top1", "metanet_top1"))
TASKS = ["mrpc", "rte", "stsb", "cola", "sst2"]


def _compose(experiment: str, *overrides: str):
    register_resolvers()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=[f"experiment={experiment}", *overrides], return_hydra_config=True)


def _k_term_schemes() -> list[str]:
    """The four-term sweep's schemes, as `make study` runs them."""
    return re.search(r"^STUDY_K_SCHEMES := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split(",")


def test_the_study_sweeps_every_two_term_scheme_over_five_tasks_and_five_seeds():
    params = _compose("study_glue").hydra.sweeper.params
    assert params.task.split(",") == TASKS
    assert sorted(params.weighting.split(",")) == TWO_TERM_SCHEMES and len(TWO_TERM_SCHEMES) == 14
    assert params.seed.split(",") == ["1", "2", "3", "4", "5"]


def test_every_family_has_at_most_three_variants_and_each_is_run_with_two_terms_and_where_defined_with_four():
    cfg = _compose("study_glue")
    swept = set(cfg.hydra.sweeper.params.weighting.split(","))
    families = OmegaConf.to_container(cfg.study.families)
    assert set(families) == {"fixed", "annealed", "meta", "metanet"}
    for members in families.values():
        assert 2 <= len(members) <= 3 and set(members) <= swept
    four = _k_term_schemes()
    assert set(four) == {*families["fixed"], *families["meta"], "heuristic_ca_mkd", "metanet_terms"}


def test_the_four_term_sweep_composes_and_keeps_its_own_folder_and_plan():
    two = _compose("study_glue", "task=mrpc", "weighting=meta", "seed=4")
    assert two.hydra.sweep.dir == "outputs/studies/glue_v2/terms2"
    for scheme in _k_term_schemes():
        cfg = _compose("study_glue", "terms=two_teachers_hidden", f"weighting={scheme}", "task=cola")
        assert cfg.hydra.sweep.dir == "outputs/studies/glue_v2/terms4_teachers2_hidden1"
        assert len(cfg.kd.teachers) == 1 and len(cfg.kd.hidden) == 1 and cfg.data.eval_meta_split
    # a job's folder depends only on (term set, task, scheme, seed): the same command finds it again
    assert OmegaConf.to_container(two.hydra.sweep, resolve=False)["subdir"] == \
        "${task.name}/${hydra:runtime.choices.weighting}/seed${seed}"


def test_the_study_runs_the_default_recipe_of_each_task():
    sst2 = _compose("study_glue", "task=sst2", "weighting=fixed_a25")
    recipe = OmegaConf.load(Path(CONF_DIR) / "recipe" / "sst2_minilm_minilm.yaml")
    assert sst2.data.max_train_samples == recipe.data.max_train_samples
    assert list(sst2.student.model.layers) == list(recipe.student.model.layers) and sst2.resume == "auto"
    assert sst2.data.group_by_length and not _compose("study_glue_v1", "task=sst2").data.group_by_length
    assert _compose("study_glue", "task=mrpc", "weighting=metanet_lr1e-4").weighting.lr == 1e-4
    assert _compose("study_glue", "task=mrpc", "weighting=meta_mix").weighting.meta_loss == "mix"


def test_the_first_study_keeps_its_grid_student_and_recipe():
    cfg = _compose("study_glue_v1", "task=sst2", "weighting=heuristic_loss_ratio")
    params = cfg.hydra.sweeper.params
    assert params.task.split(",") == TASKS and params.seed.split(",") == ["1", "2", "3"]
    assert len(params.weighting.split(",")) == 12 and "meta_mix" not in params.weighting
    assert cfg.weighting._target_.endswith("HeuristicWeight") and cfg.weighting.rule == "loss_ratio"
    assert cfg.data.max_train_samples == 8000 and cfg.data.eval_meta_split and cfg.resume == "auto"
    assert list(cfg.student.model.layers) == [0, 1] and cfg.optim.lr == 1e-4
    assert _compose("study_glue_v1", "task=mrpc", "weighting=fixed_a25").data.max_train_samples is None
    hydra_cfg = _compose("study_glue_v1", "task=cola", "weighting=meta", "seed=2").hydra
    assert OmegaConf.to_container(hydra_cfg.sweep, resolve=False)["subdir"] == \
        "${task.name}/${hydra:runtime.choices.weighting}/seed${seed}"
    assert hydra_cfg.sweep.dir == "outputs/studies/glue"


def test_the_v3_k_terms_second_teacher_is_the_v2_studys_minilm_teacher_not_the_mpnet_outputs():
    """terms=mpnet_minilm_hidden adds the v2 recipe's MiniLM teacher beside MPNet: its fine-tuning key is the v2
    teacher stage's for every task (one cached folder serves both, and the students that start from it), and the
    run's teacher.outputs (MPNet's) never stand in for it."""
    from rwkd.cli import compose_train
    from rwkd.teacher.finetune import _teacher_settings, teacher_key
    from rwkd.teacher.sources import teacher_slots

    for task in ("mrpc", "rte", "stsb", "cola", "sst2"):
        v3 = compose_train(["experiment=study_glue_v3", "terms=mpnet_minilm_hidden", f"task={task}", "weighting=meta"])
        first, second = teacher_slots(v3)
        assert first.cfg.teacher.name == "mpnet-base" and second.cfg.teacher.name == "minilm-l6"
        assert second.cfg.teacher.outputs is None and second.tokenizer_name == "embedded"
        v2 = compose_train(["experiment=study_glue", f"task={task}", "weighting=none"])
        # the data fingerprints are the same run's in both, so the rest of the key decides the folder
        assert teacher_key(_teacher_settings(second.cfg), "train", "dev") == teacher_key(_teacher_settings(v2), "train", "dev")
        assert v3.kd.hidden[0].teacher == 0 and len(v3.kd.teachers) == 1


def test_the_v3_study_distils_the_committed_mpnet_outputs_and_subsamples_sst2_as_the_studies_do():
    from rwkd.cli import compose_train

    for task in ("mrpc", "rte", "stsb", "cola", "sst2"):
        cfg = compose_train(["experiment=study_glue_v3", f"task={task}", "weighting=none"])
        assert cfg.teacher.outputs.startswith(f"results/teacher_outputs/{task}/mpnet-base-")
        assert (Path(__file__).parents[1] / cfg.teacher.outputs / "outputs.json").is_file()
    assert compose_train(["experiment=study_glue_v3", "task=sst2", "weighting=none"]).data.max_train_samples == 8000


def test_the_v3_k_term_runs_read_mpnets_states_from_the_teacher_of_the_committed_logits():
    """The K-term runs distil the committed states folders (float16 [CLS] states after MPNet's last layer): written
    from the very teacher the two-term runs' logits came from, with those logits bit for bit, so the kd term of both
    is the same numbers and runs on any machine read the same states."""
    import torch

    from rwkd.cli import compose_train
    from rwkd.config.settings import check_settings
    from rwkd.teacher.outputs import TeacherOutputs

    root = Path(__file__).parents[1]
    for task in ("mrpc", "rte", "stsb", "cola", "sst2"):
        k_terms = compose_train(["experiment=study_glue_v3", "terms=mpnet_minilm_hidden", f"task={task}", "weighting=meta"])
        two = compose_train(["experiment=study_glue_v3", f"task={task}", "weighting=meta"])
        assert k_terms.teacher.outputs.startswith(f"results/teacher_outputs_states/{task}/")
        states, logits = (TeacherOutputs.open(root / cfg.teacher.outputs) for cfg in (k_terms, two))
        assert states.record["states"] == [12] and states.record["state_dtype"] == "float16"
        assert states.record["weights_sha256"] == logits.record["weights_sha256"] and states.record["task"] == task
        for split in ("train", "dev"):
            torch.testing.assert_close(states.table(split), logits.table(split), rtol=0, atol=0, equal_nan=True)
        held = ~torch.isnan(logits.table("train")).any(-1)  # the pool: every row the runs train or meta-learn on
        table = states.table("train", layer=12)
        assert table.shape[1] == 768 and torch.isfinite(table[held]).all() and torch.isnan(table[~held]).all()
        check_settings(k_terms)  # the planned hidden-state term finds its states
