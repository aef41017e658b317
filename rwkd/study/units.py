"""Pairing units: the runs a study pairs with each other (one task's seed, in one term set) are made from one
build of the student's start.

Under student.init=finetuned the student is cut from its own backbone fine-tuned on the task (student.source).
The same fine-tuning repeated on another kind of CPU gives other bits, because other kernels round differently. So
two runs of one unit made on different kinds of CPU are not a pair, and rwkd/report/pair_check.py leaves them out.
A study that runs in parts, on whatever machine each part gets, therefore starts or continues a unit only where no
run of it came from another build of the start. A unit begun from another build waits for a machine that makes
that build, and the lane goes on with the units that are free or begun here.
"""

from __future__ import annotations

import json
from pathlib import Path

from rwkd.errors import RwkdError
from rwkd.records.format import NOT_APPLICABLE, RESULTS


def source_build(record: dict) -> str | None:
    """The SHA-256 of the fine-tuned model a run's student was cut from (None: the run had no such source)."""
    return ((record.get("student") or {}).get("source") or {}).get("weights_sha256")


def unit_builds(sweep_dir: Path, task: str, seed: int) -> dict[str, list[str]]:
    """{source build: [weighting folders]} of the finished runs of `task` and `seed` under a sweep folder
    (`TASK/WEIGHTING/seedN`)."""
    builds: dict[str, list[str]] = {}
    for path in sorted((sweep_dir / task).glob(f"*/seed{seed}/{RESULTS}")):
        build = source_build(json.loads(path.read_text()))
        if build is not None:
            builds.setdefault(build, []).append(path.parent.parent.name)
    return builds


def unrecorded_jobs(sweep_dir: Path, task: str, seed: int, weightings: list[str]) -> list[str]:
    """The weightings of the unit without a record (results.json, or not_applicable.json where the combination
    is undefined)."""
    return [name for name in weightings if not any((sweep_dir / task / name / f"seed{seed}" / record).is_file()
                                                   for record in (RESULTS, NOT_APPLICABLE))]


def unit_complete(sweep_dir: Path, task: str, seed: int, weightings: list[str]) -> bool:
    """Whether every weighting of the unit has its record: a sweep over it would train nothing."""
    return not unrecorded_jobs(sweep_dir, task, seed, weightings)


def held_reason(sweep_dir: Path, task: str, seed: int, weightings: list[str], local: str | None) -> str | None:
    """Why the unit cannot be run here (None: it can). It is held when it is unfinished and a finished run of
    it started from another build of the student's source than this machine's (`local`)."""
    if local is None:
        return None  # the student is not cut from a fine-tuned source: its start is the same on every CPU
    others = {build: names for build, names in unit_builds(sweep_dir, task, seed).items() if build != local}
    if not others or unit_complete(sweep_dir, task, seed, weightings):
        return None
    build, names = next(iter(sorted(others.items())))
    return (f"{sweep_dir.name}/{task}/seed{seed} is kept for the machine that made its student's source "
            f"{build[:12]} ({', '.join(names)}); this machine's build is {local[:12]}")


def local_source(overrides: list[str]) -> tuple[dict | None, str, list[str]]:
    """(this machine's build of the runs' student source as a teacher record, or None where they have none; the
    runs' teacher.accept_rebuild; the weightings the composed sweep runs by default). The source must be made
    already (`rwkd teacher`)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from rwkd.checkout import conf_dir
    from rwkd.teacher.finetune import TEACHER_RECORD, Teacher
    from rwkd.teacher.sources import teacher_record
    from rwkd.teacher.student_source import source_folder, wants_source

    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = compose("train", overrides=overrides, return_hydra_config=True)
    except HydraException as err:  # a typo in the overrides: one line, not Hydra's traceback
        raise RwkdError(f"the overrides {' '.join(overrides)!r} do not compose: {str(err).splitlines()[0]}; "
                        "accepted: the run's overrides after --, as `rwkd train` takes them") from None
    default = [w for w in str(cfg.hydra.sweeper.params.get("weighting", "")).split(",") if w]
    accept_rebuild = str(cfg.teacher.get("accept_rebuild", "never"))
    if not wants_source(cfg):
        return None, accept_rebuild, default
    folder = source_folder(cfg)
    if not (folder / TEACHER_RECORD).is_file():
        raise RwkdError(f"the student's source for {' '.join(overrides)} is not made on this machine "
                        f"({folder / TEACHER_RECORD} is missing); make it first: rwkd teacher {' '.join(overrides)}")
    made = json.loads((folder / TEACHER_RECORD).read_text())
    # recorded as a run records the cached teacher it found there
    found = Teacher(None, str(folder / "model"), made.get("dev_metrics"), "cache", made["weights_sha256"], made)
    return teacher_record(found), accept_rebuild, default


def teacher_refusal(sweep_dir: Path, task: str, source: dict, accept_rebuild: str) -> str | None:
    """Why every run of `task` in this term set would stop before training here (None: none would). A term set that
    also distils the student's source as a live teacher (the v3 K terms' MiniLM teacher) is held as a whole where a
    finished run of the task distilled another build of it: the sweep's own check (rwkd/teacher/sweep_check.py)
    refuses that teacher unless the build kept the same scores and the study accepts such a rebuild."""
    from rwkd.teacher.sweep_check import check_sweep_teachers

    try:  # the source in every teacher position: a position holding another teacher is not compared
        check_sweep_teachers(task, [source] * 4, sweep_dir / task / "(a new job)", sweep_dir, accept_rebuild)
    except RwkdError as err:
        return f"{sweep_dir.name}/{task} is held whole: its runs would stop before training: {err}"
    return None


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """A study command's comma-separated seeds."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise RwkdError(f"{flag} {text!r}: accepted: comma-separated whole numbers, e.g. 2,3,4") from None


def main(argv: list[str] | None = None) -> int:
    """`python -m rwkd.study.units SWEEP_DIR --task T --seeds S,... -- OVERRIDES`: prints the seeds whose units can run
    on this machine, comma-separated (empty: none), and says on stderr why each other one is held."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m rwkd.study.units", description=main.__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="the sweep folder of one term set (TASK/WEIGHTING/seedN below it)")
    parser.add_argument("--task", required=True)
    parser.add_argument("--seeds", required=True, help="comma-separated seeds")
    parser.add_argument("--weightings", default="", help="comma-separated weighting configs the unit's sweep runs "
                        "(default: the composed sweep's own list)")
    parser.add_argument("overrides", nargs="*", help="the run's overrides, as the sweep gives them (after --)")
    args = parser.parse_intermixed_args(argv)  # the overrides come after the options
    seeds = parse_seeds(args.seeds)
    source, accept_rebuild, default = local_source([*args.overrides, f"task={args.task}"])
    weightings = [w for w in args.weightings.split(",") if w] or default
    if not weightings:
        raise RwkdError("no weightings to check: give --weightings, or overrides whose sweep names them")
    local = source["weights_sha256"] if source else None
    refusal = teacher_refusal(args.sweep_dir, args.task, source, accept_rebuild) if source else None
    runnable = []
    for seed in seeds:
        reason = held_reason(args.sweep_dir, args.task, seed, weightings, local)
        if reason is None and refusal and not unit_complete(args.sweep_dir, args.task, seed, weightings):
            reason = refusal
        if reason:
            print(f"rwkd: {reason}", file=sys.stderr, flush=True)
        else:
            runnable.append(str(seed))
    print(",".join(runnable))
    return 0


if __name__ == "__main__":
    from rwkd.errors import run_as_command

    run_as_command(main)
