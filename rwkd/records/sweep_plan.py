"""What a sweep set out to run, read back from the multirun.yaml Hydra writes into its folder, so that a
results page made mid-sweep can say how far the sweep has got."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from rwkd.records.format import NOT_APPLICABLE, PLAN_FILE, RESULTS

# how a swept key reads in the progress line (`+scheme` is the weighting group's name in older sweeps)
DIMENSION_NAMES = {"weighting": "scheme", "scheme": "scheme"}


@dataclass
class SweepPlan:
    params: dict[str, list[str]]  # swept key -> its values, in sweep order
    recorded: int  # job folders holding results.json or not_applicable.json

    @property
    def jobs(self) -> int:
        return math.prod(len(v) for v in self.params.values())

    @property
    def tasks(self) -> list[str]:
        return self.params.get("task", [])

    def describe(self, tasks_with_records: set[str]) -> str:
        shape = " x ".join(_dimension(k.lstrip("+~"), len(v)) for k, v in self.params.items())
        waiting = [t for t in self.tasks if t not in tasks_with_records]
        rest = f"; tasks with no record yet: {', '.join(waiting)}" if waiting else ""
        return (f"Sweep progress: {self.recorded} of the {self.jobs} jobs it plans ({shape}, from its "
                f"{PLAN_FILE}) have a record, results or not applicable{rest}.")


def _dimension(key: str, n: int) -> str:
    key = DIMENSION_NAMES.get(key, key)
    return f"{n} {key}{'' if n == 1 else 's'}" if key.isalpha() else f"{n} values of {key}"


def _simple_values(value) -> list[str] | None:
    """`a,b,c` as a list; None for Hydra's range()/choice()/glob() sweeps, which this does not expand."""
    text = str(value)
    if "(" in text:
        return None
    return [v.strip() for v in text.split(",")]


def read_plan(folder: str | Path) -> SweepPlan | None:
    """The sweep whose multirun.yaml sits in `folder`, or None where there is none or it cannot be
    expanded here. Sweeps given on the command line (hydra.overrides.task) take precedence over the
    config's hydra.sweeper.params, as they do in Hydra."""
    folder = Path(folder)
    path = folder / PLAN_FILE
    if not path.is_file():
        return None
    cfg = OmegaConf.load(path)
    swept: dict[str, str] = {}
    for key, value in (OmegaConf.select(cfg, "hydra.sweeper.params") or {}).items():
        swept[str(key)] = value
    for override in OmegaConf.select(cfg, "hydra.overrides.task") or []:
        key, _, value = str(override).partition("=")
        if key in swept or "," in value or "(" in value:  # a single value there narrows the sweep to it
            swept[key] = value
    params = {}
    for key, value in swept.items():
        values = _simple_values(value)
        if values is None:
            return None
        params[key] = values
    if not params:
        return None
    recorded = {p.parent for name in (RESULTS, NOT_APPLICABLE) for p in folder.rglob(name)}
    return SweepPlan(params, len(recorded))
