"""The wheel works anywhere: built from this checkout, installed without its dependencies into a folder of its
own, and run from an unrelated folder by this environment's python with the installed copy ahead of the
editable one. Its configs ship inside it, its outputs land in the working folder, a user's config folder joins
its groups, and it reads GLUE only from where it is told."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import TINY

pytestmark = [pytest.mark.slow, pytest.mark.wheel]

ROOT = Path(__file__).resolve().parents[1]


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-3000:]}"
    return proc


def _run(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wheel")


@pytest.fixture(scope="module")
def wheel(base) -> Path:
    """Built from a copy of the checkout's top-level files, package and configs: setuptools keeps build/ beside
    the sources, and an earlier build's files there (a config since deleted) would ship again."""
    src = base / "src"
    src.mkdir()
    for item in ROOT.iterdir():
        if item.is_file():
            shutil.copy2(item, src / item.name)
    for folder in ("rwkd", "conf"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-index", "--no-deps", "--no-build-isolation",
              "-w", str(base / "dist"), "."], cwd=src, timeout=180))
    built, = (base / "dist").glob("rwkd-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel, base) -> Path:
    site = base / "site"
    _ok(_run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--target", str(site), str(wheel)],
             cwd=base, timeout=180))
    return site


@pytest.fixture(scope="module")
def work(base) -> Path:
    """The unrelated working folder, with a decoy ../shared/glue beside it and beside site-packages."""
    (base / "shared" / "glue").mkdir(parents=True)
    (base / "work").mkdir()
    return base / "work"


def _installed(site: Path, work: Path, args: list[str], glue: Path | None = None) -> subprocess.CompletedProcess:
    """The installed console script, run by this environment's python with the installed copy first on its path."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("RWKD_GLUE_DIR", None)
    if glue is not None:
        env["RWKD_GLUE_DIR"] = str(glue)
    return _run([sys.executable, str(site / "bin" / "rwkd"), *args], cwd=work, env=env)


def test_the_wheel_holds_every_config_and_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"rwkd/conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")}
    assert len(configs) > 50 and {n for n in names if n.endswith(".yaml")} == configs
    assert {"rwkd/conf/train.yaml", "rwkd/conf/eval.yaml", "rwkd/conf/hydra/launcher/slurm.yaml"} <= names
    assert {f"rwkd/{p.relative_to(ROOT / 'rwkd').as_posix()}" for p in (ROOT / "rwkd").rglob("*.py")} <= names


def test_the_installed_copy_runs_and_never_falls_back_to_shared_glue(site, work):
    probe = ("import json, rwkd; from rwkd.checkout import checkout_root, conf_dir; "
             "from rwkd.data.sources import default_glue_dir; print(json.dumps({'file': rwkd.__file__, "
             "'checkout': str(checkout_root()), 'conf': str(conf_dir()), 'glue': default_glue_dir()}))")
    env = {k: v for k, v in os.environ.items() if k != "RWKD_GLUE_DIR"}
    found = json.loads(_ok(_run([sys.executable, "-c", probe], cwd=work, env={**env, "PYTHONPATH": str(site)})).stdout)
    assert Path(found["file"]).is_relative_to(site) and found["checkout"] == "None"
    assert Path(found["conf"]) == site / "rwkd" / "conf"
    # ../shared/glue lies beside both the working folder and site-packages: an installed package ignores it
    assert (work.parent / "shared" / "glue").is_dir() and (site.parent / "shared" / "glue").is_dir()
    assert found["glue"] is None


@pytest.fixture(scope="module")
def installed_run(site, work, glue_dir) -> Path:
    _ok(_installed(site, work, ["train", "task=rte", *TINY, "trainer.max_epochs=1"], glue=glue_dir))
    run, = (work / "outputs" / "runs" / "rte" / "fixed").glob("seed1_*")
    return run


def test_train_then_eval_and_report_from_an_unrelated_folder(installed_run, site, work, glue_dir):
    results = json.loads((installed_run / "results.json").read_text())
    assert results["git_commit"] == "unknown"  # no checkout: not the commit of whatever repository holds the venv
    assert results["teacher"]["path"].startswith(str(work / "outputs" / "teachers"))
    assert not any(site.rglob("outputs"))

    ckpt = installed_run.relative_to(work) / "checkpoints" / "best.ckpt"
    proc = _ok(_installed(site, work, ["eval", f"ckpt={ckpt}"], glue=glue_dir))
    headline = float(re.search(r"val/headline\s+([0-9.]+)", proc.stdout).group(1))
    assert headline == pytest.approx(results["best"]["metrics"]["val/headline"], abs=5e-5)
    written = json.loads((installed_run / "checkpoints" / "best_eval_rte.json").read_text())
    assert written["metrics"]["val/headline"] == pytest.approx(headline, abs=5e-5)

    _ok(_installed(site, work, ["report", "outputs/runs", "--out", "report", "--no-plots"]))
    assert "| rte |" in (work / "report" / "report.md").read_text()


USER_CONFIGS = {
    "task/rte_again.yaml": "name: rte\n",
    "teacher/tiny_wide.yaml": "defaults:\n  - tiny\n  - _self_\nname: tiny-wide\nmodel:\n  config_overrides: {hidden_size: 64}\n",
    "experiment/mine.yaml": ("# @package _global_\ndefaults:\n  - override /task: rte_again\n"
                             "  - override /teacher: tiny_wide\n  - override /student: tiny\ndata:\n  max_len: 48\n"),
}


def test_a_users_config_folder_joins_the_packages_groups(site, work):
    mine = work.parent / "my_conf"
    for name, text in USER_CONFIGS.items():
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_text(text)
    composed = _ok(_installed(site, work, ["train", "--config-dir", str(mine), "experiment=mine", "--cfg", "job"])).stdout
    assert "task:\n  name: rte" in composed and "name: tiny-wide" in composed and "hidden_size: 64" in composed
    # after the task's: an experiment's data settings hold. hydra.searchpath=[file://DIR], the other spelling, and a
    # user's option without its folder: tests/test_checkout.py, in-process (each process here costs ~8 s of imports)
    assert "max_len: 48" in composed
