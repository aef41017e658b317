"""A checkout or an installed package (rwkd/checkout.py), and what follows from which: the configs read, the GLUE
fallback, the folders no command may write, and a user's config folders joining the built-in groups. In this
process rwkd runs from the checkout; an installed package is stood in for by patching checkout_root (the real
one is built and run in tests/test_wheel.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rwkd import checkout, cli
from rwkd.config.preflight import check_command_line
from rwkd.data import sources
from rwkd.errors import RwkdError
from rwkd.recipe import page

ROOT = Path(__file__).resolve().parents[1]


def test_this_checkout_is_one_and_its_conf_is_the_one_hydra_reads():
    assert checkout.checkout_root() == ROOT and checkout.runs_from_checkout()
    assert checkout.conf_dir() == ROOT / "conf" and Path(cli.CONF_DIR) == ROOT / "conf"


def test_a_pyproject_of_another_project_beside_the_package_is_no_checkout(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "train.yaml").write_text("{}\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    monkeypatch.setattr(checkout, "PACKAGE", tmp_path / "rwkd")
    checkout.checkout_root.cache_clear()
    try:
        assert checkout.checkout_root() is None and checkout.conf_dir() == tmp_path / "rwkd" / "conf"
    finally:
        monkeypatch.undo()
        checkout.checkout_root.cache_clear()


@pytest.fixture
def beside_a_shared_glue(tmp_path, monkeypatch) -> Path:
    """A working folder with ../shared/glue beside it, and no RWKD_GLUE_DIR."""
    (tmp_path / "shared" / "glue").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.delenv("RWKD_GLUE_DIR", raising=False)
    return tmp_path / "shared" / "glue"


def test_a_checkout_falls_back_to_shared_glue_beside_the_working_folder(beside_a_shared_glue, monkeypatch):
    monkeypatch.setattr(sources, "checkout_root", lambda: beside_a_shared_glue.parent / "elsewhere")
    assert sources.default_glue_dir() == str(beside_a_shared_glue)


def test_an_installed_package_reads_glue_from_rwkd_glue_dir_or_the_hub_only(beside_a_shared_glue, monkeypatch):
    monkeypatch.setattr(sources, "checkout_root", lambda: None)
    assert sources.default_glue_dir() is None  # the hub
    monkeypatch.setenv("RWKD_GLUE_DIR", "/data/glue")
    assert sources.default_glue_dir() == "/data/glue"


def test_recipe_refuses_to_write_into_an_installed_packages_configs(tmp_path, monkeypatch):
    monkeypatch.setattr(checkout, "checkout_root", lambda: None)
    with pytest.raises(RwkdError, match="inside the installed rwkd package"):
        page.main([str(tmp_path), "--doc", str(tmp_path / "recipe.md"), "--write-conf",
                   str(checkout.PACKAGE / "conf" / "recipe")])
    assert not (tmp_path / "recipe.md").exists()


@pytest.fixture
def user_conf(tmp_path) -> Path:
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "rte_again.yaml").write_text("name: rte\n")
    return tmp_path


@pytest.mark.parametrize("flags", [["--config-dir", "{d}"], ["--config-dir={d}"], ["-cd", "{d}"],
                                   ["hydra.searchpath=[file://{d}]"], ["+hydra.searchpath=['file://{d}']"]])
def test_a_users_config_folder_adds_options_to_the_groups(user_conf, flags):
    flags = [f.format(d=user_conf) for f in flags]
    assert cli.user_config_dirs(flags) == [user_conf]
    cli.check_group_choices([*flags, "task=rte_again"])
    with pytest.raises(RwkdError, match=r"unknown task 'nope'; accepted: .*rte, rte_again, sst2"):
        cli.check_group_choices([*flags, "task=nope"])


def test_without_the_folder_its_options_are_unknown_and_a_package_source_is_left_to_hydra(user_conf):
    with pytest.raises(RwkdError, match="unknown task 'rte_again'"):
        cli.check_group_choices(["task=rte_again"])
    assert cli.user_config_dirs(["hydra.searchpath=[pkg://someone.conf]"]) is None
    cli.check_group_choices(["hydra.searchpath=[pkg://someone.conf]", "task=rte_again"])


def test_a_sweep_over_a_users_task_is_checked_before_it_starts(user_conf):
    check_command_line([f"hydra.searchpath=[file://{user_conf}]", "task=rte_again,mrpc", "weighting=none"], cli.CONF_DIR)
    with pytest.raises(RwkdError, match="optim.nope is not a setting"):
        check_command_line([f"hydra.searchpath=[file://{user_conf}]", "task=rte_again", "optim.nope=1"], cli.CONF_DIR)
