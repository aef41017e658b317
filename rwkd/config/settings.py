"""Every setting of a run checked before any work, in one place: type, range and the rules that tie keys
together. A bad value stops the run with one line naming the key, the value and what is accepted.

`check_settings` runs on the composed config at the start of `rwkd train` and `rwkd teacher`, and the CLI
runs it on every value of a sweep before the first job starts (rwkd.config.preflight).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from rwkd.checkout import locate
from rwkd.config.in_context import check_against_the_models, check_trainer
from rwkd.errors import RwkdError
from rwkd.losses import KD_SETTINGS
from rwkd.run.assemble import STUDENT_INITS
from rwkd.run.resume import RESUME_CHOICES
from rwkd.selection import SELECTIONS
from rwkd.setting_rules import COUNT, FRACTION, INTEGER, NON_NEGATIVE, POSITIVE, Flag, Number, OneOf
from rwkd.teacher.outputs import STATE_DTYPES
from rwkd.terms import ExtraTerm, plan_extra_terms
from rwkd.training.classifier_module import NAN_POLICY


@dataclass(frozen=True)
class WrittenFolder:
    """null, or a folder holding `record` (a folder some rwkd command wrote); relative: here, else in the checkout."""

    record: str
    writer: str

    def problem(self, key: str, value) -> str | None:
        if value is None or (locate(str(value)) / self.record).is_file():
            return None
        return f"{key}={value!r} is not a folder with {self.record}; accepted: null, or a folder written by {self.writer}"


OPTIMISER = {  # optim.* and teacher.finetune.*
    "lr": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "warmup_ratio": FRACTION,
    "grad_clip": Number(low=0, optional=True),
}

FINETUNE = {  # teacher.finetune.* and student.source.finetune.*
    **OPTIMISER,
    "epochs": COUNT,
    "batch_size": COUNT,
    "select_on": OneOf(tuple(SELECTIONS)),
    "seed": INTEGER,
    "threads": Number(integer=True, low=1, optional=True),
}

# key -> rule, for every key of a train config; a key absent from the config is not checked
RULES_BY_KEY = {
    "seed": INTEGER,
    "nan_policy": NAN_POLICY,
    "export": Flag(),
    "resume": OneOf(RESUME_CHOICES, " (or ckpt_path=FILE)"),
    "checkpoint.every_n_steps": COUNT,
    "checkpoint.keep_last": Flag(),
    "checkpoint.keep_best": Flag(),
    "checkpoint.select_on": OneOf(tuple(SELECTIONS)),
    "data.max_len": Number(integer=True, low=8),
    "data.batch_size": COUNT,
    "data.eval_batch_size": COUNT,
    "data.max_train_samples": Number(integer=True, low=2, optional=True),
    "data.max_eval_samples": Number(integer=True, low=1, optional=True),
    "data.meta_size": Number(integer=True, low=0, optional=True),
    "data.meta_batch_size": Number(integer=True, low=1, optional=True),
    "data.split_seed": INTEGER,
    "data.order_seed": INTEGER,
    "data.num_workers": Number(integer=True, low=0),
    "data.shuffle": Flag(),
    "data.group_by_length": Flag(),
    "data.eval_meta_split": Flag(),
    "data.label_noise": Number(low=0, high=1, high_open=True),
    "data.label_noise_seed": INTEGER,
    **{f"optim.{k}": rule for k, rule in OPTIMISER.items()},
    "optim.fused_adamw": Flag(optional=True),
    **{f"kd.{k}": rule for k, rule in KD_SETTINGS.items()},
    **{f"teacher.finetune.{k}": rule for k, rule in FINETUNE.items()},
    # student.init=finetuned: the source is fine-tuned by the teacher stage, under the same rules
    **{f"student.source.finetune.{k}": rule for k, rule in FINETUNE.items()},
    "teacher.cache_logits": Flag(),
    "teacher.outputs": WrittenFolder("outputs.json", "`rwkd teacher`"),
    "teacher_outputs.write": Flag(),
    "teacher_outputs.state_dtype": OneOf(STATE_DTYPES),
    "student.init": OneOf(STUDENT_INITS),
    "student.stable_head": Flag(),
    "trainer.max_epochs": Number(integer=True, low=1, optional=True),
    "trainer.max_steps": Number(integer=True, low=-1),
}


def check_settings(cfg: DictConfig, here: bool = True) -> list[ExtraTerm]:
    """Raises RwkdError on the first setting of `cfg` (a composed train config) that a run cannot use; returns
    the terms beyond label + teacher that it plans (rwkd/terms.py), planned here once for the run.
    `here=False`: the jobs run elsewhere (a cluster launcher), so this machine's devices are not theirs."""
    _check_rules(cfg, RULES_BY_KEY)
    _check_target_arguments(cfg)
    _check_scheme(cfg)
    _check_meta_split(cfg)
    terms = _planned_terms(cfg)
    check_against_the_models(cfg, terms)
    if here:
        check_trainer(cfg)
    return terms


