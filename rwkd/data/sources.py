"""Where GLUE comes from: a local folder in the GLUE layout, or the hub dataset nyu-mll/glue."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from rwkd.checkout import checkout_root
from rwkd.data.glue_tsv import Example, read_split, read_unlabelled, split_path
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

    def read_test(self, split: str) -> list[Example]:
        """An unlabelled test split (rwkd predict): from a local folder only; the hub's test rows are not read."""
        if self.dir is None:
            raise RwkdError(f"test predictions are read from a local GLUE folder, and none is set; accepted: "
                            f"data.dir=DIR or RWKD_GLUE_DIR=DIR holding {self.task.folder}/{split}.tsv")
        path = split_path(Path(self.dir), self.task, split)
        if not path.is_file():
            raise RwkdError(f"missing test file {path}; expected the GLUE layout "
                            f"{Path(self.dir) / self.task.folder}/{{{','.join(self.task.test_splits)}}}.tsv")
        return read_unlabelled(path, self.task)

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


# Where GLUE downloads put MNLI's diagnostic set (the leaderboard's AX): the download script's diagnostic/, or a
# task-style AX/ folder (the leaderboard's name), or beside MNLI's files.
DIAGNOSTIC_PLACES = ("diagnostic/diagnostic.tsv", "AX/test.tsv", "AX/diagnostic.tsv", "MNLI/diagnostic.tsv",
                     "diagnostic.tsv", "AX.tsv")


def find_diagnostic(root: str | None) -> Path | None:
    """MNLI's diagnostic set in a GLUE folder, where it is in one of DIAGNOSTIC_PLACES."""
    if root is None:
        return None
    return next((Path(root) / p for p in DIAGNOSTIC_PLACES if (Path(root) / p).is_file()), None)


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
