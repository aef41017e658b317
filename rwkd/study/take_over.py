"""Taking over a held unit: a unit begun from a build of the student's start that no machine here makes any more
(rwkd/study/units.py holds it for a machine of the kind that made it) is made again, whole, from this machine's
build.

Nothing is deleted. The unit's runs from the other build move to a sibling of the study folder named
`<study folder>_superseded/<build>/`, in the sweep's outputs and in the committed records alike, each with a
`superseded.json` saying why, when, from where, and which build replaced it. The report and the records tests read
the study folder alone, so the moved runs leave its tables; the sweep then finds the unit free and trains it whole.
A run being trained, a unit made from this machine's build, a term set whose live teacher would still be
refused afterwards (a run of another seed distilled another build of it), a tuning seed whose later seeds keep
their runs (the remade tuning seed may choose other variants than they ran), and a folder whose place aside is
taken are refused before anything moves. Each folder's committed record moves before its outputs, under every
job's lock: a take-over stopped part-way leaves nothing that `make study-restore` would bring back, and the same
command run again moves the rest.
"""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from rwkd.errors import RwkdError
from rwkd.locks import job_lock
from rwkd.records.format import RESULTS
from rwkd.study.units import local_source, parse_seeds, source_build, teacher_refusal

SUPERSEDED = "superseded.json"


def superseded_root(study_folder: Path, build: str) -> Path:
    """Where the runs of `build` taken out of a study folder go: beside it, never under it."""
    return study_folder.parent / f"{study_folder.name}_superseded" / build[:12]


def unit_folders(sweep_dir: Path, task: str, seed: int) -> list[Path]:
    return sorted(p for p in (sweep_dir / task).glob(f"*/seed{seed}") if p.is_dir())


def _build_of(folder: Path) -> str | None:
    results = folder / RESULTS
    return source_build(json.loads(results.read_text())) if results.is_file() else None


def plan_take_over(sweep_dir: Path, task: str, seeds: list[int], local: str) -> list[tuple[Path, str]]:
    """[(job folder, the build it was made from)] to move: every finished run of the seeds' units made from
    another build than `local`, and the unfinished job folders of those units (a resume would carry the other
    start on). A finished run from `local`, or a unit with no run from another build, is refused: there is
    nothing to take over, or the unit would mix builds."""
    moves = []
    for seed in seeds:
        folders = unit_folders(sweep_dir, task, seed)
        builds = {f: _build_of(f) for f in folders}
        others = {b for b in builds.values() if b not in (None, local)}
        if not others:
            raise RwkdError(f"{sweep_dir.name}/{task}/seed{seed} has no run from another build than this machine's "
                            f"({local[:12]}); accepted: seeds whose units are held here (python -m rwkd.study.units)")
        if local in builds.values():
            mine = sorted(f.parent.name for f, b in builds.items() if b == local)
            raise RwkdError(f"{sweep_dir.name}/{task}/seed{seed} already has runs from this machine's build "
                            f"({', '.join(mine)}) beside runs from {', '.join(sorted(b[:12] for b in others))}; "
                            "accepted: a unit made from one other build")
        other = min(others)  # the build an unfinished folder is filed under
        for folder, build in builds.items():
            finished = build is not None
            # not_applicable.json alone: the combination is undefined whatever the build
            if finished or not (folder / "not_applicable.json").is_file():
                moves.append((folder, build or other))
    return moves


def _check_teacher_after(sweep_dir: Path, task: str, seeds: list[int], source: dict, accept_rebuild: str) -> None:
    """A term set held whole because its live teacher is another build stays held while a run of another seed
    distils that build: those seeds must be taken over too."""
    if teacher_refusal(sweep_dir, task, source, accept_rebuild) is None:
        return
    local = source["weights_sha256"]
    rest = sorted({int(f.name.removeprefix("seed")) for f in (sweep_dir / task).glob("*/seed*")
                   if f.is_dir() and _build_of(f) not in (None, local)} - set(seeds))
    if rest:
        raise RwkdError(f"{sweep_dir.name}/{task} distils this machine's build of the student's source as a live "
                        f"teacher, and its seeds {','.join(map(str, rest))} distilled another build: the sweep would "
                        f"still refuse it; accepted: --seeds with those too")


