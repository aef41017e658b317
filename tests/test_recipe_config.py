"""The per-task default recipe: composed for the default teacher and student only, one override away from
the earlier default, and exactly what `rwkd recipe` chooses from the committed search records."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rwkd.cli import CONF_DIR
from rwkd.recipe.page import recipe_config
from rwkd.recipe.search import load_trials, summary
from rwkd.run.run_folders import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
RECIPES = Path(CONF_DIR) / "recipe"


def _compose(*overrides: str):
    register_resolvers()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_recipe_v1_restores_the_earlier_default_on_any_task():
    for task in ("mrpc", "stsb", "rte"):
        cfg = _compose(f"task={task}", "recipe=v1")
        assert list(cfg.student.model.layers) == [0, 1] and cfg.student.init == "pretrained"
        assert (cfg.optim.lr, cfg.trainer.max_epochs, cfg.data.batch_size) == (1e-4, 3, 32)
        assert (cfg.teacher.finetune.grad_clip, cfg.teacher.finetune.select_on) == (0, "dev")


def test_a_recipe_applies_only_to_the_teacher_and_student_it_was_searched_for():
    for path in RECIPES.glob("*_minilm_minilm.yaml"):
        task = path.name.split("_", 1)[0]
        searched = OmegaConf.load(path)
        for key in ("optim.lr", "trainer.max_epochs", "teacher.finetune.lr", "student.model.layers"):
            value = OmegaConf.select(searched, key)
            if value is not None:
                assert OmegaConf.select(_compose(f"task={task}"), key) == value, (path.name, key)
        tiny = _compose(f"task={task}", "teacher=tiny", "student=tiny")
        assert tiny.hydra.runtime.choices.get("recipe") is None or not (RECIPES / f"{task}_tiny_tiny.yaml").is_file()
        assert OmegaConf.select(tiny, "student.model.layers") is None  # nothing of the searched recipe leaked in


# each committed search, the teacher config it searched, and where its chosen teachers' outputs are committed
SEARCHES = [(ROOT / "results" / "recipe_search", "minilm", None),
            (ROOT / "results" / "recipe_search_mpnet", "mpnet", str(ROOT / "results" / "teacher_outputs"))]


def test_the_recipe_files_are_what_the_committed_search_chooses():
    generated = {p.name for p in RECIPES.glob("*.yaml")} - {"v1.yaml"}
    for records, teacher, outputs in SEARCHES:
        assert records.is_dir(), f"{records}: the committed search the recipe files are checked against"
        trials, _, _ = load_trials([str(records)])
        for task, chosen in summary(trials).items():
            path = RECIPES / f"{task}_{teacher}_minilm.yaml"
            assert path.is_file(), f"no default recipe for {task} though the search chose one"
            expected = OmegaConf.to_container(OmegaConf.create(recipe_config(task, chosen, "x", outputs)))
            written = OmegaConf.to_container(OmegaConf.load(path))
            if outputs:  # the committed file names the outputs relative to the checkout
                assert (ROOT / written["teacher"]["outputs"]).resolve() == Path(expected["teacher"]["outputs"])
                written["teacher"]["outputs"] = expected["teacher"]["outputs"]
            assert written == expected, path.name
            generated.discard(path.name)
    assert generated == set(), f"recipe files with no search records behind them: {sorted(generated)}"


def test_the_mpnet_teachers_committed_outputs_are_those_the_recipes_name():
    """conf/teacher/mpnet.yaml's committed_outputs (what experiments with another student distil) and the generated
    recipes must name the same folders, and each folder must be in the checkout."""
    committed = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "teacher" / "mpnet.yaml").committed_outputs)
    named = {p.name.split("_", 1)[0]: OmegaConf.load(p).teacher.outputs for p in RECIPES.glob("*_mpnet_minilm.yaml")}
    assert committed == named
    assert all((ROOT / folder).is_dir() for folder in committed.values())
