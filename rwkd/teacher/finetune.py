"""The teacher stage: KD needs a teacher fine-tuned on the task.

A fine-tuned teacher is cached under `paths.teachers`, keyed by everything that shapes it (task, data
content, teacher config, fine-tuning settings), so every student run and sweep job on the same task
distils the same teacher and only the first one pays for it. `teacher.path=` skips the stage.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from rwkd import distributed
from rwkd.atomic import write_json
from rwkd.baselines import majority_metrics
from rwkd.errors import RwkdError
from rwkd.locks import waiting_lock
from rwkd.models import load_finetuned
from rwkd.records.provenance import file_sha256
from rwkd.run.assemble import build_datamodule, build_trainer, task_of, teacher_tokenizer_name
from rwkd.run.evaluate import score
from rwkd.run.export import save_classifier
from rwkd.selection import selection_metric
from rwkd.training.checkpointing import LAST, model_state, read_checkpoint
from rwkd.training.teacher_finetuning import TeacherFineTuning

TEACHER_RECORD = "teacher.json"
WEIGHTS = "model.safetensors"  # what save_pretrained writes


@dataclass
class Teacher:
    model: torch.nn.Module | None  # None: only its outputs are at hand (teacher.outputs)
    path: str
    dev_metrics: dict
    origin: str  # "given", "cache", "fine-tuned" or "outputs"
    weights_sha256: str | None = None  # of the fine-tuned weights: runs that share a teacher share this
    record: dict | None = None  # teacher.json of a fine-tuned teacher (or outputs.json): history, timing, key
    outputs: object | None = None  # the TeacherOutputs read instead of the model (rwkd/teacher/outputs.py)

    @property
    def shape(self) -> dict:
        """num_hidden_layers, hidden_size and num_labels, from the model or the outputs' record."""
        if self.model is not None:
            c = self.model.config
            return {"num_hidden_layers": c.num_hidden_layers, "hidden_size": c.hidden_size, "num_labels": c.num_labels}
        return self.record["shape"]


def _trainer_settings_that_shape_training(cfg: DictConfig) -> dict:
    t = cfg.trainer
    return {k: t.get(k) for k in ("limit_train_batches", "max_steps", "precision")}


def _finetune_key(cfg: DictConfig) -> dict:
    finetune = OmegaConf.to_container(cfg.teacher.finetune, resolve=True)
    if finetune.get("threads") is None:  # unpinned: the key (and folder) of a teacher cached before the setting
        finetune.pop("threads", None)
    return finetune


def teacher_key(cfg: DictConfig, train_fingerprint: str, dev_fingerprint: str) -> dict:
    return {
        "task": cfg.task.name,
        "model": OmegaConf.to_container(cfg.teacher.model, resolve=True),
        "finetune": _finetune_key(cfg),
        "tokenizer": teacher_tokenizer_name(cfg),
        "data": {
            "train": train_fingerprint,
            "dev": dev_fingerprint,
            **{k: cfg.data.get(k) for k in ("max_len", "max_train_samples", "meta_size", "split_seed")},
        },
        "trainer": _trainer_settings_that_shape_training(cfg),
    }


def teacher_dir(cfg: DictConfig, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cfg.paths.teachers).resolve() / cfg.task.name / f"{cfg.teacher.name}-{digest}"


def _teacher_settings(cfg: DictConfig) -> DictConfig:
    """The run's config as the teacher stage sees it: the teacher always scores the held-out meta split
    each epoch and keeps its best epoch there (never on dev), and takes batches in the plain shuffled order
    (data.group_by_length is a student-side speed setting), whatever the student run asked for, so one
    cached teacher serves every run whichever builds it."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.data.eval_meta_split = True  # scored where there is one (data.meta_size=0: none)
        cfg.data.group_by_length = False
        cfg.data.label_noise = 0.0  # noisy labels are the student's condition: the shared teacher learns clean ones
    return cfg


def _selection(cfg: DictConfig, dm) -> str | None:
    """The metric that picks the teacher's epoch (rwkd/selection.py); dm is set up for fit."""
    return selection_metric("teacher.finetune.select_on", cfg.teacher.finetune.get("select_on", "meta"),
                            dm.meta_set is not None)


