"""A student run's `identity` (rwkd/records/identity.py) from the built run: what it must share with the runs of
other schemes on its task and seed to be paired with them."""

from __future__ import annotations

from omegaconf import DictConfig

from rwkd.records import identity
from rwkd.terms import PROJECTIONS
from rwkd.training.teacher_signal import CachedTeacher, LiveTeacher


def start_digest(student) -> str:
    """The student's start (taken before training; the projections of hidden-state terms left out)."""
    return identity.student_init_digest(student, skip_prefix=PROJECTIONS)


def run_identity(cfg: DictConfig, run) -> dict:
    """{student_init, teacher_outputs, teacher_terms, split, batch_order} of a finished run (`run`: the built run,
    rwkd/commands/train.py). student_init is the digest taken at the start (kept through a resume; None where
    the run resumed from a checkpoint written before it was kept)."""
    datamodule = run.datamodule
    train_rows = [e.idx for e in datamodule.train_set.examples]
    meta_rows = [e.idx for e in datamodule.meta_set.examples] if datamodule.meta_set is not None else []
    terms = teacher_terms(run)
    return {
        "student_init": run.module.run_info.get(identity.STUDENT_INIT),
        "teacher_outputs": identity.teacher_outputs_digest(terms),
        "teacher_terms": {name: digest for name, digest in terms.items() if digest is not None},
        "split": identity.split_digest(train_rows, meta_rows),
        "batch_order": identity.batch_order_digest(planned_steps(cfg, run.trainer.world_size, datamodule), train_rows),
    }


def teacher_terms(run) -> dict[str, str | None]:
    """term name -> digest of the teacher output it distils: the first teacher's logits (`kd`), then each further
    term's (rwkd/terms.py), in the run's term order."""
    def digest(source, teacher, layer):
        if source is None:
            return None
        if teacher.outputs is not None and teacher.outputs.record.get("id"):
            return identity.outputs_digest(teacher.outputs.record["id"], layer)
        if isinstance(source, CachedTeacher):
            return identity.table_digest(source.table)
        if isinstance(source, LiveTeacher):
            return identity.live_digest(teacher.weights_sha256 or identity.weights_digest(source.model), source.layer,
                                        source.view)
        raise TypeError(f"no digest for a teacher source of type {type(source).__name__}")

    terms = {"kd": digest(run.teacher_source, run.teachers[0], None)}
    for term, source in zip(run.extra_terms, run.module.extra_sources, strict=False):
        teacher = run.teachers[term.teacher]
        terms[term.name] = digest(source, teacher, term.teacher_layer if term.is_hidden else None)
    return terms


def planned_steps(cfg: DictConfig, world_size: int, datamodule) -> list[list[int]]:
    """The training batches the trainer settings let the run see (max_epochs, max_steps, limit_train_batches),
    from the run's own sampler of each rank, without training."""
    samplers = [datamodule.sampler_for(datamodule.train_set, datamodule.batch_size, 0, rank, world_size)
                for rank in range(world_size)]
    per_epoch = len(samplers[0])
    limit = cfg.trainer.get("limit_train_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        per_epoch = min(per_epoch, limit)
    elif isinstance(limit, float):
        per_epoch = int(per_epoch * limit)
    max_steps = cfg.trainer.get("max_steps")
    max_steps = max_steps if max_steps is not None and max_steps >= 0 else None
    epochs = identity.epochs_planned(cfg.trainer.get("max_epochs"), max_steps, max(per_epoch, 1))
    return identity.planned_batches(samplers, epochs, per_epoch, max_steps)
