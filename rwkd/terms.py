"""The per-sample loss terms of a run beyond the two of classic KD (docs/method.md, "K terms").

Term 0 is the label loss and term 1 the first teacher's logit term, as in every two-term run. Then:

- `kd.teachers`: one logit term per further teacher (each a patch to the `teacher` config, fine-tuned
  and cached like the first);
- `kd.hidden`: hidden-state terms. The student's [CLS] state after one of its layers, mapped by a learned
  linear projection to the teacher's width, against the teacher's [CLS] state after one of its layers;
  squared error, averaged over the teacher's dimensions.

[CLS] because it is the vector the classifier head reads, so it is where the teacher's answer is formed,
and one vector per sample caches exactly like the logits (looked up by sample index). The projection is
a student parameter (in `rwkd_projections` inside the student, so the optimizer, checkpoints and the meta
step see it) and is left out of every export. Where the widths match it starts as the identity: the term
then measures how far the student's state is from the teacher's rather than from a random map of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rwkd import losses
from rwkd.errors import RwkdError

PROJECTIONS = "rwkd_projections"  # the student's submodule holding the hidden-state projections
HIDDEN_KEYS = ("student_layer", "teacher_layer", "teacher")
TEACHER_PATCH_KEYS = ("name", "path", "outputs", "model", "finetune", "cache_logits")


@dataclass(frozen=True)
class ExtraTerm:
    """One term after the label and first-teacher terms."""

    name: str  # kd1, kd2, ... for further teachers' logits; hidden0, hidden1, ... for hidden states
    teacher: int  # which teacher: 0 is `teacher`, i > 0 the i-th entry of kd.teachers
    student_layer: int | None = None  # hidden-state terms: index into the student's hidden states (0: embeddings)
    teacher_layer: int | None = None  # hidden-state terms: index into the teacher's hidden states

    @property
    def is_hidden(self) -> bool:
        return self.student_layer is not None


def _integer(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RwkdError(f"{key}={value!r} is not an integer; accepted: a layer index (negative counts from the last)")
    return value


def teacher_patches(kd: Mapping) -> list[dict]:
    """kd.teachers as plain dicts, each checked to patch only keys of the teacher config."""
    patches = kd.get("teachers") or []
    if not isinstance(patches, Sequence) or isinstance(patches, str):
        raise RwkdError(f"kd.teachers={patches!r} is not a list; accepted: a list of patches to the teacher config, "
                        "e.g. [{finetune: {seed: 2}}]")
    out = []
    for i, patch in enumerate(patches):
        if not isinstance(patch, Mapping) or not patch:
            raise RwkdError(f"kd.teachers[{i}]={patch!r} is not a non-empty mapping; accepted: a patch to the teacher "
                            f"config with keys among {', '.join(TEACHER_PATCH_KEYS)}")
        unknown = [k for k in patch if k not in TEACHER_PATCH_KEYS]
        if unknown:
            raise RwkdError(f"kd.teachers[{i}].{unknown[0]} is not a teacher setting; accepted: {', '.join(TEACHER_PATCH_KEYS)}")
        out.append(dict(patch))
    return out


def plan_extra_terms(kd: Mapping) -> list[ExtraTerm]:
    """The terms kd.teachers and kd.hidden add, in order: further teachers' logit terms, then hidden terms.
    Layer indices stay as given (negative ones count from the last); `resolve_layers` fixes them."""
    n_teachers = 1 + len(teacher_patches(kd))
    terms = [ExtraTerm(name=f"kd{i}", teacher=i) for i in range(1, n_teachers)]
    hidden = kd.get("hidden") or []
    if not isinstance(hidden, Sequence) or isinstance(hidden, str):
        raise RwkdError(f"kd.hidden={hidden!r} is not a list; accepted: a list like "
                        "[{student_layer: -1, teacher_layer: -1, teacher: 0}]")
    for j, spec in enumerate(hidden):
        where = f"kd.hidden[{j}]"
        if not isinstance(spec, Mapping):
            raise RwkdError(f"{where}={spec!r} is not a mapping; accepted keys: {', '.join(HIDDEN_KEYS)}")
        unknown = [k for k in spec if k not in HIDDEN_KEYS]
        if unknown:
            raise RwkdError(f"{where}.{unknown[0]} is not a setting of a hidden-state term; accepted: {', '.join(HIDDEN_KEYS)}")
        teacher = _integer(f"{where}.teacher", spec.get("teacher", 0))
        if not 0 <= teacher < n_teachers:
            raise RwkdError(f"{where}.teacher={teacher} names no teacher; accepted: 0 (teacher) to {n_teachers - 1} "
                            "(the entries of kd.teachers)")
        terms.append(ExtraTerm(name=f"hidden{j}", teacher=teacher,
                               student_layer=_integer(f"{where}.student_layer", spec.get("student_layer", -1)),
                               teacher_layer=_integer(f"{where}.teacher_layer", spec.get("teacher_layer", -1))))
    return terms


def _resolve(key: str, index: int, states: int, model: str) -> int:
    if not -states <= index < states:
        raise RwkdError(f"{key}={index} is not a hidden state of the {model} ({states} states: the embeddings and "
                        f"{states - 1} layers); accepted: an index in [{-states}, {states - 1}]")
    return index % states


def resolve_layers(terms: list[ExtraTerm], student_layers: int, teacher_layers: Sequence[int]) -> list[ExtraTerm]:
    """The terms with non-negative layer indices, checked against the models' depths (layers, not states)."""
    out = []
    for t in (x for x in terms if x.is_hidden):
        j = t.name.removeprefix("hidden")  # its place in kd.hidden
        s = _resolve(f"kd.hidden[{j}].student_layer", t.student_layer, student_layers + 1, "student")
        h = _resolve(f"kd.hidden[{j}].teacher_layer", t.teacher_layer, teacher_layers[t.teacher] + 1,
                     f"teacher {t.teacher}")
        out.append(ExtraTerm(t.name, t.teacher, s, h))
    return [t for t in terms if not t.is_hidden] + out


