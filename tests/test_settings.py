"""rwkd/config/settings.py: each rule accepts what it promises and refuses the rest in one line, on configs
composed as `rwkd train` composes them."""

from __future__ import annotations

import pytest

from rwkd.cli import compose_train
from rwkd.config.settings import RULES_BY_KEY, Number, check_settings
from rwkd.errors import RwkdError


def _check(*overrides: str) -> None:
    check_settings(compose_train(list(overrides)))


@pytest.mark.parametrize("weighting", ["none", "fixed", "annealed_kd", "heuristic", "meta", "metanet"])
@pytest.mark.parametrize("task", ["rte", "stsb"])
def test_the_defaults_pass(task, weighting):
    _check(f"task={task}", f"weighting={weighting}")


@pytest.mark.parametrize("experiment", ["demo", "study_glue", "study_glue_v1", "recipe_check", "recipe_student", "recipe_teacher"])
def test_every_experiment_passes(experiment):
    _check(f"experiment={experiment}")


@pytest.mark.parametrize(("override", "message"), [
    ("data.batch_size=0", "data.batch_size=0 is outside [1, inf); accepted: an integer >= 1"),
    ("data.batch_size=2.5", "data.batch_size=2.5 is not an integer >= 1"),
    ("data.batch_size=true", "data.batch_size=True is not an integer >= 1"),
    ("data.meta_size=-1", "data.meta_size=-1 is outside [0, inf); accepted: null or an integer >= 0"),
    ("data.max_train_samples=1", "data.max_train_samples=1 is outside [2, inf); accepted: null or an integer >= 2"),
    ("data.shuffle=yes_please", "data.shuffle='yes_please' is not true or false"),
    ("optim.warmup_ratio=1.5", "optim.warmup_ratio=1.5 is outside [0, 1]; accepted: a number in [0, 1]"),
    ("optim.weight_decay=-1", "optim.weight_decay=-1 is outside [0, inf); accepted: a number >= 0"),
    ("optim.lr=fast", "optim.lr='fast' is not a number > 0"),
    ("optim.lr=inf", "optim.lr=inf is not a number > 0"),
    ("kd.loss=l1", "kd.loss='l1' is unknown; accepted: kl, mse"),
    ("nan_policy=ignore", "nan_policy='ignore' is unknown; accepted: stop, skip"),
    ("checkpoint.every_n_steps=0", "checkpoint.every_n_steps=0 is outside [1, inf); accepted: an integer >= 1"),
    ("student.init=random", "student.init='random' is unknown; accepted: pretrained, teacher, finetuned"),
    ("teacher.finetune.select_on=best", "teacher.finetune.select_on='best' is unknown; accepted: meta, dev, last"),
    ("weighting.alpha=1.01", "weighting.alpha=1.01 is outside [0, 1]; accepted: a number in [0, 1]"),
])
def test_bad_values_name_the_key_the_value_and_what_is_accepted(override, message):
    with pytest.raises(RwkdError) as err:
        _check("task=rte", override)
    assert str(err.value) == message


def test_scheme_settings_are_checked_for_the_scheme_that_has_them():
    with pytest.raises(RwkdError, match=r"weighting.phase1_fraction=1 is outside \(0, 1\)"):
        _check("weighting=annealed_kd", "weighting.phase1_fraction=1")
    with pytest.raises(RwkdError, match=r"weighting.hidden=0 is outside \[1, inf\)"):
        _check("weighting=metanet", "weighting.hidden=0")
    with pytest.raises(RwkdError, match=r"weighting.meta_loss='dev' is unknown; accepted: label, kd, mix"):
        _check("weighting=meta", "weighting.meta_loss=dev")


@pytest.mark.parametrize("weighting", ["meta", "metanet"])
def test_the_meta_step_impls_and_a_meta_batch_size_of_its_own_are_accepted(weighting):
    for impl in ("fast", "shared", "reference"):
        _check(f"weighting={weighting}", f"weighting.impl={impl}", "data.meta_batch_size=8")
    with pytest.raises(RwkdError) as err:
        _check(f"weighting={weighting}", "weighting.impl=jvp")
    assert str(err.value) == "weighting.impl='jvp' is unknown; accepted: fast, shared, reference"
    with pytest.raises(RwkdError) as err:
        _check(f"weighting={weighting}", "data.meta_batch_size=0")
    assert str(err.value) == "data.meta_batch_size=0 is outside [1, inf); accepted: null or an integer >= 1"


def test_no_meta_split_is_a_setting_refused_only_by_what_needs_one():
    _check("data.meta_size=0", "weighting=fixed")
    _check("data.meta_size=0", "weighting=heuristic")
    for scheme in ("meta", "metanet"):
        with pytest.raises(RwkdError, match="data.meta_size=0 leaves no meta split, and the weighting"):
            _check("data.meta_size=0", f"weighting={scheme}")
    with pytest.raises(RwkdError, match="no meta split to score"):
        _check("data.meta_size=0", "data.eval_meta_split=true")


def test_a_key_added_to_a_built_node_must_be_an_argument_of_its_target():
    with pytest.raises(RwkdError, match=r"^weighting.beta is not a setting of rwkd.weighting.fixed.FixedWeight; accepted: alpha, term_weights$"):
        _check("weighting=fixed", "+weighting.beta=1")
    _check("+student.model.dropout=0.2")


def test_every_rule_names_a_key_the_config_has():
    # a rule for a renamed key would silently check nothing
    keys = set()
    for overrides in (["weighting=annealed"], ["weighting=heuristic"], ["weighting=meta"], ["weighting=metanet"],
                      ["weighting=fixed"], ["student.init=finetuned", "+teacher@student.source=minilm"]):
        cfg = compose_train(overrides)
        from omegaconf import OmegaConf

        keys |= {k for k in RULES_BY_KEY if OmegaConf.select(cfg, k, default="<absent>") != "<absent>"}
    assert sorted(set(RULES_BY_KEY) - keys) == []


def test_number_rule_describes_its_interval():
    assert Number(low=0, high=1, low_open=True, high_open=True).accepted() == "a number in (0, 1)"
    assert Number(integer=True, low=1, optional=True).accepted() == "null or an integer >= 1"
