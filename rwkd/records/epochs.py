"""Which epoch of each run's record a report reads (`rwkd report --select-on`).

A record's `best` entry is the epoch its run kept. Runs made before the student's epoch was chosen on the held-out
meta split kept the best dev epoch (their `best` has no `selected_on`), and reporting dev at the epoch dev chose
lifts every score. So the report chooses the epoch itself, from the record's per-epoch `history`: by default the
best meta-split headline; `dev`, `last` and `record` (the record's own `best`) show what the other choices give.
"""

from __future__ import annotations

import math

from rwkd.errors import RwkdError

SELECT_ON = ("meta", "dev", "last", "record")
DEFAULT = "meta"
CHOSEN = "_select_on"  # the key of a record read at a chosen epoch (at_chosen_epoch): the mode that chose it
_METRIC = {"meta": "meta/headline", "dev": "val/headline"}

CAPTIONS = {
    "meta": "epoch chosen on the meta split (held-out train rows); dev only scores",
    "dev": "epoch chosen on dev (the best dev headline): dev both chooses and scores, which lifts the scores",
    "last": "last epoch of each run; dev only scores",
    "record": "epoch each run's record kept as its best (records without best.selected_on chose it on dev)",
}


def caption(select_on: str) -> str:
    """What chose the epoch, for a table's caption."""
    return CAPTIONS[select_on]


def check(select_on: str) -> str:
    if select_on not in SELECT_ON:
        raise RwkdError(f"--select-on {select_on!r} is unknown; accepted: {', '.join(SELECT_ON)}")
    return select_on


def chosen_entry(record: dict, select_on: str) -> dict:
    """The record's entry {epoch, step, metrics, selected_on} at the epoch `select_on` picks. `meta` and `dev`
    take the epoch with the highest headline on that split; on a tie the earliest such epoch, as a run that
    keeps a new best only when it is strictly better does."""
    check(select_on)
    if select_on == "record":
        return record["best"]
    history = record.get("history") or []
    if select_on == "last":
        rows = history[-1:]
    else:
        rows = [h for h in history if _METRIC[select_on] in h]
        # a NaN epoch (a constant prediction's Pearson) is never the best; where every one is, the first
        if scored := [h for h in rows if not math.isnan(h[_METRIC[select_on]])]:
            best = max(h[_METRIC[select_on]] for h in scored)
            rows = [next(h for h in scored if h[_METRIC[select_on]] == best)]
        rows = rows[:1]
    if not rows:
        where = record.get("_path", f"{record.get('task')}/{record.get('weighting')}/seed{record.get('seed')}")
        split = {"meta": "meta-split scores", "dev": "dev scores", "last": "epochs"}[select_on]
        raise RwkdError(f"{where}: its history has no {split} to choose an epoch on (--select-on {select_on}); "
                        "--select-on record reports the epoch the record kept")
    row = rows[0]
    return {"epoch": row.get("epoch"), "step": row.get("step"), "metrics": row, "selected_on": select_on}


def at_chosen_epoch(results: list[dict], select_on: str) -> list[dict]:
    """Copies of the records whose `best` is the entry at the chosen epoch, marked with the mode (CHOSEN):
    everything the report reads at "the best epoch" then reads the chosen one. The records stay untouched."""
    return [{**r, "best": chosen_entry(r, select_on), CHOSEN: select_on} for r in results]


def select_on_of(results: list[dict]) -> str | None:
    """The mode the records were read at (at_chosen_epoch), None for records read as they are."""
    modes = {r.get(CHOSEN) for r in results}
    return modes.pop() if len(modes) == 1 else None
