"""One teacher per task within a sweep folder.

A sweep that runs in parts (`resume=auto`, records restored on a fresh machine) fine-tunes its teachers again
wherever their cache is missing. If the new teacher's weights differ from the ones the sweep's finished jobs
distilled (another thread count, another library build), the rows of that task would no longer share a teacher,
and a difference between schemes could be the teachers' difference. A job checks this before it trains, so the
sweep stops at once instead of spending hours on runs that cannot be compared.

The same thread count rebuilds the same bits only on the same kind of CPU: another vendor's kernels round
differently. A study whose parts land on different machines can accept such a rebuild with
`teacher.accept_rebuild=same_scores`: the new teacher must have kept the same epoch with the same dev and meta
scores, to the last recorded digit, as the one the finished jobs distilled. Its rows then carry their own
teacher's hash, and the report lists both builds and says the task's rows mixed them.
"""

from __future__ import annotations

import json
from pathlib import Path

from rwkd.errors import RwkdError
from rwkd.records.format import RESULTS, same_scores, teacher_identity

ACCEPT_REBUILD = ("never", "same_scores")


def _sweep_dir() -> Path | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return Path(HydraConfig.get().sweep.dir)


def _role(position: int) -> str:
    return "teacher" if position == 0 else f"kd.teachers[{position - 1}]"


def _identity(teacher: dict | None) -> tuple[str, str] | None:
    """(folder name, weights' SHA-256) of a fine-tuned teacher, where the record has both."""
    found = teacher_identity(teacher)
    return (found.settings, found.weights) if found and found.settings and found.weights else None


def check_sweep_teachers(task: str, teachers: list[dict | None], output_dir: Path, sweep_dir: Path | None = None,
                         accept_rebuild: str = "never") -> list[str]:
    """Raises RwkdError where a finished job of `task` in this job's sweep folder recorded, in the same position, a
    teacher fine-tuned with the same settings (the same cache folder name) whose weights' SHA-256 differs from this
    job's, unless `accept_rebuild="same_scores"` and both recorded the same selected epoch and scores. Returns a
    line per accepted rebuild, to print. `teachers` are this job's teacher records (None where it has none); a
    sweep over teacher settings is not concerned, its teachers having other folders."""
    if accept_rebuild not in ACCEPT_REBUILD:
        raise RwkdError(f"teacher.accept_rebuild={accept_rebuild!r} is unknown; accepted: {', '.join(ACCEPT_REBUILD)}")
    sweep_dir = sweep_dir if sweep_dir is not None else _sweep_dir()
    mine = [_identity(t) for t in teachers]
    if sweep_dir is None or not any(mine):
        return []
    accepted: dict[tuple[int, str], str] = {}
    for path in sorted(sweep_dir.rglob(RESULTS)):
        if path.parent.resolve() == output_dir.resolve():
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # not this check's business: the job's own resume reports a damaged record
        if record.get("task") != task:
            continue
        theirs = [record.get("teacher"), *(record.get("more_teachers") or [])]
        for position, (here, there) in enumerate(zip(mine, [_identity(t) for t in theirs], strict=False)):
            if here and there and here[0] == there[0] and here[1] != there[1]:
                if accept_rebuild == "never":
                    raise RwkdError(
                        f"the {_role(position)} for {task} here ({here[0]}) has weights {here[1][:12]}, but "
                        f"{path.parent} distilled {there[1][:12]} from the same settings: the sweep's rows of {task} "
                        "would not share a teacher. Rebuild it as that job did (teacher.finetune.threads, the same "
                        "library versions), give it with teacher.path=, or start another sweep folder (another kind "
                        "of CPU rounds differently: teacher.accept_rebuild=same_scores accepts a rebuild that kept the "
                        "same epoch and scores)")
                if not same_scores(teachers[position], theirs[position]):
                    raise RwkdError(
                        f"the {_role(position)} for {task} here ({here[0]}) has weights {here[1][:12]} and dev "
                        f"metrics {(teachers[position] or {}).get('dev_metrics')}, but {path.parent} distilled "
                        f"{there[1][:12]} with {theirs[position].get('dev_metrics')}: not a rebuild with the same "
                        f"scores, so the sweep's rows of {task} would not share a teacher; rebuild it on a machine like "
                        "that job's, give it with teacher.path=, or start another sweep folder")
                accepted[(position, there[1])] = (
                    f"the {_role(position)} for {task} here ({here[0]}, weights {here[1][:12]}) is a rebuild of the "
                    f"one {path.parent} distilled ({there[1][:12]}) with the same selected epoch and scores: accepted "
                    "(teacher.accept_rebuild=same_scores); the report lists both builds")
    return list(accepted.values())
