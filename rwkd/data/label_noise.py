"""Noisy training labels (`data.label_noise=p`): a condition where weighting each sample must matter.

A seeded fraction of the training rows gets a wrong label: a classification row another class, drawn uniformly
among the others (binary: flipped); a regression row the score of another training row, drawn uniformly (a random
train score, which may happen to equal its own). Only the training part is touched, after the meta split is
carved: the meta split and dev stay clean, as meta-weight-net's clean meta set. Teacher outputs do not change
(the teacher reads the text, and is fine-tuned on clean labels).

The rows depend only on (p, the noise seed, the task, the training rows): not on the weighting scheme, the rank,
or any other random stream, so every scheme of a seed, every process of a DDP run and a resumed run corrupt the
same rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rwkd.atomic import write_text
from rwkd.data.glue_tsv import Example
from rwkd.tasks import TaskSpec

CHANGES_FILE = "label_noise.json"  # beside results.json: every changed row, its label before and after


@dataclass(frozen=True)
class LabelNoise:
    """Which training rows got which wrong label. `rows`: their ids (Example.idx, the id the sample-weight logs
    use), ascending; `original` and `new`: their labels before and after, in the same order."""

    p: float
    seed: int
    rows: tuple[int, ...]
    original: tuple
    new: tuple

    def digest(self) -> str:
        """Identity of the changed set (rows and both labels): equal digests, equal corruption."""
        text = json.dumps([self.rows, self.original, self.new])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def record(self) -> dict:
        """What results.json says of the condition; the rows themselves are in CHANGES_FILE."""
        return {"p": self.p, "seed": self.seed, "changed": len(self.rows), "digest": self.digest(),
                "rows": CHANGES_FILE}

    def changes(self) -> dict:
        return {"p": self.p, "seed": self.seed, "digest": self.digest(), "rows": list(self.rows),
                "original": list(self.original), "new": list(self.new)}

    def write(self, folder: Path) -> Path:
        """CHANGES_FILE in `folder`, one line: thousands of rows (SST-2's 2160 at 0.3) stay a small file."""
        return write_text(Path(folder) / CHANGES_FILE, json.dumps(self.changes()) + "\n")


def _task_stream(task: TaskSpec) -> int:
    """A per-task number that is the same in every process (str hashes are salted per process; crc32 is not)."""
    return zlib.crc32(task.name.encode())


def corrupt_labels(train: list[Example], task: TaskSpec, p: float, seed: int) -> tuple[list[Example], LabelNoise]:
    """`train` with round(p * len(train)) labels replaced, and the record of which."""
    rng = np.random.default_rng([seed % 2**64, _task_stream(task)])  # its own stream: no global RNG is read or moved
    n = len(train)
    count = round(p * n) if n > 1 or not task.is_regression else 0  # one row has no other row's score to take
    chosen = np.sort(rng.permutation(n)[:count]).tolist()
    labels = [e.label for e in train]
    new_labels = {}
    for position in chosen:
        if task.is_regression:
            other = int(rng.integers(n - 1))
            other += other >= position  # any row but this one
            new_labels[position] = labels[other]  # the original score of that row, whatever was done to it
        else:
            new_labels[position] = (labels[position] + int(rng.integers(1, task.num_labels))) % task.num_labels
    noisy = [dataclasses.replace(e, label=new_labels[i]) if i in new_labels else e for i, e in enumerate(train)]
    record = LabelNoise(p, seed, tuple(train[i].idx for i in chosen), tuple(labels[i] for i in chosen),
                        tuple(new_labels[i] for i in chosen))
    return noisy, record
