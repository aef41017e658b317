"""`rwkd eval`: score a checkpoint or an exported student on a task's dev set(s)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from rwkd.atomic import write_json
from rwkd.config.settings import check_eval_settings
from rwkd.data.datamodule import GlueDataModule
from rwkd.data.sources import default_glue_dir
from rwkd.errors import RwkdError
from rwkd.models import load_tokenizer
from rwkd.run.evaluate import load_for_eval, score
from rwkd.tasks import get_task


def load_for_task(ckpt: Path, task_name: str | None, other_task: Callable[[str], str] | None, what: str | None = None):
    """(model, info, task): the model at `ckpt`, checked to answer `task_name` (None: the task it records).

    A model trained on another task is refused unless `other_task` is None; `other_task(trained_on)` says what the
    user can do instead. `what` names the model in messages (default `ckpt=PATH`). `rwkd predict` checks the same."""
    what = what or f"ckpt={ckpt}"
    model, info = load_for_eval(ckpt)
    trained_on = info.get("task")
    task_name = task_name or trained_on
    if not task_name:
        raise RwkdError(f"{what} does not record its task; give task=NAME")
    if trained_on and task_name != trained_on and other_task is not None:
        raise RwkdError(f"{what} was trained on {trained_on}, not task={task_name}; {other_task(trained_on)}")
    task = get_task(task_name)
    if model.config.num_labels != task.num_labels:
        raise RwkdError(f"{what} has {model.config.num_labels} output(s); task {task.name} needs {task.num_labels}")
    return model, info, task


def evaluate(cfg: DictConfig) -> dict:
    check_eval_settings(cfg)
    ckpt = Path(str(cfg.ckpt))
    other_task = None if cfg.get("cross_task", False) else (
        lambda trained_on: f"drop task= to score it on {trained_on}, or add cross_task=true to score it anyway")
    model, info, task = load_for_task(ckpt, cfg.task.name if cfg.get("task") else None, other_task)
    tokenizer = load_tokenizer(info["tokenizer"])
    max_len = cfg.data.max_len or info.get("max_len") or 128
    max_eval = cfg.data.max_eval_samples if cfg.data.max_eval_samples is not None else info.get("max_eval_samples")
    datamodule = GlueDataModule(
        task.name, tokenizer, dir=cfg.data.dir or default_glue_dir(), max_len=max_len,
        eval_batch_size=cfg.data.eval_batch_size, max_eval_samples=max_eval,
    )
    datamodule.setup("validate")
    metrics = score(model, datamodule, cfg.device)

    print(f"{task.name} dev ({datamodule.source.describe()}), {ckpt}")
    for name, value in metrics.items():
        print(f"  {name:<24} {value:.4f}")
    # beside the checkpoint or export, never inside an export folder
    out = Path(cfg.out) if cfg.out else ckpt.parent / f"{ckpt.stem}_eval_{task.name}.json"
    try:
        write_json(out, {"ckpt": str(ckpt), "task": task.name, "max_len": max_len, "max_eval_samples": max_eval,
                         "data": datamodule.source.describe(), "metrics": metrics})
    except OSError as exc:  # (no space is already an RwkdError)
        raise RwkdError(f"out={out} cannot be written ({exc.strerror or type(exc).__name__}); "
                        "give a writable path with out=FILE") from None
    print(f"rwkd: wrote {out}")
    return metrics
