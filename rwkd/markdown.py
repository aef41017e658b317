"""The one writer of Markdown tables and counted nouns, for every page rwkd generates (reports, the recipe page)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

BLANK = object()  # a cell written as `| |`; an empty string is written `|  |` (pages committed with both forms)


def row(cells: Sequence) -> str:
    """One table row: `| a | b |`."""
    return "|" + "".join(" |" if c is BLANK else f" {c} |" for c in cells)


def table_lines(header: Sequence[str], rows: Iterable[Sequence[str]] = ()) -> list[str]:
    """A table's lines: the header, the separator, then a row per item of `rows` (cells)."""
    return [row(header), "|" + "---|" * len(header), *(row(r) for r in rows)]


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    return "\n".join(table_lines(header, rows))


def count(n: int, noun: str) -> str:
    """`1 run`, `3 runs`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
