"""Fair tuning: each weighting family gets a few variants, and per task the report keeps the one with the best
held-out meta-split headline, never the best dev score.

A study names its families in its config (`study.families`, e.g. `fixed: [fixed_a25, fixed_a50, fixed_a75]`,
by `weighting` config names), so every run's record says which family it belongs to. Records made before
families were named (the first study) form one family: the two-term fixed alphas.

A family's variants are compared on the seeds they all have, so a study may tune on its first seeds and run
only the chosen variant on the rest. Runs with more than two terms form families of their own: the label's
term suffix (` [label+kd+kd1+hidden0]`) is part of the row.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

TUNED = "fixed, alpha chosen on meta split"  # the reference every scheme is paired against


def terms_suffix(label: str) -> str:
    """` [label+kd+kd1+hidden0]` for a run with more than two terms, else ''."""
    return label[label.index(" ["):] if " [" in label else ""


def tuned_row(family: str, suffix: str = "") -> str:
    if family == "fixed":
        return TUNED + suffix
    return f"{family}, variant chosen on meta split{suffix}"


def is_tuned_row(label: str) -> bool:
    """Whether a scheme label is a tuned row (tuned_row), not a run's own label."""
    return "chosen on meta split" in label


def family_of(record: dict) -> str | None:
    """The family a run is a variant of: from the study's `families` in its recorded config, by its
    `weighting` choice; for records without one, the fixed alphas are the family `fixed`."""
    families = ((record.get("config") or {}).get("study") or {}).get("families")
    if families:
        choice = (record.get("choices") or {}).get("weighting")
        return next((name for name, members in families.items() if choice in members), None)
    return "fixed" if record["weighting"].startswith("fixed(") else None


def _best_meta(record: dict) -> float | None:
    """The meta headline a variant is judged on: at the run's best meta-split epoch, the epoch `rwkd report`
    reads by default (rwkd/records/epochs.py), so there the choice and the reported score come from one epoch.
    Whatever epoch a report reads (--select-on), the choice stays this one: it is the one the study made, and
    only the chosen variant ran on the later seeds."""
    meta = [h["meta/headline"] for h in record.get("history", []) if "meta/headline" in h]
    meta = [m for m in meta if not math.isnan(m)]  # a collapsed epoch (a constant prediction's Pearson) never wins
    return max(meta) if meta else None


def choose_variants(results: list[dict]) -> dict[str, dict[str, dict]]:
    """{task: {row: choice}} for every family with at least two variants that scored the meta split on that
    task. A choice holds the chosen `scheme` (its label), its `meta_headline` (x 100, mean over `seeds` of each
    run's best epoch on the meta split, _best_meta), the `candidates` and the `family`. Only the seeds every candidate has
    count, so that no variant is judged on luckier seeds."""
    scores: dict = defaultdict(lambda: defaultdict(dict))  # (task, row) -> scheme -> {seed: meta}
    families: dict = {}
    for r in results:
        family, meta = family_of(r), _best_meta(r)
        if family is None or meta is None:
            continue
        row = tuned_row(family, terms_suffix(r["weighting"]))
        scores[(r["task"], row)][r["weighting"]][r["seed"]] = meta
        families[row] = family
    chosen: dict = defaultdict(dict)
    for (task, row), by_scheme in sorted(scores.items()):
        if len(by_scheme) < 2:
            continue  # nothing to choose between
        seeds = sorted(set.intersection(*(set(s) for s in by_scheme.values())))
        if not seeds:
            continue
        mean = {scheme: statistics.fmean(by_seed[s] for s in seeds) for scheme, by_seed in by_scheme.items()}
        scheme = max(sorted(mean), key=lambda k: mean[k])  # a tie goes to the first label
        chosen[task][row] = {"scheme": scheme, "meta_headline": 100 * mean[scheme], "candidates": sorted(by_scheme),
                             "seeds": seeds, "family": families[row]}
    return dict(chosen)


def with_tuned_rows(results: list[dict]) -> list[dict]:
    """The records plus, for every tuned row, a copy of each run of its chosen variant under the row's name:
    tables and paired differences treat a tuned family like any other scheme."""
    out = list(results)
    for task, rows in choose_variants(results).items():
        for row, choice in rows.items():
            out += [{**r, "weighting": row} for r in results if r["task"] == task and r["weighting"] == choice["scheme"]]
    return out


def tuned_candidates(results: list[dict]) -> set[str]:
    """Every scheme that is a variant of a tuned row on some task: represented by that row in comparisons."""
    return {s for rows in choose_variants(results).values() for c in rows.values() for s in c["candidates"]}


def weightings_to_run(results: list[dict], task: str) -> list[str]:
    """The `weighting` configs a study runs on `task` once its tuning seeds are done: every one its records
    name there, less the variants its families did not choose."""
    chosen = choose_variants(results).get(task, {})
    dropped = {s for c in chosen.values() for s in c["candidates"] if s != c["scheme"]}
    names = []
    for r in results:
        name = (r.get("choices") or {}).get("weighting")
        if r["task"] == task and r["weighting"] not in dropped and name and name not in names:
            names.append(name)
    return names