def ensure_teacher(cfg: DictConfig, tokenizer, device: torch.device | str = "cpu") -> Teacher:
    cfg = _teacher_settings(cfg)
    task = task_of(cfg)
    attn = cfg.teacher.model.get("attn_implementation")
    if cfg.teacher.get("path"):
        model = load_finetuned(cfg.teacher.path, attn_implementation=attn)
        if model.config.num_labels != task.num_labels:
            raise RwkdError(
                f"teacher.path={cfg.teacher.path} has {model.config.num_labels} labels; task {task.name} needs {task.num_labels}"
            )
        dm = build_datamodule(cfg, tokenizer)
        dm.setup("validate")
        return Teacher(model, str(cfg.teacher.path), score(model, dm, device), "given")

    dm, key, folder = _locate(cfg, tokenizer)
    record_path = folder / TEACHER_RECORD
    if not record_path.is_file():
        if os.environ.get("WORLD_SIZE", "1") != "1":
            # every process was started at once (torchrun, SLURM): the teacher cannot be fine-tuned by one of them
            raise RwkdError(f"no fine-tuned teacher for {task.name} in {folder}; under a multi-process launch run "
                            f"`rwkd teacher task={task.name}` first (one process, with the run's teacher, kd.teachers "
                            "and student.source settings: it fine-tunes them all), or give teacher.path=")
        if distributed.launch_rank() != 0:
            distributed.wait_for(record_path, "the fine-tuned teacher")
    if distributed.launch_rank() != 0:  # rank 0 has fine-tuned or found it (waited for above)
        return _cached(folder, attn)
    # one process fine-tunes a given teacher; another sweep needing it waits, then reuses it
    lock = folder.parent.parent / ".locks" / f"{folder.parent.name}-{folder.name}.lock"
    with waiting_lock(lock, f"fine-tuning the teacher in {folder}"):
        if record_path.is_file() and _cache_is_intact(folder):
            return _cached(folder, attn)
        return _finetune(cfg, tokenizer, dm, key, folder)


def teacher_folder(cfg: DictConfig, tokenizer) -> Path:
    """Where ensure_teacher finds (or would fine-tune) the teacher of `cfg`, without fine-tuning anything: the
    folder named by its cache key (rwkd/teacher/student_source.py resolves a student's source with it)."""
    return _locate(_teacher_settings(cfg), tokenizer)[2]


def _locate(cfg: DictConfig, tokenizer) -> tuple:
    """The teacher stage's data module, cache key and folder for `cfg` (as _teacher_settings left it)."""
    # the teacher's batch order follows its own seed: one teacher serves every student seed
    dm = build_datamodule(cfg, tokenizer, batch_size=cfg.teacher.finetune.batch_size,
                          order_seed=int(cfg.teacher.finetune.seed))
    first_dev = task_of(cfg).dev_splits[0]
    key = teacher_key(cfg, dm.source.fingerprint("train"), dm.source.fingerprint(first_dev))
    return dm, key, teacher_dir(cfg, key)


def _cached(folder: Path, attn) -> Teacher:
    record = json.loads((folder / TEACHER_RECORD).read_text())
    model = load_finetuned(folder / "model", attn_implementation=attn)
    print(f"rwkd: reusing the fine-tuned teacher in {folder} (dev {record['dev_metrics']})", flush=True)
    return Teacher(model, str(folder / "model"), record["dev_metrics"], "cache", record["weights_sha256"], record)