def add_projections(student: torch.nn.Module, terms: list[ExtraTerm], teacher_widths: Sequence[int]) -> None:
    """One linear map per hidden-state term, from the student's width to its teacher's, inside the student."""
    hidden = [t for t in terms if t.is_hidden]
    if not hidden:
        return
    width = student.config.hidden_size
    maps = torch.nn.ModuleDict()
    for t in hidden:
        linear = torch.nn.Linear(width, teacher_widths[t.teacher])
        if linear.in_features == linear.out_features:
            with torch.no_grad():
                linear.weight.copy_(torch.eye(width))
                linear.bias.zero_()
        maps[t.name] = linear
    student.add_module(PROJECTIONS, maps)


@contextmanager
def without_projections(student: torch.nn.Module):
    """The student as it is exported and counted: the projections exist only for training."""
    maps = student._modules.pop(PROJECTIONS, None)
    try:
        yield student
    finally:
        if maps is not None:
            student.add_module(PROJECTIONS, maps)


def drop_projection_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith(PROJECTIONS + ".")}


# (term name, student [CLS] state) -> the state in the teacher's width
Projector = Callable[[str, torch.Tensor], torch.Tensor]


def projector(params: Mapping[str, torch.Tensor]) -> Projector:
    """The projections at the given parameters (the live student's, or the functional ones of a meta step)."""
    def project(name: str, state: torch.Tensor) -> torch.Tensor:
        return F.linear(state, params[f"{PROJECTIONS}.{name}.weight"], params[f"{PROJECTIONS}.{name}.bias"])

    return project


class TermSet:
    """Computes the extra terms of a batch from the student's outputs and each term's teacher target."""

    def __init__(self, extras: Sequence[ExtraTerm], regression: bool, kd_temperature: float, kd_kind: str):
        self.extras = tuple(extras)
        self.regression, self.kd_temperature, self.kd_kind = regression, kd_temperature, kd_kind

    @property
    def names(self) -> tuple[str, ...]:
        return ("label", "kd", *(t.name for t in self.extras))

    @property
    def owners(self) -> tuple[int | None, ...]:
        """Each term's teacher (None for the label term)."""
        return (None, 0, *(t.teacher for t in self.extras))

    @property
    def size(self) -> int:
        return 2 + len(self.extras)

    @property
    def needs_hidden_states(self) -> bool:
        return any(t.is_hidden for t in self.extras)

    def values(self, outputs, targets: Sequence[torch.Tensor], project: Projector) -> list[torch.Tensor]:
        """The extra terms, one [n] tensor each, still in the graph of `outputs` (and of the projections)."""
        values = []
        for term, target in zip(self.extras, targets, strict=True):
            if term.is_hidden:
                state = outputs.hidden_states[term.student_layer][:, 0]
                values.append(((project(term.name, state) - target.to(state.dtype)) ** 2).mean(-1))
            else:
                values.append(losses.kd_loss(outputs.logits, target, self.regression, self.kd_temperature, self.kd_kind))
        return values
