"""Does data.group_by_length change what a run measures? Compares two sets of committed run records that
differ only in that setting, paired by task, scheme and seed.

    python benchmarks/group_by_length_check.py results/recipe_check results/group_check

For each (task, scheme): the dev headline of the best epoch (chosen on dev, as the study's tables) and of
the last epoch, per seed, their means and sample standard deviations, the paired difference, and the
training time (steps x median step time, as `rwkd report` counts it) with its ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def _records(folder: str) -> dict[tuple[str, str, int], dict]:
    out = {}
    for path in Path(folder).rglob("results.json"):
        record = json.loads(path.read_text())
        group = bool(record["config"]["data"].get("group_by_length", False))
        settings = {k: v for k, v in record["config"]["weighting"].items() if not k.startswith("_")}
        scheme = record["weighting"] + "".join(f" {k}={v}" for k, v in sorted(settings.items()))
        out[(record["task"], scheme, int(record["seed"]), group)] = record
    return out


def _train_seconds(record: dict) -> float:
    timing = record["timing"]
    return timing["median_step_seconds"] * timing["steps"]


def _fmt(values: list[float]) -> str:
    if len(values) < 2:
        return f"{100 * values[0]:.2f}" if values else "-"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="folders of results.json records (any depth)")
    args = parser.parse_args()
    records = {}
    for folder in args.folders:
        records.update(_records(folder))
    cells = defaultdict(dict)
    for (task, scheme, seed, group), record in records.items():
        cells[(task, scheme)].setdefault(group, {})[seed] = record
    print("| task | scheme | seeds | best: plain | best: grouped | paired diff | last: plain | last: grouped | "
          "train min plain | train min grouped | time ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (task, scheme), by_group in sorted(cells.items()):
        if set(by_group) != {False, True}:
            continue
        seeds = sorted(set(by_group[False]) & set(by_group[True]))
        if not seeds:
            continue
        plain = [by_group[False][s] for s in seeds]
        grouped = [by_group[True][s] for s in seeds]
        best_p = [r["best"]["metrics"]["val/headline"] for r in plain]
        best_g = [r["best"]["metrics"]["val/headline"] for r in grouped]
        last_p = [r["last"]["metrics"]["val/headline"] for r in plain]
        last_g = [r["last"]["metrics"]["val/headline"] for r in grouped]
        diff = [g - p for g, p in zip(best_g, best_p, strict=True)]
        t_p = statistics.mean(_train_seconds(r) for r in plain) / 60
        t_g = statistics.mean(_train_seconds(r) for r in grouped) / 60
        print(f"| {task} | {scheme} | {','.join(map(str, seeds))} | {_fmt(best_p)} | {_fmt(best_g)} | {_fmt(diff)} | "
              f"{_fmt(last_p)} | {_fmt(last_g)} | {t_p:.2f} | {t_g:.2f} | {t_g / t_p:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
