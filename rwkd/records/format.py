"""The files a job leaves in its folder, named once for the writers (the commands) and the readers (resume,
reports, the recipe search)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESULTS = "results.json"                # a finished student run
NOT_APPLICABLE = "not_applicable.json"  # a sweep job whose combination is undefined (errors.NotApplicable)
FAILED = "failed.json"                  # a sweep job that failed; the sweep went on
TEACHER_TRIAL = "teacher_trial.json"    # one trial of a teacher search (`rwkd teacher -m`)
PLAN_FILE = "multirun.yaml"             # the sweep's plan, as Hydra wrote it
SAMPLE_WEIGHTS = "sample_weights.parquet"  # the per-sample weight log of a run (rank shards under DDP)


@dataclass(frozen=True)
class TeacherIdentity:
    """Which teacher a record names, two ways. `settings`: the name of the folder it was fine-tuned into, named by
    the digest of everything that shaped its training, so the same on every machine (teacher outputs are named
    like that folder). `weights`: its weights' SHA-256, the same bits (another kind of CPU rounds differently)."""

    settings: str | None
    weights: str | None

    @property
    def name(self) -> str | None:
        """The fine-tuning it came from where known, else its bits (a hub teacher has no folder)."""
        return self.settings or self.weights


def teacher_identity(teacher: dict | None) -> TeacherIdentity | None:
    """The identity of a teacher record (a run's `teacher`, one of its `more_teachers`, or a teacher trial)."""
    if not teacher:
        return None
    settings = None
    if teacher.get("path"):
        path = Path(teacher["path"])
        # a fine-tuned teacher's path is <folder>/model; its outputs' path is their folder, named like it
        settings = path.name if teacher.get("origin") == "outputs" else path.parent.name
    return TeacherIdentity(settings, teacher.get("weights_sha256"))


def same_scores(here: dict | None, there: dict | None) -> bool:
    """Two teacher records whose builds kept the same epoch and step with the same dev and meta scores (every
    recorded digit): what `teacher.accept_rebuild=same_scores` accepts, and what the report calls a rebuild."""
    here, there = (here or {}).get("dev_metrics"), (there or {}).get("dev_metrics")
    return bool(here) and here == there