def _cache_is_intact(folder: Path) -> bool:
    """True if the cached teacher's weights are the bytes its record names; a damaged cache is removed
    (and rebuilt by the caller), never loaded."""
    try:
        record = json.loads((folder / TEACHER_RECORD).read_text())
        expected = record["weights_sha256"]
        intact = file_sha256(folder / "model" / WEIGHTS) == expected
        problem = "its weights do not match the SHA-256 in teacher.json"
    except (OSError, ValueError, KeyError) as exc:
        intact, problem = False, f"it is incomplete ({type(exc).__name__}: {exc})"
    if not intact:
        print(f"rwkd: warning: the cached teacher in {folder} is damaged ({problem}); fine-tuning it again", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
    return intact


def _fine_tune_cost(elapsed: dict) -> dict:
    """The fine-tuning's time over every process that ran it (the module's clock is kept in its checkpoints)."""
    return {"fine_tune_seconds": elapsed["wall_seconds"], "fine_tune_cpu_seconds": elapsed["cpu_seconds"],
            "fine_tune_processes": elapsed["processes"]}


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """The fine-tuning's thread count: CPU kernels split their sums by thread, so the same teacher on another
    machine is the same bits only under the same count (seen: MiniLM on MRPC, 1 thread against 2)."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _finetune(cfg: DictConfig, tokenizer, dm, key: dict, folder: Path) -> Teacher:
    with _torch_threads(cfg.teacher.finetune.get("threads")) as threads:
        return _finetune_with(cfg, tokenizer, dm, key, folder, threads)


def _finetune_with(cfg: DictConfig, tokenizer, dm, key: dict, folder: Path, threads: int) -> Teacher:
    task = task_of(cfg)
    ft = cfg.teacher.finetune
    print(f"rwkd: fine-tuning the teacher {cfg.teacher.name} on {task.name} ({ft.epochs} epochs) into {folder}", flush=True)
    pl.seed_everything(int(ft.seed), workers=True, verbose=False)
    model = instantiate(cfg.teacher.model, num_labels=task.num_labels, seed=int(ft.seed))
    dm.setup("fit")
    selection = _selection(cfg, dm)
    module = TeacherFineTuning(
        model, task, optim=OmegaConf.to_container(ft, resolve=True), nan_policy=cfg.nan_policy,
        run_info={"role": "teacher", "tokenizer": teacher_tokenizer_name(cfg), "max_len": cfg.data.max_len},
        score_meta_split=dm.meta_set is not None, selection=selection,
    )
    # The work folder is named by the teacher's key: an interrupted fine-tuning resumes from its last.ckpt
    work = folder.parent / f".{folder.name}.work"
    resume_from = work / "checkpoints" / LAST
    if resume_from.is_file():
        try:
            if not model_state(read_checkpoint(resume_from, "teacher fine-tuning"), TeacherFineTuning.model_attr):
                raise RwkdError(f"{resume_from} holds no teacher weights (written by an older rwkd)")
            print(f"rwkd: resuming the teacher's fine-tuning from {resume_from}", flush=True)
        except RwkdError as exc:
            print(f"rwkd: warning: {exc}; fine-tuning the teacher from the start", flush=True)
            shutil.rmtree(work, ignore_errors=True)
    if not resume_from.is_file():
        resume_from = None
    # one process: under Lightning's DDP launcher the other ranks start only at the student's fit
    trainer, checkpoint, _ = build_trainer(cfg, work, max_epochs=int(ft.epochs), with_loggers=False, single_process=True,
                                           monitor=selection)
    trainer.fit(module, datamodule=dm, ckpt_path=resume_from, weights_only=True)
    if not checkpoint.best_model_path:
        raise RwkdError(f"the teacher's fine-tuning for {task.name} saved no checkpoint; check trainer settings")
    model.load_state_dict(model_state(read_checkpoint(checkpoint.best_model_path, "teacher fine-tuning"),
                                      TeacherFineTuning.model_attr))
    best = module.best_epoch()
    save_classifier(model, tokenizer, task, folder / "model")
    weights_sha256 = file_sha256(folder / "model" / WEIGHTS)
    first_dev = task.dev_splits[0]
    majority = majority_metrics(task, [e.label for e in dm.dev_sets[first_dev].examples])
    record = {"key": key, "dev_metrics": best, "selected_on": selection or "last epoch", "history": module.history,
              **_fine_tune_cost(module.clock.elapsed()), "fine_tune_threads": threads,
              "weights_sha256": weights_sha256,
              "majority": {f"val/{k}": v for k, v in majority.items()}}
    write_json(folder / TEACHER_RECORD, record)
    shutil.rmtree(work, ignore_errors=True)
    return Teacher(model.eval(), str(folder / "model"), best, "fine-tuned", weights_sha256, record)
