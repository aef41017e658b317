"""Every setting of a run checked before any work, in one place: type, range and the rules that tie keys
together. A bad value stops the run with one line naming the key, the value and what is accepted.

`check_settings` runs on the composed config at the start of `rwkd train` and `rwkd teacher`, and the CLI
runs it on every value of a sweep before the first job starts (rwkd.config.preflight).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from rwkd.config.in_context import check_against_the_models, check_trainer
from rwkd.errors import RwkdError
from rwkd.losses import KD_LOSSES
from rwkd.run.assemble import STUDENT_INITS
from rwkd.run.resume import RESUME_CHOICES
from rwkd.selection import SELECTIONS
from rwkd.terms import plan_extra_terms
from rwkd.training.classifier_module import NAN_POLICIES
from rwkd.weighting.annealed import SCHEDULES
from rwkd.weighting.features import FEATURES
from rwkd.weighting.heuristic import RULES
from rwkd.weighting.meta import IMPLS
from rwkd.weighting.meta_context import META_LOSSES


@dataclass(frozen=True)
class Number:
    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low end itself is not accepted
    high_open: bool = False
    optional: bool = False  # null is accepted

    def accepted(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            kind += f" in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        elif self.low is not None:
            kind += f" {'>' if self.low_open else '>='} {self.low:g}"
        elif self.high is not None:
            kind += f" {'<' if self.high_open else '<='} {self.high:g}"
        return f"null or {kind}" if self.optional else kind

    def problem(self, key: str, value) -> str | None:
        if value is None:
            return None if self.optional else f"{key} is null; accepted: {self.accepted()}"
        number = _as_number(value, self.integer)
        if number is None:
            return f"{key}={value!r} is not {self.accepted()}"
        below = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        above = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if below or above:
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            interval = f"{'(' if self.low_open or self.low is None else '['}{low}, {high}{')' if self.high_open or self.high is None else ']'}"
            return f"{key}={value} is outside {interval}; accepted: {self.accepted()}"
        return None


def _as_number(value, integer: bool) -> float | None:
    if isinstance(value, bool):  # YAML's true/false are not numbers here
        return None
    if integer:
        return value if isinstance(value, int) else None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Flag:
    optional: bool = False

    def problem(self, key: str, value) -> str | None:
        if isinstance(value, bool) or (value is None and self.optional):
            return None
        return f"{key}={value!r} is not {'null, true or false' if self.optional else 'true or false'}"


@dataclass(frozen=True)
class OneOf:
    choices: tuple[str, ...]
    note: str = ""  # what else does the job, e.g. another key

    def problem(self, key: str, value) -> str | None:
        if value in self.choices:
            return None
        return f"{key}={value!r} is unknown; accepted: {', '.join(self.choices)}{self.note}"


@dataclass(frozen=True)
class SubsetOf:
    choices: tuple[str, ...]

    def problem(self, key: str, value) -> str | None:
        items = list(value) if isinstance(value, list | tuple | ListConfig) else None
        if not items or any(v not in self.choices for v in items):
            return f"{key}={_show(value)} is not a non-empty list of {', '.join(self.choices)}"
        return None


@dataclass(frozen=True)
class WrittenFolder:
    """null, or a folder holding `record` (a folder some rwkd command wrote); relative: here, else in the checkout."""

    record: str
    writer: str

    def problem(self, key: str, value) -> str | None:
        from rwkd.teacher.outputs import locate

        if value is None or (locate(str(value)) / self.record).is_file():
            return None
        return f"{key}={value!r} is not a folder with {self.record}; accepted: null, or a folder written by {self.writer}"


def _show(value) -> str:
    return str(OmegaConf.to_container(value)) if isinstance(value, ListConfig | DictConfig) else repr(value)


POSITIVE = Number(low=0, low_open=True)
NON_NEGATIVE = Number(low=0)
FRACTION = Number(low=0, high=1)
INTEGER = Number(integer=True)
COUNT = Number(integer=True, low=1)
OPTIMISER = {  # optim.* and teacher.finetune.*
    "lr": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "warmup_ratio": FRACTION,
    "grad_clip": Number(low=0, optional=True),
}

# key -> rule, for every key of a train config; a key absent from the config is not checked
RULES_BY_KEY = {
    "seed": INTEGER,
    "nan_policy": OneOf(NAN_POLICIES),
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
    **{f"optim.{k}": rule for k, rule in OPTIMISER.items()},
    "optim.fused_adamw": Flag(optional=True),
    "kd.temperature": POSITIVE,
    "kd.loss": OneOf(KD_LOSSES),
    **{f"teacher.finetune.{k}": rule for k, rule in OPTIMISER.items()},
    "teacher.finetune.epochs": COUNT,
    "teacher.finetune.batch_size": COUNT,
    "teacher.finetune.select_on": OneOf(tuple(SELECTIONS)),
    "teacher.finetune.seed": INTEGER,
    "teacher.finetune.threads": Number(integer=True, low=1, optional=True),
    "teacher.cache_logits": Flag(),
    "teacher.outputs": WrittenFolder("outputs.json", "`rwkd teacher`"),
    "teacher_outputs.write": Flag(),
    "student.init": OneOf(STUDENT_INITS),
    "trainer.max_epochs": Number(integer=True, low=1, optional=True),
    "trainer.max_steps": Number(integer=True, low=-1),
    # the weighting schemes' settings, whichever scheme has them
    "weighting.alpha": FRACTION,
    "weighting.alpha_start": FRACTION,
    "weighting.alpha_end": FRACTION,
    "weighting.schedule": OneOf(SCHEDULES),
    "weighting.max_temperature": Number(low=1),
    "weighting.phase1_fraction": Number(low=0, high=1, low_open=True, high_open=True),
    "weighting.rule": OneOf(RULES),
    "weighting.meta_loss": OneOf(META_LOSSES),
    "weighting.impl": OneOf(IMPLS),
    "weighting.virtual_lr": POSITIVE,
    # the floor of RW-KD's scores: with both scores at or below it a sample's weight is 1/2; 0 would divide 0 by 0
    "weighting.delta": POSITIVE,
    "weighting.inputs": SubsetOf(tuple(FEATURES)),
    "weighting.hidden": COUNT,
    "weighting.lr": POSITIVE,
    "weighting.seed": INTEGER,
}


def check_settings(cfg: DictConfig, here: bool = True) -> None:
    """Raises RwkdError on the first setting of `cfg` (a composed train config) that a run cannot use.
    `here=False`: the jobs run elsewhere (a cluster launcher), so this machine's devices are not theirs."""
    _check_rules(cfg, RULES_BY_KEY)
    _check_target_arguments(cfg)
    _check_meta_split(cfg)
    _check_terms(cfg)
    check_against_the_models(cfg)
    if here:
        check_trainer(cfg)


