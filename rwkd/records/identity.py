"""What makes two runs of a task and seed a pair: digests of what they share by design, recorded in results.json
under `identity`.

Runs of one task and seed under different weighting schemes are compared as pairs (rwkd/report/paired_tables.py):
their difference cancels the seed's luck only where they started from the same student, trained on the same rows
in the same order and distilled the same teacher outputs. A cached teacher rebuilt on another kind of CPU, or a
head drawn by another code path, breaks that without changing any setting; these digests show it. Each is the
first DIGEST_CHARS hex characters of a SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import math

import torch

DIGEST_CHARS = 16
STUDENT_INIT = "student_init"  # the run_info key that carries the start's digest through checkpoints


def _digest(h) -> str:
    return h.hexdigest()[:DIGEST_CHARS]


def _mix_tensor(h, name: str, tensor: torch.Tensor) -> None:
    """Name, dtype and shape go in with the bytes: two tensors with the same bytes but another meaning differ."""
    tensor = tensor.detach().to("cpu").contiguous()
    h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
    h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())


def _mix_json(h, value) -> None:
    h.update(json.dumps(value, sort_keys=True).encode())
    h.update(b"|")


def weights_digest(model: torch.nn.Module, skip_prefix: str | None = None) -> str:
    """A model's weights: every state_dict tensor, sorted by name (`skip_prefix`: a part left out)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if skip_prefix is None or not name.startswith(skip_prefix + "."):
            _mix_tensor(h, name, tensor)
    return _digest(h)


def student_init_digest(student: torch.nn.Module, skip_prefix: str | None = None) -> str:
    """The student's weights before the first optimisation step (weights_digest).

    `skip_prefix` leaves out a part that is not the student proper: the hidden-state terms' projections
    (rwkd/terms.py) exist only in runs with such terms, and belong to those terms; with them in, a run with
    more terms could never pair with the same student's two-term run. Taken once, before training, and kept in
    checkpoints, so that a resumed run records where it started, not the weights it resumed from."""
    return weights_digest(student, skip_prefix)


def table_digest(table: torch.Tensor) -> str:
    """A table of teacher outputs looked up by sample index (logits, or [CLS] states), as float32, its NaN rows
    (samples it does not hold) included."""
    h = hashlib.sha256()
    _mix_tensor(h, "table", table.float())
    return _digest(h)


def outputs_digest(outputs_id: str, layer: int | None) -> str:
    """A table read from written teacher outputs (teacher.outputs): named by their recorded `id` (a hash over
    their files' hashes) and the layer of the states (None: the logits), not hashed again."""
    h = hashlib.sha256()
    _mix_json(h, ["outputs", outputs_id, layer])
    return _digest(h)


def live_digest(weights: str, layer: int | None, view: str | None) -> str:
    """A live teacher: its outputs follow from its weights' hash, the layer read (None: the logits) and the
    tokenizer it reads (None: the student's)."""
    h = hashlib.sha256()
    _mix_json(h, ["live", weights, layer, view])
    return _digest(h)


def teacher_outputs_digest(term_digests: dict[str, str | None]) -> str | None:
    """Every teacher output the run distilled (term name -> its table_digest, outputs_digest or live_digest,
    in the run's term order: the first teacher's logits `kd`, then each further term's), as one digest; None where
    the run distilled none."""
    present = [[name, digest] for name, digest in term_digests.items() if digest is not None]
    if not present:
        return None
    h = hashlib.sha256()
    _mix_json(h, present)
    return _digest(h)


def split_digest(train_rows: list[int], meta_rows: list[int]) -> str:
    """The train/meta partition: the train file's row ids of each part, in the order the run holds them."""
    h = hashlib.sha256()
    _mix_json(h, {"train": list(train_rows), "meta": list(meta_rows)})
    return _digest(h)


def planned_batches(samplers: list, epochs: int, batches_per_epoch: int, max_steps: int | None) -> list[list[int]]:
    """The global batches (positions in the train split) of every epoch the run is set to train, step by step.
    `samplers`: the run's own sampler of each rank (rwkd/data/sampling.py), so that the order is the one training
    draws. Under data parallelism a step's global batch interleaves the processes' batches (rank 0's first row,
    rank 1's first, ...): rank r holds every world-size-th row of the epoch's order from r, so this is the order
    of one process with the whole batch, and the two runs, which train alike, record one digest (batches that are
    grouped by length are grouped per process, and differ)."""
    per_process_batch = samplers[0].batch_size
    steps = []
    for epoch in range(epochs):
        shards = [sampler.shard(epoch) for sampler in samplers]
        for b in range(batches_per_epoch):
            parts = [shard[b * per_process_batch:(b + 1) * per_process_batch] for shard in shards]
            steps.append([part[k] for k in range(max(map(len, parts))) for part in parts if k < len(part)])
            if max_steps is not None and len(steps) >= max_steps:
                return steps
    return steps


def batch_order_digest(steps: list[list[int]], train_rows: list[int]) -> str:
    """The training batches of every epoch, as train-file row ids (planned_batches), step by step. The meta
    split's batches are not in it: only the meta-learned schemes draw them."""
    h = hashlib.sha256()
    for step in steps:
        _mix_json(h, [train_rows[i] for i in step])
    return _digest(h)


def epochs_planned(max_epochs: int | None, max_steps: int | None, batches_per_epoch: int) -> int:
    """How many epochs the trainer settings let the run start: max_epochs, or as many as max_steps needs."""
    if max_epochs is not None and max_epochs >= 0:
        return max_epochs
    if max_steps:
        return math.ceil(max_steps / batches_per_epoch)
    return 1000  # Lightning's default max_epochs where neither is set
