"""A fine-tuned teacher's outputs on a task as an artefact of their own: what `rwkd teacher` writes, and what
`rwkd train teacher.outputs=DIR` distils instead of running (or even having) the teacher.

Fine-tuning a 110M teacher costs CPU-hours, and a teacher rebuilt on another kind of CPU has other weights;
its outputs are a few hundred kB per task. A folder holds:

- `logits.parquet`: one row per sample the teacher scored (split, idx, logit_0..C-1): every train-file row of
  the run's pool (the rows trained on and the held-out meta split) and every dev row;
- `states_<layer>.parquet` (when asked, `rwkd teacher teacher_outputs.states=[-1]`): the [CLS] state after that layer
  for the train-file rows, for hidden-state terms; float32, or float16 (`teacher_outputs.state_dtype=float16`: half
  the size, for outputs that are committed; a 768-wide state is 1.5 kB a row in float16), read back as float32;
- `outputs.json`, written last: the command, commit, teacher key and weights' SHA-256, the teacher's dev and
  meta-split scores, its tokenizer and max_len, the data fingerprints and split settings, and each file's
  SHA-256. `id` (a hash over the files' hashes) names the outputs in every run that reads them.

The folder is named like the teacher's cache folder (its name and the hash of what shaped it), so the same
teacher settings always name the same outputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from rwkd.atomic import write_json, write_with
from rwkd.checkout import locate
from rwkd.errors import RwkdError
from rwkd.records.provenance import file_sha256
from rwkd.teacher.cache import compute_logits, compute_outputs
from rwkd.training.teacher_signal import CachedTeacher

OUTPUTS_RECORD = "outputs.json"
LOGITS = "logits.parquet"
FORMAT = 1
STATE_DTYPES = ("float32", "float16")


def states_file(layer: int) -> str:
    return f"states_{layer}.parquet"


def _write_table(path: Path, rows: list[tuple[str, int, list[float]]], column: str, dtype: str = "float32") -> None:
    """Logits as one float32 column per class (logit_0, ...); states, hundreds wide, as one fixed-size list column
    (`state`) of `dtype`: the values without a column's overhead per dimension."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    width = len(rows[0][2]) if rows else 0
    columns = {"split": pa.array([r[0] for r in rows], pa.string()), "idx": pa.array([r[1] for r in rows], pa.int64())}
    if column == "state":
        import numpy as np

        flat = pa.array(np.asarray([v for r in rows for v in r[2]], dtype=np.float32).astype(dtype), getattr(pa, dtype)())
        columns["state"] = pa.FixedSizeListArray.from_arrays(flat, width)
    else:
        for c in range(width):
            columns[f"{column}_{c}"] = pa.array([r[2][c] for r in rows], pa.float32())
    write_with(path, lambda tmp: pq.write_table(pa.table(columns), tmp))