_ABSENT = object()


def _check_rules(cfg: DictConfig, rules: dict) -> None:
    """Each rule against its key's value; a key the config does not have is not checked."""
    for key, rule in rules.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)
        if value is not _ABSENT and (problem := rule.problem(key, value)) is not None:
            raise RwkdError(problem)


BUILT_BY_TARGET = ("data", "module", "weighting", "teacher.model", "student.model")


def _check_target_arguments(cfg: DictConfig) -> None:
    for path in BUILT_BY_TARGET:
        node = OmegaConf.select(cfg, path)
        if isinstance(node, DictConfig) and "_target_" in node:
            check_target_arguments(path, node)


def check_target_arguments(path: str, node: DictConfig) -> None:
    """A key of a node built by `_target_` (`+data.extra=1` added one) must be an argument of that target."""
    try:
        target = get_object(node._target_)
    except Exception:  # noqa: BLE001 - any failure to locate it is the same problem for the user
        raise RwkdError(f"{path}._target_={node._target_!r} cannot be imported; give a dotted path to a "
                        "class or function") from None
    signature = inspect.signature(target.__init__ if inspect.isclass(target) else target)
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [str(k) for k in node if not str(k).startswith("_") and str(k) not in params]
    if unknown:
        accepted = [n for n in params if n != "self" and params[n].kind is not inspect.Parameter.VAR_POSITIONAL]
        raise RwkdError(f"{path}.{unknown[0]} is not a setting of {node._target_}; accepted: {', '.join(accepted)}")


def _check_scheme(cfg: DictConfig) -> None:
    """The weighting scheme's own settings, by the rules its class declares (`SETTINGS`, next to its code)."""
    node = OmegaConf.select(cfg, "weighting")
    if isinstance(node, DictConfig) and "_target_" in node:
        scheme = get_object(node._target_)  # importable: _check_target_arguments has seen to it
        check = getattr(scheme, "check_settings", None)
        if check is not None:
            check({str(k): v for k, v in node.items() if not str(k).startswith("_")})


def _check_meta_split(cfg: DictConfig) -> None:
    """`data.meta_size=0` is a run with no meta split: every train row is trained on. Whatever reads the
    meta split then has nothing to read."""
    if OmegaConf.select(cfg, "data.meta_size") != 0:
        return
    target = OmegaConf.select(cfg, "weighting._target_")
    if target and getattr(get_object(target), "needs_meta", False):
        raise RwkdError(f"data.meta_size=0 leaves no meta split, and the weighting ({target.rsplit('.', 1)[-1]}) learns on one; "
                        "accepted: data.meta_size > 0 or null (the default, min(1000, 10% of train))")
    if OmegaConf.select(cfg, "data.eval_meta_split"):
        raise RwkdError("data.meta_size=0 leaves no meta split to score, and data.eval_meta_split=true asks for it; "
                        "accepted: data.eval_meta_split=false, or data.meta_size > 0 or null")


def _planned_terms(cfg: DictConfig) -> list[ExtraTerm]:
    """kd.teachers and kd.hidden (rwkd/terms.py), their shape and keys checked; the layers are checked against
    the models' depths (in_context.py) and resolved when the models are built."""
    kd = OmegaConf.select(cfg, "kd")
    return plan_extra_terms(OmegaConf.to_container(kd, resolve=True)) if isinstance(kd, DictConfig) else []


EVAL_RULES = {
    "cross_task": Flag(),
    "data.max_len": Number(integer=True, low=8, optional=True),
    "data.eval_batch_size": COUNT,
    "data.max_eval_samples": Number(integer=True, low=1, optional=True),
}


def check_eval_settings(cfg: DictConfig) -> None:
    """`rwkd eval`'s own settings, before the checkpoint is read."""
    _check_rules(cfg, EVAL_RULES)
    _check_device(cfg)


PREDICT_RULES = {
    "split": OneOf(("test", "dev")),
    "data.max_len": Number(integer=True, low=8, optional=True),
    "data.eval_batch_size": COUNT,
}


def check_predict_settings(cfg: DictConfig) -> None:
    """`rwkd predict`'s own settings, before any model is read."""
    _check_rules(cfg, PREDICT_RULES)
    _check_device(cfg)


def _check_device(cfg: DictConfig) -> None:
    device = str(OmegaConf.select(cfg, "device"))
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise RwkdError(f"device={device!r} is not a device; accepted: cpu, cuda, cuda:N") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise RwkdError(f"device={device} needs a CUDA GPU, and this machine has none; accepted here: cpu")
    if kind not in ("cpu", "cuda"):
        raise RwkdError(f"device={device!r} is not supported; accepted: cpu, cuda, cuda:N")