def _check_later_seeds(sweep_dir: Path, task: str, seeds: list[int], tuning_seeds: list[int]) -> None:
    """A tuning seed chooses the variants the later seeds run: remade, it may choose others, so the later seeds'
    runs go with it (or there are none yet)."""
    if not set(seeds) & set(tuning_seeds):
        return
    kept = sorted({int(f.parent.name.removeprefix("seed")) for f in (sweep_dir / task).glob(f"*/seed*/{RESULTS}")}
                  - set(seeds) - set(tuning_seeds))
    if kept:
        raise RwkdError(f"{sweep_dir.name}/{task}: taking over its tuning seeds would choose the variants again, and "
                        f"its seeds {','.join(map(str, kept))} ran the old choice; accepted: --seeds with those too")


def take_over(sweep_dir: Path, records_dir: Path | None, task: str, seeds: list[int], source: dict,
              accept_rebuild: str, reason: str, command: str, tuning_seeds: list[int] = (1,)) -> list[Path]:
    """Moves the held units' runs aside (see the module's docstring) and returns where they went."""
    if not reason.strip():
        raise RwkdError("--reason is empty; accepted: a sentence saying why the build is not coming back")
    local = source["weights_sha256"]
    moves = plan_take_over(sweep_dir, task, seeds, local)
    _check_teacher_after(sweep_dir, task, seeds, source, accept_rebuild)
    _check_later_seeds(sweep_dir, task, seeds, list(tuning_seeds))
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    steps = []  # (job folder, where it goes, its note): each folder's record first, then its outputs
    for folder, build in moves:
        relative = folder.relative_to(sweep_dir.parent)
        note = {"reason": reason, "build": build, "replaced_by": local, "moved_from": str(relative),
                "moved_at": when, "command": command}
        for study_folder, job in (*(((records_dir, records_dir / relative),) if records_dir else ()),
                                  (sweep_dir.parent, folder)):
            if not job.is_dir():
                continue  # never committed, or moved by this command run before and stopped part-way
            target = superseded_root(study_folder, build) / relative
            if target.exists():
                raise RwkdError(f"{target} exists already; accepted: a unit not taken over before from {build[:12]}")
            steps.append((job, target, note))
    moved = []
    with ExitStack() as locks:  # held until every folder has moved: no lane starts one of these jobs meanwhile
        for folder, _ in moves:
            if (holder := locks.enter_context(job_lock(folder))) is not None:
                raise RwkdError(f"{folder} is being trained by {holder}; stop its lane first (touch outputs/STOP)")
        for job, target, note in steps:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(job), str(target))
            (target / SUPERSEDED).write_text(json.dumps(note, indent=2) + "\n")
            moved.append(target)
    return moved


def main(argv: list[str] | None = None) -> int:
    """`python -m rwkd.study.take_over SWEEP_DIR --records DIR --task T --seeds S,... --reason TEXT -- OVERRIDES`:
    moves the held units' runs aside so that the sweep makes them again from this machine's build."""
    import argparse
    import shlex
    import sys

    parser = argparse.ArgumentParser(prog="python -m rwkd.study.take_over", description=main.__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="the sweep folder of one term set (TASK/WEIGHTING/seedN below it)")
    parser.add_argument("--records", type=Path, default=None,
                        help="the study's committed records (the same layout below it), moved alike")
    parser.add_argument("--task", required=True)
    parser.add_argument("--seeds", required=True, help="comma-separated seeds")
    parser.add_argument("--reason", required=True, help="why the other build is not coming back")
    parser.add_argument("--tuning-seeds", default="1", help="the seeds the term set's variants were chosen on")
    parser.add_argument("overrides", nargs="*", help="the run's overrides, as the sweep gives them (after --)")
    args = parser.parse_intermixed_args(argv)
    seeds = parse_seeds(args.seeds)
    if not seeds:
        raise RwkdError("--seeds names no seed; accepted: comma-separated whole numbers, e.g. 2,3,4")
    source, accept_rebuild, _ = local_source([*args.overrides, f"task={args.task}"])
    if source is None:
        raise RwkdError(f"the student of {' '.join(args.overrides)} is not cut from a fine-tuned source: its start is "
                        "the same on every machine, and no unit is held for it")
    records = args.records.resolve() if args.records else None
    command = shlex.join(["python", "-m", "rwkd.study.take_over", *(argv if argv is not None else sys.argv[1:])])
    moved = take_over(args.sweep_dir.resolve(), records, args.task, seeds, source, accept_rebuild, args.reason, command,
                      parse_seeds(args.tuning_seeds, "--tuning-seeds"))
    for target in moved:
        print(f"rwkd: moved to {target}")
    print(f"rwkd: {len(moved)} folders moved; the sweep now makes {args.sweep_dir.name}/{args.task} seeds "
          f"{','.join(map(str, seeds))} from this machine's build {source['weights_sha256'][:12]}")
    return 0


if __name__ == "__main__":
    from rwkd.errors import run_as_command

    run_as_command(main)