def write_outputs(folder: Path, model, dm, record: dict, states: list[int] = (), state_dtype: str = "float32") -> dict:
    """Computes the teacher's logits on the train pool and dev (and [CLS] states after `states` layers on the train
    pool, stored as `state_dtype`) from `dm` (tokenized by the teacher's tokenizer, set up for fit) and writes the
    folder; returns its record. `record` carries what describes the teacher and the data (see the module's docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = [s for s in (dm.train_set, dm.meta_set) if s is not None]
    pad = dm.tokenizer.pad_token_id
    wanted = [None, *states]  # logits and states from one pass over the pool
    pool_outputs = [compute_outputs(model, split, pad, wanted) for split in pool]
    rows = [("train", i, v) for found in pool_outputs for i, v in sorted(found[None].items())]
    for name, split in dm.dev_sets.items():
        rows += [(name, i, v) for i, v in sorted(compute_logits(model, split, pad).items())]
    _write_table(folder / LOGITS, rows, "logit")
    files = {LOGITS: file_sha256(folder / LOGITS)}
    for layer in states:
        state_rows = [("train", i, v) for found in pool_outputs for i, v in sorted(found[layer].items())]
        _write_table(folder / states_file(layer), state_rows, "state", state_dtype)
        files[states_file(layer)] = file_sha256(folder / states_file(layer))
    meta_rows = sorted(e.idx for e in dm.meta_set.examples) if dm.meta_set is not None else []
    full = {**record, "format": FORMAT, "files": files, "states": list(states), "state_dtype": state_dtype,
            "meta_rows_sha256": hashlib.sha256(json.dumps(meta_rows).encode()).hexdigest(),
            "id": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()}
    write_json(folder / OUTPUTS_RECORD, full)
    return full


@dataclass
class TeacherOutputs:
    """A folder of teacher outputs, checked against its record on opening."""

    folder: Path
    record: dict

    @classmethod
    def open(cls, folder: str | Path) -> TeacherOutputs:
        folder = locate(folder)
        path = folder / OUTPUTS_RECORD
        if not path.is_file():
            raise RwkdError(f"teacher.outputs={folder} holds no {OUTPUTS_RECORD}; accepted: a folder written by "
                            "`rwkd teacher` (its outputs line names it)")
        try:
            record = json.loads(path.read_text())
            files = record["files"]
        except (ValueError, KeyError):
            raise RwkdError(f"{path} is not a teacher outputs record; write the folder again with `rwkd teacher`") from None
        for name, sha in files.items():
            if not (folder / name).is_file() or file_sha256(folder / name) != sha:
                raise RwkdError(f"{folder / name} is missing or does not match the SHA-256 in {path}; write the folder "
                                "again with `rwkd teacher`")
        return cls(folder, record)

    def check_data(self, task: str, train_fingerprint: str, pool_ids: list[int]) -> None:
        """The outputs must be of this task's train file and cover every row the run trains or meta-learns on."""
        if self.record.get("task") != task:
            raise RwkdError(f"teacher.outputs={self.folder} are for task {self.record.get('task')}, not {task}; "
                            f"accepted: outputs written by `rwkd teacher task={task}`")
        if self.record["data"]["train"] != train_fingerprint:
            raise RwkdError(f"teacher.outputs={self.folder} were computed on another {task} train file (fingerprint "
                            f"{self.record['data']['train'][:12]}, here {train_fingerprint[:12]}); write them again "
                            "from this data")
        have = set(self._ids("train", LOGITS))
        missing = [i for i in pool_ids if i not in have]
        if missing:
            raise RwkdError(f"teacher.outputs={self.folder} have no outputs for {len(missing)} train rows this run uses "
                            f"(e.g. row {missing[0]}): they were written for another data.max_train_samples, "
                            "meta_size or split_seed; write them again with the run's data settings")

    def _ids(self, split: str, name: str) -> list[int]:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = pq.read_table(self.folder / name, columns=["split", "idx"])
        return table.filter(pc.equal(table.column("split"), split)).column("idx").to_pylist()

    def table(self, split: str = "train", layer: int | None = None) -> torch.Tensor:
        """A dense table indexed by sample idx (NaN rows: samples not held) of logits, or states after `layer`."""
        import numpy as np
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        name = LOGITS if layer is None else states_file(layer)
        if layer is not None and layer not in self.record.get("states", []):
            raise RwkdError(f"teacher.outputs={self.folder} hold no [CLS] states after layer {layer} (they hold "
                            f"{self.record.get('states') or 'none'}); write them with `rwkd teacher "
                            f"teacher_outputs.states=[{layer}]`, or run the teacher itself")
        data = pq.read_table(self.folder / name)
        data = data.filter(pc.equal(data.column("split"), split))
        idx = torch.from_numpy(data.column("idx").to_numpy().astype(np.int64))
        if layer is None:
            names = [n for n in data.column_names if n.startswith("logit_")]
            values = np.stack([data.column(n).to_numpy() for n in names], axis=1)
        else:
            states = data.column("state").combine_chunks()
            values = states.flatten().to_numpy().reshape(len(states), states.type.list_size)
        values = torch.from_numpy(values.astype(np.float32))
        table = torch.full((int(idx.max()) + 1 if len(idx) else 0, values.shape[1]), float("nan"))
        table[idx] = values
        return table

    def source(self, layer: int | None = None) -> CachedTeacher:
        return CachedTeacher(self.table("train", layer))


