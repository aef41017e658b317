"""Which epoch of a fine-tuning is kept, reported and exported: the teacher's (`teacher.finetune.select_on`) and
the student's (`checkpoint.select_on`) follow one rule. By default the best epoch on the held-out meta split,
rows of train that no model trains on: dev is what results are reported on, and choosing on it leaks."""

from __future__ import annotations

from rwkd.errors import RwkdError

SELECTIONS = {"meta": "meta/headline", "dev": "val/headline", "last": None}


def selection_metric(key: str, choice: str, has_meta_split: bool) -> str | None:
    """The metric whose best epoch is kept (None: the last epoch). `meta` with no meta split (data.meta_size=0)
    keeps the last epoch: there is nothing held out to choose on, and dev must not stand in for it."""
    if choice not in SELECTIONS:
        raise RwkdError(f"{key}={choice!r} is unknown; accepted: {', '.join(SELECTIONS)}")
    if choice == "meta" and not has_meta_split:
        return None
    return SELECTIONS[choice]


def describe(metric: str | None) -> str:
    """How a record names the choice: "meta/headline", "val/headline" or "last epoch"."""
    return metric or "last epoch"