def primary_rows_only(results: list[dict], names: list[str]) -> list[str]:
    """Of the weighting configs `names`, those the records' pre-registered comparisons (`study.primary`) name on
    either side, as a family or as a config, for the records' term set (two terms, or more: `k`): the rows a
    study runs on seeds beyond its planned ones, where its power table asks for more."""
    primaries = next((p for r in results if (p := ((r.get("config") or {}).get("study") or {}).get("primary"))), [])
    terms = "k" if any(terms_suffix(r["weighting"]) for r in results) else "two"
    named = {p[side] for p in primaries if p.get("terms", "two") == terms for side in ("scheme", "reference")}
    family = {(r.get("choices") or {}).get("weighting"): family_of(r) for r in results}
    return [n for n in names if n in named or family.get(n) in named]


def wait_for_jobs_in_training(paths: list[str], task: str, seeds: list[str]) -> None:
    """Returns once no other process trains a job of `task` on `seeds` under `paths` (the job folders
    `TASK/WEIGHTING/seedN` of a study's sweep, whose lock a training process holds). Two study lanes may share
    a task: the lane that ends its part of the tuning seeds first must not choose before the other's
    tuning jobs have written their records."""
    from pathlib import Path

    from rwkd.locks import LOCK_NAME, waiting_lock

    locks = sorted(lock for path in paths for seed in seeds for lock in Path(path).glob(f"{task}/*/seed{seed}/{LOCK_NAME}"))
    for lock in locks:
        with waiting_lock(lock, f"training {lock.parent}"):
            pass  # taken once the other process lets go, then released: its record is written by then


def missing_tuning_jobs(paths: list[str], task: str, seeds: list[int], weightings: list[str]) -> list[str]:
    """The tuning jobs (`TASK/WEIGHTING/seedN` under a path) with neither results.json nor not_applicable.json: a
    job the other lane held and then lost (failed, killed) leaves one, and choosing without it could choose
    otherwise than the study will once it is made."""
    from pathlib import Path

    from rwkd.study.units import unrecorded_jobs

    return [f"{name}/seed{seed}" for seed in seeds for name in weightings
            if all(unrecorded_jobs(Path(p), task, seed, [name]) for p in paths)]


def main(argv: list[str] | None = None) -> int:
    """`python -m rwkd.study.tuning RESULTS... --task T`: prints the weighting configs to run on the seeds
    after the tuning seeds, comma-separated (a Hydra sweep value): `make study` uses it."""
    import argparse
    import contextlib
    import sys

    from rwkd.records.reading import find_results

    parser = argparse.ArgumentParser(prog="python -m rwkd.study.tuning", description=main.__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="folders of a study's results.json files (its tuning seeds)")
    parser.add_argument("--task", required=True)
    parser.add_argument("--wait-seeds", default="", help="comma-separated tuning seeds: first wait for their jobs "
                        "that another process is training (folders TASK/WEIGHTING/seedN under the paths)")
    parser.add_argument("--primary", action="store_true", help="only the rows the study's primary comparisons "
                        "name (study.primary): for seeds beyond the planned ones")
    parser.add_argument("--experiment", help="the study's experiment config: with --wait-seeds, every weighting its "
                        "sweep runs must have its record on those seeds before anything is chosen")
    parser.add_argument("--weightings", help="comma-separated: the tuning seeds' weightings, where not the "
                        "experiment's own list (a term set of its own)")
    args = parser.parse_args(argv)
    from rwkd.errors import RwkdError
    from rwkd.study.plan import experiment_plan
    from rwkd.study.units import parse_seeds

    seeds = parse_seeds(args.wait_seeds, "--wait-seeds")
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the sweep value alone
        wait_for_jobs_in_training(args.paths, args.task, [str(s) for s in seeds])
    expected = args.weightings.split(",") if args.weightings else experiment_plan(args.experiment)[0] if args.experiment else []
    if seeds and (missing := missing_tuning_jobs(args.paths, args.task, seeds, expected)):
        raise RwkdError(f"{args.task}: the tuning jobs {', '.join(missing)} have no record, so no variant can be "
                        "chosen yet; accepted: once they are made (run the lanes again: resume=auto goes on)")
    results, _, _ = find_results(args.paths)
    if seeds:  # the choice is the tuning seeds' alone, whatever later seeds already hold
        results = [r for r in results if r["seed"] in seeds]
    names = weightings_to_run(results, args.task)

    if not names:
        raise RwkdError(f"no run of task {args.task} under {', '.join(args.paths)}; run its tuning seeds first")
    if args.primary and not (names := primary_rows_only(results, names)):
        raise RwkdError(f"--primary: the records under {', '.join(args.paths)} name no primary comparison "
                        "(study.primary) for their term set; accepted: a study whose config names them")
    print(",".join(names))
    return 0


if __name__ == "__main__":
    from rwkd.errors import run_as_command

    run_as_command(main)