def outputs_teacher(folder: str | Path, task: str):
    """A Teacher with no model: the outputs stand in for it (their record holds its scores and shape)."""
    from rwkd.teacher.finetune import Teacher

    outputs = TeacherOutputs.open(folder)
    record = outputs.record
    if record.get("task") != task:
        raise RwkdError(f"teacher.outputs={folder} are for task {record.get('task')}, not {task}; accepted: outputs "
                        f"written by `rwkd teacher task={task}`")
    print(f"rwkd: distilling the teacher outputs in {folder} (id {record['id'][:12]}, dev {record['dev_metrics']})",
          flush=True)
    return Teacher(None, str(Path(folder).resolve()), record["dev_metrics"], "outputs", record.get("weights_sha256"),
                   record, outputs)


def outputs_folder(root: str | Path, task: str, teacher) -> Path:
    """Named like the teacher's cache folder (name and settings hash); a given teacher by its path's hash."""
    if teacher.record and teacher.origin in ("cache", "fine-tuned"):
        name = Path(teacher.path).parent.name
    else:
        name = "given-" + hashlib.sha256(str(teacher.path).encode()).hexdigest()[:12]
    return Path(root).resolve() / task / name


def write_teacher_outputs(cfg, teacher, tokenizer, states: list[int] = (), state_dtype: str = "float32") -> tuple[Path, dict]:
    """`rwkd teacher`'s outputs for the configured teacher (cfg.teacher), into paths.teacher_outputs."""
    from rwkd.records import provenance
    from rwkd.run.assemble import build_datamodule, teacher_tokenizer_name

    dm = build_datamodule(cfg, tokenizer)
    dm.setup("fit")
    task = cfg.task.name
    folder = outputs_folder(cfg.paths.teacher_outputs, task, teacher)
    shape = {"num_hidden_layers": teacher.model.config.num_hidden_layers,
             "hidden_size": teacher.model.config.hidden_size, "num_labels": teacher.model.config.num_labels}
    source = teacher.record or {}
    record = {
        "task": task, "teacher": cfg.teacher.name, "origin": teacher.origin, "key": source.get("key"),
        "weights_sha256": teacher.weights_sha256, "dev_metrics": teacher.dev_metrics,
        "selected_on": source.get("selected_on"), "majority": source.get("majority"),
        **{k: v for k, v in source.items() if k.startswith("fine_tune_")},
        "shape": shape, "tokenizer": teacher_tokenizer_name(cfg), "max_len": cfg.data.max_len,
        "data": {"train": dm.source.fingerprint("train"),
                 **{split: dm.source.fingerprint(split) for split in dm.task.dev_splits},
                 **{k: cfg.data.get(k) for k in ("max_train_samples", "meta_size", "split_seed")}},
        "command": provenance.command_line(), "git_commit": provenance.git_commit(), "hardware": provenance.hardware(),
        "versions": provenance.package_versions(),
    }
    depth = shape["num_hidden_layers"] + 1  # hidden states: the embeddings, then one per layer
    bad = [layer for layer in states if not -depth <= layer < depth]
    if bad:
        raise RwkdError(f"teacher_outputs.states={list(states)}: layer {bad[0]} is not one of the teacher's "
                        f"{depth} hidden states; accepted: indices in [{-depth}, {depth - 1}] (0: the embeddings)")
    states = sorted({layer % depth for layer in states})  # as the terms resolve them: -1 is the last layer
    if (found := _written_already(folder, record, states, state_dtype)) is not None:
        print(f"rwkd: the teacher outputs in {folder} are those of this teacher and data already; kept", flush=True)
        return folder, found
    return folder, write_outputs(folder, teacher.model.eval(), dm, record, states, state_dtype)


def _written_already(folder: Path, record: dict, states: list[int], state_dtype: str) -> dict | None:
    """The folder's record, where it is intact and was written from the same teacher weights, task, tokenization
    and data, with every state asked for in the type asked for: `rwkd teacher` run again does not compute the same
    outputs twice."""
    if not (folder / OUTPUTS_RECORD).is_file():
        return None
    try:
        found = TeacherOutputs.open(folder).record
    except RwkdError:
        return None  # damaged: written again
    same = all(found.get(k) == record[k] for k in ("task", "weights_sha256", "tokenizer", "max_len", "data", "shape"))
    same_states = set(states) <= set(found.get("states", [])) and (
        not states or found.get("state_dtype", "float32") == state_dtype)
    return found if same and record["weights_sha256"] and same_states else None
