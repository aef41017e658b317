"""The teacher-output cache: the teacher is frozen, so its outputs for a sample never change. They are computed once
per (teacher weights, task, split file, tokenization, sample set), stored as Parquet (one row per sample index)
with a JSON record holding the file's SHA-256, and served as a CachedTeacher table. A different teacher, data
file or tokenization gives a different key; a file whose hash does not match its record is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from rwkd.atomic import write_json, write_with
from rwkd.data.datamodule import PadCollator, TokenizedSplit
from rwkd.distributed import launch_rank, wait_for
from rwkd.models import model_inputs
from rwkd.records.provenance import file_sha256
from rwkd.training.teacher_signal import CachedTeacher


def model_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 over parameter names and bytes: any change of the teacher's weights changes it."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def compute_logits(model, split: TokenizedSplit, pad_token_id: int, batch_size: int = 128,
                   layer: int | None = None) -> dict[int, list[float]]:
    """Logits (or [CLS] states after `layer`) of every sample of `split`, batched by length so little time
    goes to padding."""
    return compute_outputs(model, split, pad_token_id, [layer], batch_size)[layer]


@torch.no_grad()
def compute_outputs(model, split: TokenizedSplit, pad_token_id: int, outputs: list[int | None],
                    batch_size: int = 128) -> dict[int | None, dict[int, list[float]]]:
    """Several of the teacher's outputs (None: logits; a layer: the [CLS] state after it) of every sample of
    `split`, from one forward pass per batch: a 110M teacher's pass is the cost of writing its outputs."""
    model.eval()
    device = next(model.parameters()).device
    collate = PadCollator(pad_token_id, regression=False)
    order = sorted(range(len(split)), key=lambda i: len(split.input_ids[i]))
    out: dict[int | None, dict[int, list[float]]] = {layer: {} for layer in outputs}
    states = any(layer is not None for layer in outputs)
    for start in range(0, len(order), batch_size):
        items = [split[i] for i in order[start:start + batch_size]]
        for it in items:
            it["labels"] = 0
        batch = {k: v.to(device) for k, v in collate(items).items()}
        forward = model(**model_inputs(batch), output_hidden_states=states)
        ids = batch["idx"].tolist()
        for layer in outputs:
            values = forward.logits if layer is None else forward.hidden_states[layer][:, 0]
            for i, row in zip(ids, values.float().cpu().tolist(), strict=True):
                out[layer][i] = row
    return out


class TeacherLogitCache:
    """One cache file (+ its JSON record) for one teacher, split file, sample set and output."""

    def __init__(self, root: str | Path, key: dict):
        self.key = key
        self.column = "logit" if "output" not in key else "state"
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        self.path = Path(root) / f"{key['task']}-{key['split']}-{digest}.parquet"
        self.record_path = self.path.with_suffix(".json")

    def load(self, num_labels: int) -> torch.Tensor | None:
        """The dense table, or None when absent, stale or corrupt (then it is rebuilt)."""
        if not (self.path.is_file() and self.record_path.is_file()):
            return None
        try:
            record = json.loads(self.record_path.read_text())
        except json.JSONDecodeError:
            record = {}
        if record.get("key") != self.key or record.get("sha256") != file_sha256(self.path):
            print(f"rwkd: teacher logit cache {self.path} does not match its record (corrupt or stale); rebuilding",
                  file=sys.stderr, flush=True)
            return None
        import numpy as np
        import pyarrow.parquet as pq

        data = pq.read_table(self.path)
        idx = torch.from_numpy(data.column("idx").to_numpy().astype(np.int64))
        values = torch.from_numpy(np.stack([data.column(f"{self.column}_{c}").to_numpy() for c in range(num_labels)],
                                           axis=1).astype(np.float32))
        table = torch.full((int(idx.max()) + 1 if len(idx) else 0, num_labels), float("nan"))
        table[idx] = values
        return table

    def save(self, logits: dict[int, list[float]], num_labels: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        ids = sorted(logits)
        columns = {"idx": pa.array(ids, pa.int64())}
        for c in range(num_labels):
            columns[f"{self.column}_{c}"] = pa.array([logits[i][c] for i in ids], pa.float32())
        write_with(self.path, lambda tmp: pq.write_table(pa.table(columns), tmp))
        write_json(self.record_path, {"key": self.key, "sha256": file_sha256(self.path), "rows": len(ids)})


def cached_teacher(model, splits: list[tuple[str, TokenizedSplit]], task: str, cache_root: str | Path,
                   tokenization: dict, pad_token_id: int, num_labels: int, fingerprints: dict[str, str],
                   layer: int | None = None) -> CachedTeacher:
    """A CachedTeacher covering every sample of `splits` (split name, tokenised samples), built if needed.
    With `layer`, it holds the [CLS] states after that layer, `num_labels` being their width.

    Train and meta samples share the train file's index space, so they go into one table.
    """
    teacher_fp = model_fingerprint(model)
    tables = []
    for split_name, split in splits:
        ids = sorted(e.idx for e in split.examples)
        key = {"teacher": teacher_fp, "task": task, "split": split_name, "data": fingerprints[split_name],
               "tokenization": tokenization, "samples": hashlib.sha256(json.dumps(ids).encode()).hexdigest()}
        if layer is not None:  # logit caches keep their earlier keys, so caches built before stay valid
            key["output"] = f"cls_state_{layer}"
        cache = TeacherLogitCache(cache_root, key)
        if launch_rank() != 0:  # rank 0 builds the cache; the others read it once it is complete
            wait_for(cache.record_path, "the teacher logit cache")
        table = cache.load(num_labels)
        if table is None:
            what = "logits" if layer is None else f"[CLS] states after layer {layer}"
            print(f"rwkd: computing teacher {what} for {len(split)} {task}/{split_name} samples into {cache.path}",
                  flush=True)
            cache.save(compute_logits(model, split, pad_token_id, layer=layer), num_labels)
            table = cache.load(num_labels)
        tables.append(table)
    size = max(t.shape[0] for t in tables)
    merged = torch.full((size, num_labels), float("nan"))
    for t in tables:
        rows = ~torch.isnan(t).any(-1)
        merged[: t.shape[0]][rows] = t[rows]
    return CachedTeacher(merged)
