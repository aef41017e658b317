"""The GLUE leaderboard's submission files, as gluebenchmark.com takes them.

One `<Name>.tsv` per test file (CoLA.tsv, ..., MNLI-m.tsv, MNLI-mm.tsv, ..., AX.tsv): the header
`index<TAB>prediction`, then one row per test row, under the test file's own id, in file order. A class is written
as the task's files write it (0/1 for CoLA, SST-2, MRPC, QQP and WNLI; entailment/not_entailment for RTE and QNLI;
entailment/neutral/contradiction for MNLI and AX), an STS-B score as a number on GLUE's 0-5 scale. The site takes
the files as one zip with every file at its root.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from rwkd.atomic import write_text, write_with
from rwkd.tasks import TASKS, TaskSpec

AX = "AX"  # MNLI's diagnostic set: the leaderboard scores it with the MNLI model's answers
# every file of a full submission, in the site's order
LEADERBOARD_FILES = tuple(f"{name}.tsv" for task in TASKS.values() for name in task.submission_names) + (f"{AX}.tsv",)
STSB_RANGE = (0.0, 5.0)


def answer_strings(answers: torch.Tensor, task: TaskSpec) -> list[str]:
    """The leaderboard's spelling of each answer (class ids or regression values, as rwkd.run.evaluate.predict gives)."""
    if task.is_regression:
        # GLUE's similarity scale is 0-5; a regression head is not bounded, and clipping can only bring it closer
        return [f"{value:.3f}" for value in answers.clamp(*STSB_RANGE).tolist()]
    assert task.labels is not None
    return [task.labels[i] for i in answers.tolist()]


def write_predictions(path: Path, ids: list[str], answers: list[str]) -> Path:
    """One submission file, written whole or not at all."""
    rows = "".join(f"{i}\t{a}\n" for i, a in zip(ids, answers, strict=True))
    return write_text(path, "index\tprediction\n" + rows)


def write_zip(files: list[Path], zip_path: Path) -> Path:
    """The files at the zip's root (the site reads no folders), written whole or not at all."""

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, arcname=file.name)

    return write_with(zip_path, fill)


def missing_files(written: list[Path]) -> list[str]:
    """The files a full submission has and `written` lacks."""
    names = {p.name for p in written}
    return [name for name in LEADERBOARD_FILES if name not in names]
