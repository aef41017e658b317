"""Where GLUE comes from: a local folder in the GLUE layout, or the hub dataset nyu-mll/glue."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from rwkd.checkout import checkout_root
from rwkd.data.glue_tsv import Example, read_split, split_path
from rwkd.errors import RwkdError
from rwkd.tasks import TaskSpec

HUB_DATASET = "nyu-mll/glue"


def default_glue_dir() -> str | None:
    """RWKD_GLUE_DIR when set; else, run from a checkout, a `shared/glue` folder beside it or beside the working
    folder (this project's offline copy); else None: the hub. An installed package looks nowhere else: what
    lies beside site-packages or the working folder is no dataset it was given."""
    env = os.environ.get("RWKD_GLUE_DIR")
    if env:
        return env
    root = checkout_root()
    if root is None:
        return None
    for candidate in (root.parent / "shared" / "glue", Path.cwd().parent / "shared" / "glue"):
        if candidate.is_dir():
            return str(candidate)
    return None


@dataclass
class GlueSource:
    """Reads the train split and the dev splits of one task, and says which data it read."""

    task: TaskSpec
    dir: str | None  # None: the hub

    def read(self, split: str) -> list[Example]:
        if self.dir is not None:
            return read_split(Path(self.dir), self.task, split)
        return _read_hub(self.task, split)

    def fingerprint(self, split: str) -> str:
        """Identity of a split's content, for cache keys: the file's hash, or the hub's name."""
        if self.dir is None:
            return f"hub:{HUB_DATASET}/{self.task.hub_config}/{split}"
        path = split_path(Path(self.dir), self.task, split)
        if not path.is_file():
            return f"missing:{path}"
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    def describe(self) -> str:
        return f"hub {HUB_DATASET}/{self.task.hub_config}" if self.dir is None else str(Path(self.dir).resolve())


def _read_hub(task: TaskSpec, split: str) -> list[Example]:
    """The same examples from the hub (needs a network; the hub's labels are already ids)."""
    import datasets

    hub_split = "train" if split == "train" else task.hub_dev_splits[task.dev_splits.index(split)]
    try:
        ds = datasets.load_dataset(HUB_DATASET, task.hub_config, split=hub_split)
    except Exception as exc:  # network, auth and cache failures all end here
        raise RwkdError(
            f"could not load {HUB_DATASET}/{task.hub_config} [{hub_split}] from the hub ({type(exc).__name__}); "
            "set data.dir or RWKD_GLUE_DIR to a local GLUE folder"
        ) from exc
    cols = task.hub_text_columns
    out = []
    for i, row in enumerate(ds):
        label = float(row["label"]) if task.is_regression else int(row["label"])
        out.append(Example(i, row[cols[0]], row[cols[1]] if len(cols) > 1 else None, label))
    return out
