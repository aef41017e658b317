"""How many seeds a study runs, by the rule it wrote down before any primary comparison had a spread (README,
"How many seeds"; the comment on `study.primary` in conf/experiment/study_glue_v3.yaml), applied by a command so
that the count is the rule's and not a reader's:

- wanted: the most, over the pre-registered primary comparisons, of the seeds that find a one-point difference
  with 80% power after Holm over them (rwkd/report/primary.py, the page's primary power table), read only once
  every primary has its planned seeds;
- capped: by the CPU-hours the budget leaves after everything the study's records and the other records given have
  spent (runs, and the teachers and sources fine-tuned apart, each build once), at what one more seed of the
  primaries' rows costs in measured runs (rwkd/study/cost_estimate.py).

The rule is read at the planned seeds, so the command reads those alone: seeds already added do not move the
spread it was read from, and their runs are not counted as spent before the count that pays for them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from rwkd.errors import RwkdError
from rwkd.report.power import LEVEL, TARGET
from rwkd.study.cost_estimate import cell_costs, models_fine_tuned_apart


class Need(NamedTuple):
    seeds: int  # the seeds the comparison's spread is measured on
    sd: float
    needed: int | None  # seeds for TARGET points after Holm; None: more than the power module counts


class Decision(NamedTuple):
    wanted: float  # seeds the rule asks for (at least the planned ones); inf where a primary needs more than 1000
    affordable: int  # seeds the budget allows
    seeds: int  # the smaller: the study's seed count

    @property
    def capped(self) -> bool:
        return self.affordable < self.wanted


def primary_needs(results: list[dict], primaries: list[dict], planned: int) -> dict[str, Need]:
    """{primary label: Need} at the first Holm rejection among the primaries (p < LEVEL / their count). Refused
    while a primary lacks its planned seeds on the mean over tasks: the rule is read once, at that point."""
    from rwkd.report.paired import EQUAL
    from rwkd.report.primary import label, primary_cells, seeds_needed

    cells = primary_cells(results, primaries)
    short = [f"{label(p)} ({cells[label(p)].n if label(p) in cells else 'not on every task'})" for p in primaries
             if label(p) not in cells or cells[label(p)].n < planned]
    if short:
        raise RwkdError(f"the seed count is read once every primary comparison has {planned} seeds with every task; "
                        f"short (seeds so far): {', '.join(short)}")
    strict = LEVEL / len(primaries)
    needs = {}
    for p in primaries:
        c = cells[label(p)]
        # differences that do not vary find any difference at the planned seeds (the t-test leaves them untested)
        needed = planned if math.isnan(c.sd) or c.sd < EQUAL else seeds_needed(c.sd, strict)
        needs[label(p)] = Need(c.n, c.sd, needed)
    return needs


def primary_rows(term_set: list[dict], tuning_seeds: list[int]) -> dict[str, list[str]]:
    """{task: the weighting configs a seed beyond the planned ones runs}: the rows the tuning seeds kept that the
    primary comparisons name (what `make study-v3-more-seeds` runs, STUDY_ROWS=--primary)."""
    from rwkd.study.tuning import primary_rows_only, weightings_to_run

    tuning = [r for r in term_set if r["seed"] in tuning_seeds]
    return {task: primary_rows_only(tuning, weightings_to_run(tuning, task))
            for task in sorted({r["task"] for r in tuning})}


def seed_cost(term_sets: dict[str, list[dict]], tuning_seeds: list[int]) -> tuple[float, list[str]]:
    """(CPU-hours of one more seed of every term set's primary rows, one line per term set and task naming the
    rows and their cost): each row at the mean of its measured runs on the task."""
    hours, lines = 0.0, []
    for name, records in term_sets.items():
        costs = cell_costs(records)
        by_task = primary_rows(records, tuning_seeds)
        if not by_task:
            raise RwkdError(f"{name}: no record of the tuning seeds {','.join(map(str, tuning_seeds))}; accepted: "
                            "--tuning-seeds the study chose its variants on")
        for task, rows in by_task.items():
            if not rows:
                raise RwkdError(f"{name}/{task}: no row of a primary comparison among its tuning seeds' runs; "
                                "accepted: a term set whose records name study.primary")
            if missing := [row for row in rows if (task, row) not in costs]:
                raise RwkdError(f"{name}/{task}: no measured run of {', '.join(missing)} to cost an extra seed by; "
                                "accepted: records with timing.cpu_seconds")
            task_hours = sum(costs[(task, row)] for row in rows)
            hours += task_hours
            lines.append(f"{name} {task}: {task_hours:.2f} CPU-h ({', '.join(rows)})")
    return hours, lines


def spent(results: list[dict]) -> tuple[float, float]:
    """(CPU-hours in the runs, CPU-hours fine-tuning the models they read apart, each build once)."""
    runs = sum((r.get("timing") or {}).get("cpu_seconds") or 0 for r in results) / 3600
    return runs, models_fine_tuned_apart(results)


def decide(needs: dict[str, Need], planned: int, left_hours: float, per_seed_hours: float) -> Decision:
    """The rule: the most seeds any primary needs (at least `planned`), capped at the planned seeds plus as many
    more as the hours left pay for."""
    if not per_seed_hours > 0:
        raise RwkdError(f"one more seed costs {per_seed_hours} CPU-h; accepted: the measured cost of its runs, above 0")
    wanted = max([planned, *(n.needed if n.needed is not None else math.inf for n in needs.values())])
    more = math.floor(left_hours / per_seed_hours) if left_hours > 0 else 0
    affordable = planned + max(0, more)
    return Decision(wanted, affordable, min(wanted, affordable))


def main(argv: list[str] | None = None) -> int:
    """`python -m rwkd.report.seed_count TERM_SET... --budget H [--also RECORDS...]`: applies the study's seed
    rule to its committed records and prints the count, how it was reached, and the seeds left to run."""
    import argparse

    from rwkd.records.epochs import DEFAULT, at_chosen_epoch
    from rwkd.records.reading import find_results
    from rwkd.report.primary import read_primaries
    from rwkd.study.tuning import terms_suffix
    from rwkd.study.units import parse_seeds

    parser = argparse.ArgumentParser(prog="python -m rwkd.report.seed_count", description=main.__doc__.splitlines()[0])
    parser.add_argument("term_sets", nargs="+", type=Path, help="the study's records, a folder per term set")
    parser.add_argument("--budget", type=float, required=True, help="the study's CPU-hours in all")
    parser.add_argument("--also", nargs="*", default=[], type=Path, help="other records whose cost the budget "
                        "pays (a noisy-label condition, runs taken over and set aside)")
    parser.add_argument("--reserve", type=float, default=0.0, help="CPU-hours the budget keeps for work not run yet")
    parser.add_argument("--planned", type=int, default=5, help="the seeds every row runs")
    parser.add_argument("--tuning-seeds", default="1")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.budget) and args.budget > 0 and math.isfinite(args.reserve) and args.reserve >= 0):
        raise RwkdError(f"--budget {args.budget:g} --reserve {args.reserve:g}: accepted: a budget above 0 and a reserve "
                        "of 0 or more CPU-hours")
    if args.planned < 2:
        raise RwkdError(f"--planned {args.planned}: accepted: 2 or more seeds (a spread needs two)")
    if missing := [str(f) for f in [*args.term_sets, *args.also] if not f.is_dir()]:
        raise RwkdError(f"{', '.join(missing)}: no such folder; accepted: folders of records")
    if len({f.resolve() for f in args.term_sets}) < len(args.term_sets) or \
            len({f.name for f in args.term_sets}) < len(args.term_sets):
        raise RwkdError(f"{' '.join(map(str, args.term_sets))}: a term set given twice; accepted: each once")

    term_sets, added = {}, []
    for folder in args.term_sets:
        records = find_results([str(folder)])[0]
        if len(suffixes := {terms_suffix(r["weighting"]) for r in records}) > 1:
            raise RwkdError(f"{folder} holds runs of {len(suffixes)} term sets; accepted: one term set's folder each "
                            "(TERMS/TASK/WEIGHTING/seedN below the study's records)")
        # the rule's reading, its spread and its costs, whatever was added since
        term_sets[folder.name] = [r for r in records if r["seed"] <= args.planned]
        added += [r for r in records if r["seed"] > args.planned]
    study = [r for records in term_sets.values() for r in records]
    primaries = read_primaries(study)
    if not primaries:
        raise RwkdError(f"the records under {', '.join(map(str, args.term_sets))} name no primary comparison "
                        "(study.primary); accepted: a study whose config names them")
    needs = primary_needs(at_chosen_epoch(study, DEFAULT), primaries, args.planned)
    per_seed, cost_lines = seed_cost(term_sets, parse_seeds(args.tuning_seeds, "--tuning-seeds"))
    others = [r for folder in args.also for r in find_results([str(folder)])[0]]
    runs, models = spent(study + others)
    left = args.budget - runs - models - args.reserve
    decision = decide(needs, args.planned, left, per_seed)

    strict = f"p < {LEVEL:g}/{len(primaries)}"
    print(f"## Seeds for the primary comparisons\n\n| primary comparison | seeds | sd of the differences | "
          f"seeds needed for {TARGET:g} point, after Holm ({strict}) |\n|---|---|---|---|")
    for name, need in needs.items():
        print(f"| {name} | {need.seeds} | {need.sd:.2f} | {need.needed if need.needed is not None else '> 1000'} |")
    wanted = "more than 1000" if math.isinf(decision.wanted) else int(decision.wanted)
    print(f"\nWanted: {wanted} seeds (the most above, at least the {args.planned} planned).")
    print(f"One more seed of the primaries' rows: {per_seed:.2f} CPU-h, each row at the mean of its measured runs:")
    print("\n".join(f"- {line}" for line in cost_lines))
    print(f"Spent: {runs + models:.2f} of {args.budget:g} CPU-h ({runs:.2f} in {len(study) + len(others)} runs, "
          f"{models:.2f} fine-tuning the models they read apart)" + (f"; kept back: {args.reserve:g}" if args.reserve
                                                                      else "") + f"; left: {left:.2f} CPU-h.")
    if added:
        print(f"Left out above: {len(added)} runs of the seeds added since "
              f"({','.join(map(str, sorted({r['seed'] for r in added})))}), "
              f"{spent(added)[0]:.2f} CPU-h, paid for by the count below.")
    more = ",".join(str(s) for s in range(args.planned + 1, decision.seeds + 1))
    if decision.capped:
        print(f"Decision: {decision.seeds} seeds, capped by the budget (the rule wants {wanted}); the page states "
              "the power reached at the seeds run.")
    else:
        print(f"Decision: {decision.seeds} seeds, the rule's count.")
    print(f"Seeds to add, the primaries' rows alone: {more or 'none'}")
    return 0


if __name__ == "__main__":
    from rwkd.errors import run_as_command

    run_as_command(main)
