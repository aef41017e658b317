"""Where a study run in parts stands, from its committed records: per term set, task and seed (a pairing unit,
rwkd/study/units.py), the rows done of those planned, the builds of the student's start its runs were cut from, the
CPUs that made them, the CPU-hours spent, and an estimate of the CPU-hours left (rwkd/study/cost_estimate.py).

The plan of a unit: on the tuning seeds, every weighting the term set tunes over; on the later seeds, the variants
chosen on the tuning seeds (rwkd/study/tuning.py), unknown ('?') until those are all in; on seeds beyond the planned
ones (`make study-v3-more-seeds`), those of the chosen variants that the primary comparisons name.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from rwkd.records.format import NOT_APPLICABLE, RESULTS
from rwkd.study.cost_estimate import cell_costs, models_fine_tuned_apart, prior_scale, unit_estimate
from rwkd.study.plan import experiment_plan
from rwkd.study.tuning import primary_rows_only, weightings_to_run
from rwkd.study.units import parse_seeds, source_build


def read_term_set(folder: Path) -> tuple[list[dict], set[tuple[str, int, str]]]:
    """A term set's records (`TASK/WEIGHTING/seedN/results.json`) and its undefined combinations (task, seed,
    weighting config) from their not_applicable.json: done, whatever the machine."""
    results = [json.loads(p.read_text()) for p in sorted(folder.glob(f"*/*/seed*/{RESULTS}"))]
    undefined = {(p.parts[-4], int(p.parts[-2].removeprefix("seed")), p.parts[-3])
                 for p in sorted(folder.glob(f"*/*/seed*/{NOT_APPLICABLE}"))}
    return results, undefined


def term_set_progress(results: list[dict], undefined: set, tuning_schemes: list[str], tasks: list[str],
                      tuning_seeds: list[int], later_seeds: list[int], more_seeds: list[int] = ()) -> list[dict]:
    """One line per unit of the term set, tasks and seeds in the order given: the weighting configs done and left
    (None: unknown, the tuning seeds are not all in), the source builds and CPUs of its runs, its CPU-hours."""
    by_unit: dict = defaultdict(list)
    for r in results:
        by_unit[(r["task"], r["seed"])].append(r)

    def done(task: str, seed: int) -> list[str]:
        ran = {(r.get("choices") or {}).get("weighting") for r in by_unit[(task, seed)]}
        return sorted((ran - {None}) | {w for t, s, w in undefined if (t, s) == (task, seed)})

    lines = []
    for task in tasks:
        tuned = all(set(tuning_schemes) <= set(done(task, s)) for s in tuning_seeds)
        tuning = [r for s in tuning_seeds for r in by_unit[(task, s)]]
        later = weightings_to_run(tuning, task) if tuned else None
        beyond = primary_rows_only(tuning, later) if later is not None else None
        for seed in [*tuning_seeds, *later_seeds, *more_seeds]:
            planned = tuning_schemes if seed in tuning_seeds else later if seed in later_seeds else beyond
            records, finished = by_unit[(task, seed)], done(task, seed)
            lines.append({
                "task": task, "seed": seed, "done": finished,
                "left": None if planned is None else [w for w in planned if w not in finished],
                "builds": sorted({(source_build(r) or "none")[:12] for r in records}),
                "cpus": sorted({(r.get("hardware") or {}).get("cpu", "?") for r in records}),
                "cpu_hours": sum((r.get("timing") or {}).get("cpu_seconds") or 0 for r in records) / 3600})
    return lines


def add_estimates(lines: list[dict], planned: list[str], families: dict[str, list[str]], results: list[dict],
                  prior_results: list[dict]) -> float | None:
    """Each line's `left_hours` and `unestimated` rows (rwkd/study/cost_estimate.py); returns the scale of this
    study's costs against the prior records' (None: none in common, or no prior)."""
    cells, prior = cell_costs(results), cell_costs(prior_results)
    scale = prior_scale(cells, prior)
    for line in lines:
        line["left_hours"], line["unestimated"] = unit_estimate(line["task"], line["left"], planned, families,
                                                                cells, prior, scale)
    return scale


def format_progress(term_set: str, lines: list[dict], scale: float | None = None) -> str:
    """A markdown table: a unit per row, what is left of it, and the term set's totals."""
    out = [f"### {term_set}", "", "| task | seed | done | left | builds | CPUs | CPU-h | left, est. CPU-h |",
           "|---|---|---|---|---|---|---|---|"]
    for line in lines:
        left = "?" if line["left"] is None else (", ".join(line["left"]) or "complete")
        estimate = f"{line['left_hours']:.2f}" + (f" + {line['unestimated']} row(s) unknown" if line["unestimated"] else "")
        out.append(f"| {line['task']} | {line['seed']} | {len(line['done'])} | {left} | {', '.join(line['builds'])} | "
                   f"{', '.join(line['cpus'])} | {line['cpu_hours']:.2f} | {estimate} |")
    done = sum(len(line["done"]) for line in lines)
    complete = sum(line["left"] == [] for line in lines)
    unknown = sum(line["unestimated"] for line in lines)
    source = ("each run's cost: the mean of its task and weighting's runs here, else the prior study's times "
              f"{scale:.2f}" if scale is not None else "each run's cost: the mean of its task and weighting's runs here")
    out += ["", f"{done} runs, {complete} of {len(lines)} units complete, "
                f"{sum(line['cpu_hours'] for line in lines):.2f} CPU-hours; about "
                f"{sum(line['left_hours'] for line in lines):.1f} CPU-hours left"
                + (f" and {unknown} row(s) with no measured cost" if unknown else "") + f" ({source})"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """`python -m rwkd.study.progress RECORDS --experiment E --term-set FOLDER[=W1,W2,...] ... --tasks T,...`: prints,
    per term set, where each unit of the study stands (a term set without a list tunes over the experiment's)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rwkd.study.progress", description=main.__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, help="the study's records: a folder per term set below it")
    parser.add_argument("--experiment", required=True, help="the study's experiment config")
    parser.add_argument("--term-set", action="append", required=True,
                        help="FOLDER, or FOLDER=WEIGHTINGS: a term set's folder and the weightings it tunes over")
    parser.add_argument("--tasks", required=True, help="comma-separated tasks")
    parser.add_argument("--tuning-seeds", default="1")
    parser.add_argument("--later-seeds", default="2,3,4,5")
    parser.add_argument("--more-seeds", default="", help="seeds beyond the planned ones: the primary comparisons' rows")
    parser.add_argument("--prior", type=Path, help="an earlier study's records (the same term set folders): the "
                        "cost of tasks and weightings not run here yet, scaled to this study's")
    args = parser.parse_args(argv)

    tuning, later = parse_seeds(args.tuning_seeds, "--tuning-seeds"), parse_seeds(args.later_seeds, "--later-seeds")
    more = parse_seeds(args.more_seeds, "--more-seeds")
    tasks = [t for t in args.tasks.split(",") if t]
    sweep, families = experiment_plan(args.experiment)
    every_record, runs_hours, left_hours = [], 0.0, 0.0
    for spec in args.term_set:
        folder, _, schemes = spec.partition("=")
        planned = schemes.split(",") if schemes else sweep
        results, undefined = read_term_set(args.records / folder)
        prior = read_term_set(args.prior / folder)[0] if args.prior else []
        lines = term_set_progress(results, undefined, planned, tasks, tuning, later, more)
        scale = add_estimates(lines, planned, families, results, prior)
        print(format_progress(folder, lines, scale) + "\n")
        every_record += results
        runs_hours += sum(line["cpu_hours"] for line in lines)
        left_hours += sum(line["left_hours"] for line in lines)
    models = models_fine_tuned_apart(every_record)
    print(f"In all: {runs_hours + models:.2f} CPU-hours spent ({runs_hours:.2f} in the runs, {models:.2f} fine-tuning "
          f"the teachers and student sources they read, each build once), about {left_hours:.1f} left as estimated "
          "above.\n")
    return 0


if __name__ == "__main__":
    from rwkd.errors import run_as_command

    run_as_command(main)
