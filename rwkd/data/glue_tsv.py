"""Reads GLUE TSV files exactly as the GLUE download script lays them out.

Faithful parsing means: tab-separated, no quote processing (several files carry unbalanced quotes),
a UTF-8 BOM allowed at the start (MRPC), CoLA without a header, and every row checked for its column
count, so a damaged file fails with its path and line instead of silently shifting columns.

Test files are laid out differently: no label column, their own id column first (QQP's is `id`), other
columns dropped (SST-2: `index sentence`) and always a header (CoLA's too, whose train/dev have none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rwkd.errors import RwkdError
from rwkd.tasks import Column, TaskSpec


@dataclass(frozen=True)
class Example:
    idx: int  # row number within its split file: the sample's identity for caches and weight logs
    text_a: str
    text_b: str | None
    label: float | int | None  # None: a test row (GLUE withholds test labels)
    file_id: str | None = None  # a test row's own id column: what the leaderboard matches predictions by


def split_path(root: Path, task: TaskSpec, split: str) -> Path:
    return Path(root) / task.folder / f"{split}.tsv"


def expected_layout(root: Path, task: TaskSpec) -> str:
    stems = ",".join(("train",) + task.dev_splits)
    return f"{Path(root) / task.folder}/{{{stems}}}.tsv"


def _column_index(col: Column, header: list[str] | None, path: Path) -> int:
    if col.name is None:
        return col.position  # type: ignore[return-value]
    assert header is not None
    if col.name not in header:
        raise RwkdError(f"{path}:1: header has no column {col.name!r}; found {header}")
    return header.index(col.name)


def _parse_label(raw: str, task: TaskSpec, path: Path, line: int) -> float | int:
    if task.is_regression:
        try:
            value = float(raw)
        except ValueError:
            raise RwkdError(f"{path}:{line}: label {raw!r} is not a number; {task.name} scores are 0-5") from None
        if not 0.0 <= value <= 5.0:
            raise RwkdError(f"{path}:{line}: label {raw!r} out of range; {task.name} scores lie in [0, 5]")
        return value
    assert task.labels is not None
    try:
        return task.labels.index(raw)
    except ValueError:
        raise RwkdError(
            f"{path}:{line}: label {raw!r} out of range; {task.name} accepts {', '.join(task.labels)}"
        ) from None


def _lines(path: Path, has_header: bool) -> list[str]:
    """The file's lines, without the final newline. Fails in one line if the file is empty."""
    # newline="" keeps a \r inside a field from being read as a line break; utf-8-sig drops MRPC's BOM.
    with open(path, encoding="utf-8-sig", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline; CoLA/dev.tsv has none, which is fine too
    if not lines:
        raise RwkdError(f"{path} is empty; expected {'a header and ' if has_header else ''}tab-separated rows")
    return lines


def _fields(line: str, n_columns: int, path: Path, line_no: int) -> list[str]:
    fields = line.split("\t")
    if len(fields) != n_columns:
        raise RwkdError(f"{path}:{line_no}: malformed row: expected {n_columns} tab-separated columns, found {len(fields)}")
    return fields


def read_split(root: Path, task: TaskSpec, split: str) -> list[Example]:
    """All labelled rows of one split file, in file order."""
    path = split_path(root, task, split)
    if not Path(root).is_dir():
        raise RwkdError(f"GLUE data folder {root} does not exist; expected the GLUE layout {expected_layout(root, task)}")
    if not path.is_file():
        raise RwkdError(f"missing split file {path}; expected the GLUE layout {expected_layout(root, task)}")
    lines = _lines(path, task.has_header)

    header = None
    first_row = 0
    n_columns = task.n_columns
    if task.has_header:
        header = lines[0].split("\t")
        n_columns = len(header)
        first_row = 1
    cols = [_column_index(c, header, path) for c in (task.text_a, task.text_b, task.label) if c is not None]
    label_col = cols[-1]

    examples = []
    for i in range(first_row, len(lines)):
        fields = _fields(lines[i], n_columns, path, i + 1)
        text_a = fields[cols[0]]
        text_b = fields[cols[1]] if task.text_b is not None else None
        label = _parse_label(fields[label_col].strip(), task, path, i + 1)
        examples.append(Example(idx=len(examples), text_a=text_a, text_b=text_b, label=label))
    if not examples:
        raise RwkdError(f"{path} has a header but no rows")
    return examples


def read_unlabelled(path: Path, task: TaskSpec) -> list[Example]:
    """All rows of a test file of `task` (or of a file laid out like one: MNLI's diagnostic set), in file
    order, with their own ids and no labels."""
    lines = _lines(path, has_header=True)
    header = lines[0].split("\t")
    text = task.test_text_columns or tuple(c.name for c in (task.text_a, task.text_b) if c is not None)
    id_col, *text_cols = (_column_index(Column(name), header, path) for name in (task.test_id, *text))
    examples = []
    for i in range(1, len(lines)):
        fields = _fields(lines[i], len(header), path, i + 1)
        text_b = fields[text_cols[1]] if len(text_cols) > 1 else None
        examples.append(Example(len(examples), fields[text_cols[0]], text_b, None, file_id=fields[id_col]))
    if not examples:
        raise RwkdError(f"{path} has a header but no rows")
    return examples