_ABSENT = object()


def _check_rules(cfg: DictConfig, rules: dict) -> None:
    """Each rule against its key's value; a key the config does not have is not checked."""
    for key, rule in rules.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)
        if value is not _ABSENT and (problem := rule.problem(key, value)) is not None:
            raise RwkdError(problem)


BUILT_BY_TARGET = ("data", "module", "weighting", "teacher.model", "student.model")


def _check_target_arguments(cfg: DictConfig) -> None:
    """A key added to a node built by `_target_` (`+data.extra=1`) must be an argument of that target."""
    for path in BUILT_BY_TARGET:
        node = OmegaConf.select(cfg, path)
        if not isinstance(node, DictConfig) or "_target_" not in node:
            continue
        try:
            target = get_object(node._target_)
        except Exception:  # noqa: BLE001 - any failure to locate it is the same problem for the user
            raise RwkdError(f"{path}._target_={node._target_!r} cannot be imported; give a dotted path to a "
                            "class or function") from None
        signature = inspect.signature(target.__init__ if inspect.isclass(target) else target)
        params = signature.parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            continue
        unknown = [str(k) for k in node if not str(k).startswith("_") and str(k) not in params]
        if unknown:
            accepted = [n for n in params if n != "self" and params[n].kind is not inspect.Parameter.VAR_POSITIONAL]
            raise RwkdError(f"{path}.{unknown[0]} is not a setting of {node._target_}; accepted: {', '.join(accepted)}")


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


def _check_terms(cfg: DictConfig) -> None:
    """kd.teachers and kd.hidden (rwkd/terms.py): their shape and keys; the layers are checked when the
    models are built."""
    kd = OmegaConf.select(cfg, "kd")
    if isinstance(kd, DictConfig):
        plan_extra_terms(OmegaConf.to_container(kd, resolve=True))


EVAL_RULES = {
    "cross_task": Flag(),
    "data.max_len": Number(integer=True, low=8, optional=True),
    "data.eval_batch_size": COUNT,
    "data.max_eval_samples": Number(integer=True, low=1, optional=True),
}


def check_eval_settings(cfg: DictConfig) -> None:
    """`rwkd eval`'s own settings, before the checkpoint is read."""
    _check_rules(cfg, EVAL_RULES)
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
