"""`rwkd predict`: a model's answers to a task's test files, written as the GLUE leaderboard takes them
(rwkd/run/submission.py); with all_tasks=DIR one model per task, gathered into one folder and its zip.

Every model is loaded and checked, and every file read, before anything is written: a wrong model or a missing
file leaves the output folder as it was.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rwkd.commands.eval import load_for_task
from rwkd.config.settings import check_predict_settings
from rwkd.data.datamodule import TokenizedSplit
from rwkd.data.glue_tsv import Example, read_unlabelled
from rwkd.data.sources import DIAGNOSTIC_PLACES, GlueSource, default_glue_dir, find_diagnostic
from rwkd.errors import RwkdError
from rwkd.models import load_tokenizer
from rwkd.run.evaluate import predict as answers_of
from rwkd.run.submission import AX, answer_strings, missing_files, write_predictions, write_zip
from rwkd.tasks import TASKS, TaskSpec

# where a task's folder under all_tasks=DIR holds its model (the first found): an export, a copied best.ckpt, a run
MODEL_PLACES = ("best_hf", "best.ckpt", "checkpoints/best.ckpt")


@dataclass
class Chosen:
    """A model named on the command line, before it is read."""

    task: str | None  # the task it must answer; None: the one it records
    path: Path
    what: str  # how messages name it
    other_task: Callable[[str], str]  # what to do instead when it was trained on another task


@dataclass
class Job:
    """A checked model and the files it answers: (leaderboard name, rows)."""

    chosen: Chosen
    task: TaskSpec
    info: dict
    tokenizer: object
    model: object | None  # kept when it is the only one; with many, read again when its turn comes
    files: list[tuple[str, list[Example]]] = field(default_factory=list)


def predict(cfg: DictConfig) -> list[Path]:
    check_predict_settings(cfg)
    split, data_dir = str(cfg.split), cfg.data.dir or default_glue_dir()
    chosen = chosen_models(cfg)
    gathering = cfg.ckpt is None
    jobs = [prepared(c, split, data_dir, cfg.ax, keep_model=not gathering) for c in chosen]
    if cfg.ax is not None and not any(job.task.name == "mnli" for job in jobs):
        raise RwkdError(f"ax={cfg.ax} is MNLI's diagnostic set, answered by an MNLI model, and none is given; "
                        "accepted: ax= with an MNLI model (ckpt=, or all_tasks=DIR holding mnli/)")
    out = Path(str(cfg.out)) if cfg.out else default_out(cfg, chosen[0].path, split)
    writable(out)
    written = [path for job in jobs for path in answered(job, cfg, split, out)]
    if not gathering:
        return written
    zip_path = write_zip(written, out.with_name(out.name + ".zip"))
    print(f"rwkd: wrote {zip_path} ({len(written)} files at its root)")
    if split == "test" and (missing := missing_files(written)):
        print(f"rwkd: a full GLUE submission also has {', '.join(missing)}")
    return [*written, zip_path]


def chosen_models(cfg: DictConfig) -> list[Chosen]:
    """ckpt=PATH (one model), or all_tasks=DIR and/or +models.TASK=PATH (one per task, in GLUE's task order)."""
    ckpt, root = cfg.ckpt, cfg.all_tasks
    mapping = OmegaConf.to_container(cfg.models) if cfg.get("models") else {}
    task_name = cfg.task.name if cfg.get("task") else None
    if ckpt is not None:
        if root is not None or mapping:
            raise RwkdError(f"ckpt={ckpt} gives one model, and all_tasks/models one per task; accepted: one of the two")

        def advice(trained_on: str) -> str:
            return f"drop task= to predict {trained_on}'s test files, or give a model trained on {task_name}"

        return [Chosen(task_name, Path(str(ckpt)), f"ckpt={ckpt}", advice)]
    if root is None and not mapping:
        raise RwkdError("rwkd predict needs a model; accepted: ckpt=PATH (one model) or all_tasks=DIR (one per task, "
                        f"DIR/<task>/{' or '.join(MODEL_PLACES)})")
    if task_name is not None:
        raise RwkdError(f"task={task_name} names the task of one model (ckpt=), and all_tasks/models name one per task; "
                        "accepted: all_tasks=DIR without task=")
    found = gathered(Path(str(root))) if root is not None else {}
    for name, path in mapping.items():
        task = TASKS.get(str(name).lower())
        if task is None:
            raise RwkdError(f"models.{name} is not a task; accepted: models.TASK=PATH for TASK among {', '.join(TASKS)}")
        found[task.name] = Chosen(task.name, Path(str(path)), f"models.{name}={path}", _belongs_elsewhere)
    if not found:
        raise RwkdError(f"all_tasks={root} holds no model; expected {root}/<task>/{' or '.join(MODEL_PLACES)} "
                        f"for tasks among {', '.join(TASKS)}")
    return [found[name] for name in TASKS if name in found]


def _belongs_elsewhere(trained_on: str) -> str:
    return f"each task's model must be trained on that task; this one belongs to {trained_on}"


def gathered(root: Path) -> dict[str, Chosen]:
    """The model in each task folder of `root` (named rte or RTE, sst2 or SST-2)."""
    if not root.is_dir():
        raise RwkdError(f"all_tasks={root} is not a folder; expected one folder per task holding a model, "
                        f"e.g. {root}/rte/best_hf")
    by_folder = {name: task for task in TASKS.values() for name in (task.name, task.folder)}
    found: dict[str, Chosen] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        model = next((folder / place for place in MODEL_PLACES if (folder / place).exists()), None)
        if model is None:
            continue  # not a model's folder (an earlier submission folder, say)
        task = by_folder.get(folder.name) or TASKS.get(folder.name.lower())
        if task is None:
            raise RwkdError(f"all_tasks: {folder} holds a model, and {folder.name!r} is not a task; accepted folder "
                            f"names: {', '.join(TASKS)} (or GLUE's {', '.join(t.folder for t in TASKS.values())})")
        if task.name in found:
            raise RwkdError(f"all_tasks: {found[task.name].path} and {model} are both models for {task.name}; keep one")
        found[task.name] = Chosen(task.name, model, f"{model} (the {task.name} model)", _belongs_elsewhere)
    return found


def prepared(chosen: Chosen, split: str, data_dir: str | None, ax, keep_model: bool) -> Job:
    """The model checked against its task, and the rows of every file it answers."""
    model, info, task = load_for_task(chosen.path, chosen.task, chosen.other_task, chosen.what)
    job = Job(chosen, task, info, load_tokenizer(info["tokenizer"]), model if keep_model else None)
    source = GlueSource(task, data_dir)
    splits = task.test_splits if split == "test" else task.dev_splits
    for stem, name in zip(splits, task.submission_names, strict=True):
        job.files.append((name, source.read_test(stem) if split == "test" else source.read(stem)))
    if task.name == "mnli" and (diagnostic := diagnostic_file(ax, split, data_dir)) is not None:
        job.files.append((AX, read_unlabelled(diagnostic, task)))
    return job


def diagnostic_file(ax, split: str, data_dir: str | None) -> Path | None:
    """MNLI's diagnostic set: ax=PATH, else found beside the data; only test predictions have one."""
    if ax is None:
        found = find_diagnostic(data_dir) if split == "test" else None
        if split == "test" and found is None:
            print(f"rwkd: no diagnostic set (ax=PATH, or {' or '.join(DIAGNOSTIC_PLACES)} in {data_dir}): "
                  f"{AX}.tsv is not written", flush=True)
        return found
    if split != "test":
        raise RwkdError(f"ax={ax} is a test set, and split={split}; accepted: ax= with split=test")
    if not Path(str(ax)).is_file():
        raise RwkdError(f"ax={ax} does not exist; give MNLI's diagnostic set (diagnostic.tsv of the GLUE download)")
    return Path(str(ax))


def default_out(cfg: DictConfig, first_model: Path, split: str) -> Path:
    if cfg.ckpt is not None:  # beside the checkpoint or export, never inside an export folder
        return first_model.parent / f"{first_model.stem}_predictions_{split}"
    return Path(str(cfg.all_tasks or ".")) / f"submission_{split}"


def writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise RwkdError(f"out={out} cannot be written ({exc.strerror or type(exc).__name__}); "
                        "give a writable folder with out=DIR") from None


def answered(job: Job, cfg: DictConfig, split: str, out: Path) -> list[Path]:
    """Writes the job's files; returns their paths."""
    model = job.model or load_for_task(job.chosen.path, job.task.name, None, job.chosen.what)[0]
    max_len = cfg.data.max_len or job.info.get("max_len") or 128
    written = []
    for name, examples in job.files:
        rows = TokenizedSplit(examples, job.tokenizer, max_len)
        answers = answers_of(model, rows, job.task, job.tokenizer.pad_token_id, cfg.data.eval_batch_size, cfg.device)
        # a test row goes by its file's own id; a dev row (dev files may have none) by its row number
        ids = [e.file_id if e.file_id is not None else str(e.idx) for e in examples]
        written.append(write_predictions(out / f"{name}.tsv", ids, answer_strings(answers, job.task)))
        print(f"rwkd: wrote {written[-1]} ({len(ids)} {job.task.name} {split} rows, {job.chosen.what})", flush=True)
    return written
