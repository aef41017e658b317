"""The recipe search's cost budget, applied where a student trial starts."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from rwkd.errors import NotApplicable


def check_budget(cfg: DictConfig, scheme: str) -> None:
    """A student trial whose cost (layers x epochs) is over `recipe_search.max_layer_epochs` is not run: the
    search keeps the student affordable (a study multiplies its cost by schemes x tasks x seeds), and
    a grid over layers and epochs would otherwise hold combinations no default may have."""
    limit = OmegaConf.select(cfg, "recipe_search.max_layer_epochs")
    layers = OmegaConf.select(cfg, "student.model.layers")
    if limit is None or layers is None:
        return
    cost = len(layers) * int(cfg.trainer.max_epochs)
    if cost > int(limit):
        raise NotApplicable(f"over the search's cost budget: {len(layers)} layers x {cfg.trainer.max_epochs} epochs "
                            f"= {cost} layer-epochs > recipe_search.max_layer_epochs={limit}",
                            task=cfg.task.name, scheme=scheme)
