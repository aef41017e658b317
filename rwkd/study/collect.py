"""A study's finished records, from its sweep folder into its committed records folder (`make study-results`), the
same layout below both (`TERM_SET/TASK/WEIGHTING/seedN`).

A job is finished once it has written results.json: then its results.json, its weight summaries and, for a
noisy-label run, the rows it changed (label_noise.json) are copied. A running job has rewritten its weight
summary but not yet its results.json, so it waits for a later collection. A job whose combination is undefined has
only not_applicable.json, which is copied too. A copy that fails stops the collection with the file named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rwkd.errors import RwkdError
from rwkd.records.format import NOT_APPLICABLE, RESULTS

WITH_RESULTS = ("weight_summary*.json", "label_noise.json")  # what a finished job's record is read with


def finished_files(sweep: Path) -> list[Path]:
    """The files to commit under a sweep folder, relative to it."""
    files = []
    for results in sorted(sweep.rglob(RESULTS)):
        job = results.parent
        files += [results, *(f for pattern in WITH_RESULTS for f in sorted(job.glob(pattern)))]
    files += sorted(sweep.rglob(NOT_APPLICABLE))
    return [f.relative_to(sweep) for f in files]


def collect(sweep: Path, records: Path) -> list[Path]:
    """Copies the finished files of `sweep` into `records` (over what is there) and returns them, relative."""
    if not sweep.is_dir():
        raise RwkdError(f"{sweep} is not a folder; accepted: a study's sweep folder (STUDY_OUT)")
    copied = finished_files(sweep)
    for relative in copied:
        target = records / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sweep / relative, target)
        except OSError as err:
            raise RwkdError(f"{sweep / relative} could not be copied to {target}: {err.strerror or err}") from None
    return copied


def main(argv: list[str] | None = None) -> int:
    """`python -m rwkd.study.collect SWEEP RECORDS`: copies the sweep's finished records into the records folder."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rwkd.study.collect", description=main.__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="the study's sweep folder (outputs/studies/...)")
    parser.add_argument("records", type=Path, help="its committed records folder (results/...)")
    args = parser.parse_args(argv)
    copied = collect(args.sweep, args.records)
    jobs = {p.parent for p in copied}
    print(f"rwkd: {len(copied)} files of {len(jobs)} finished or undefined jobs copied from {args.sweep} to {args.records}")
    return 0


if __name__ == "__main__":
    from rwkd.errors import run_as_command

    run_as_command(main)
