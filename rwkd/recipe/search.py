"""The recipe search's trials and the choice per task, from the search's records alone; its page and the
defaults it writes are in recipe_page.py.

A recipe search is two sweeps per task (conf/experiment/recipe_teacher.yaml, recipe_student.yaml): the
teacher's fine-tuning, then the no-KD student. Each trial is scored on the held-out meta split (rows of
train that no model trains on), at the epoch with the best meta headline; the choice per task and stage is
the trial with the best meta headline. Dev scores are shown beside, for reading, never for choosing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from rwkd.errors import RwkdError
from rwkd.records.format import NOT_APPLICABLE, PLAN_FILE, RESULTS, TEACHER_TRIAL, teacher_identity

SELECT = "meta/headline"
# overrides that do not shape what a trial trains, never part of a recipe: group choices and run controls
# (bare keys), and settings under these prefixes
CONTROL_KEYS = {"task", "experiment", "resume", "seed", "recipe", "ckpt_path", "teacher", "student", "weighting",
                "trainer", "logger", "scheme", "hparams_search", "trainer.enable_progress_bar",
                "teacher.outputs"}  # where a teacher's outputs are read from, not how it trains
CONTROL_PREFIXES = ("paths.", "hydra.", "recipe_search.", "logger.")


@dataclass
class Trial:
    role: str  # "teacher" or "student"
    task: str
    params: dict[str, str]  # the sweep's overrides that name this trial
    meta: float  # held-out meta split headline x 100 at the selected epoch
    epoch: int
    dev: dict[str, float | None]  # dev metrics x 100 at the same epoch ("headline" included)
    minutes: float | None  # wall-clock minutes of the trial on its machine
    record: dict
    cpu_minutes: float | None = None  # CPU minutes (all cores) where the record has them

    @property
    def settings(self) -> dict[str, str]:
        """Everything the command line set for this trial that shapes training: the swept keys and the ones
        the sweep fixed (e.g. student.init=teacher), which a recipe must carry too."""
        given = swept_params(self.record.get("overrides") or [])
        fixed = {k: v for k, v in given.items() if k not in self.params and not _is_control(k)}
        return {**fixed, **self.params}


def _is_control(key: str) -> bool:
    """A group choice (teacher=tiny) or a key that steers the run rather than its training (paths.outputs)."""
    return key in CONTROL_KEYS or key.startswith(CONTROL_PREFIXES)


def swept_params(overrides: list[str], swept: set[str] | None = None) -> dict[str, str]:
    """The overrides that name a trial: the sweep's swept keys (all but the run controls when unknown)."""
    pairs = ((k.lstrip("+~"), v) for k, v in _pairs(overrides))
    return {k: v for k, v in pairs if (k in swept if swept is not None else not _is_control(k))}


def _pairs(overrides) -> list[tuple[str, str]]:
    return [tuple(str(o).split("=", 1)) for o in overrides or [] if "=" in str(o)]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _dev(metrics: dict) -> dict[str, float | None]:
    return {k.split("/", 1)[1]: 100 * v for k, v in metrics.items() if k.startswith("val/") and v is not None}


def _values(text: str) -> list[str]:
    """The choices a sweep value lists, split at commas outside brackets: `1e-4,3e-4`, `[0,1],[0,1,2]`."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "[({"
        depth -= ch in "])}"
        if ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    return [*out, text[start:]]


def _is_sweep(value: str) -> bool:
    """True for a value listing several choices."""
    return len(_values(value)) > 1


def swept_keys(sweep_dir: Path) -> set[str] | None:
    """The keys a sweep varied, from the multirun.yaml Hydra wrote into its folder: its sweeper's params,
    less those the command line fixed to one value, plus those the command line swept."""
    plan = sweep_dir / PLAN_FILE
    if not plan.is_file():
        return None
    saved = OmegaConf.load(plan)
    configured = {str(k).lstrip("+~") for k in (OmegaConf.select(saved, "hydra.sweeper.params") or {})}
    given = _pairs(OmegaConf.select(saved, "hydra.overrides.task"))
    swept = {k.lstrip("+~") for k, v in given if _is_sweep(v)}
    fixed = {k.lstrip("+~") for k, v in given if not _is_sweep(v)}
    return (configured - fixed) | swept


def _teacher_trial(record: dict, swept: set[str] | None) -> Trial:
    selected = record["selected"]
    return Trial("teacher", record["task"], swept_params(record["overrides"], swept), 100 * selected[SELECT], selected["epoch"],
                 _dev(selected), _minutes(record.get("fine_tune_seconds")), record,
                 _minutes(record.get("fine_tune_cpu_seconds")))


def _student_trial(record: dict, swept: set[str] | None) -> Trial:
    scored = [h for h in record["history"] if SELECT in h]
    if not scored:
        raise RwkdError(f"{record['_path']}: the run did not score the meta split (data.eval_meta_split=false), "
                        "so it cannot take part in a recipe search")
    chosen = max(scored, key=lambda h: h[SELECT])  # first such epoch on a tie
    return Trial("student", record["task"], swept_params(record.get("overrides") or [], swept), 100 * chosen[SELECT],
                 chosen["epoch"], _dev(chosen), _minutes(record["timing"]["wall_seconds"]), record,
                 _minutes(record["timing"].get("cpu_seconds")))


def varying_keys(records: list[dict]) -> set[str]:
    """Settings (not run controls) whose value differs between the records of one sweep folder: a sweep
    continued later with other values fixed on its command line (epochs=6 after epochs=3) varied them,
    though its newest multirun.yaml names them as fixed."""
    given = [swept_params(r.get("overrides") or []) for r in records]
    keys = {k for g in given for k in g}
    return {k for k in keys if len({g.get(k) for g in given}) > 1}


def _same_value(a: str, b: str) -> bool:
    """`1e-4` and `0.0001` name one value: the plan keeps what was typed, a job's overrides what Hydra wrote."""
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def _with_value(listed: str, value: str) -> str:
    values = _values(listed)
    return listed if any(_same_value(v, value) for v in values) else ",".join([*values, value])


def load_trials(paths: list[str]) -> tuple[list[Trial], list[dict], list[dict]]:
    """Every trial record under `paths`, the sweep plans (multirun.yaml) found beside them, and the
    trials not run (over the budget)."""
    trials, plans, skipped = [], [], []
    records: dict[Path, list[tuple[str, dict]]] = {}  # sweep folder -> (kind, record)
    for root in map(Path, paths):
        if not root.is_dir():
            raise RwkdError(f"{root} is not a folder; give the folder of a recipe search's records")
        for f in sorted(root.rglob(TEACHER_TRIAL)):
            records.setdefault(f.parent.parent, []).append(("teacher", json.loads(f.read_text())))
        for f in sorted(root.rglob(RESULTS)):
            records.setdefault(f.parent.parent, []).append(("student", {**json.loads(f.read_text()), "_path": str(f.parent)}))
        for f in sorted(root.rglob(NOT_APPLICABLE)):
            records.setdefault(f.parent.parent, []).append(("skipped", json.loads(f.read_text())))

    swept_by_dir: dict[Path, set[str] | None] = {}
    for sweep_dir, group in records.items():
        swept = swept_keys(sweep_dir)
        swept_by_dir[sweep_dir] = None if swept is None else swept | varying_keys([r for _, r in group])
        for kind, record in group:
            if kind == "teacher":
                trials.append(_teacher_trial(record, swept_by_dir[sweep_dir]))
            elif kind == "student":
                trials.append(_student_trial(record, swept_by_dir[sweep_dir]))
            else:
                skipped.append({**record, "_swept": swept_by_dir[sweep_dir]})

    for root in map(Path, paths):
        for f in sorted(root.rglob(PLAN_FILE)):
            plan = OmegaConf.load(f)
            space = {str(k).lstrip("+~"): str(v) for k, v in (OmegaConf.select(plan, "hydra.sweeper.params") or {}).items()}
            for k, v in _pairs(OmegaConf.select(plan, "hydra.overrides.task")):
                if k.lstrip("+~") in space or _is_sweep(v):  # the command line narrowed or widened the space
                    space[k.lstrip("+~")] = v
            # the space is what was tried: the plan's values and those of every record in its folder
            beside = records.get(f.parent, [])
            for _, record in beside:
                for k, v in swept_params(record.get("overrides") or [], swept_by_dir.get(f.parent)).items():
                    space[k] = _with_value(space.get(k, v), v)
            # a teacher sweep still at its first trial has no record yet: its folder says what it is (<task>/teacher)
            role = "teacher" if f.parent.name == "teacher" or any(kind == "teacher" for kind, _ in beside) else "student"
            # a student sweep sits under the teacher it was made with (student/teacher-lr..._ep..._wu.../)
            label = f"{role} ({f.parent.name})" if f.parent.name.startswith("teacher-") else role
            plans.append({"file": str(f), "task": OmegaConf.select(plan, "task.name"), "role": role, "label": label,
                          "params": space})
    if not trials:
        raise RwkdError(f"no {TEACHER_TRIAL} or {RESULTS} records under {', '.join(paths)}")
    return trials, plans, skipped


TEACHER_GAP = 3.0  # meta headline points (x 100) a chosen student must leave below its teacher


def choose(trials: list[Trial]) -> Trial:
    """The best meta headline; a tie goes to the cheaper trial."""
    return max(trials, key=lambda t: (t.meta, -(t.minutes or 0.0)))


def leaves_gap(student: Trial, teacher: Trial | None, gap: float) -> bool:
    return teacher is None or student.meta <= teacher.meta - gap


def made_with_another_teacher(student: Trial, teacher: Trial | None) -> bool:
    """A student trial that distilled or copied a teacher other than the chosen one (the teacher search was
    extended after it ran): its score says nothing about the recipe's teacher, so it cannot be chosen."""
    used = teacher_identity(student.record.get("teacher"))
    return bool(teacher and used and used.name != teacher_identity(teacher.record).name)


def summary(trials: list[Trial], gap: float = TEACHER_GAP) -> dict:
    """{task: {role: chosen Trial}}: what the page shows and conf/recipe/ is written from.

    The teacher is the best teacher trial. The student is the best student trial that stays at least `gap`
    points below that teacher on the meta split: a default student as good as its teacher would leave
    nothing to distil, and the recipe exists for a regime where KD can matter. If no trial leaves the gap,
    the best student is taken all the same (the page says so)."""
    out: dict = {}
    for task in sorted({t.task for t in trials}):
        teachers = [t for t in trials if t.task == task and t.role == "teacher"]
        students = [t for t in trials if t.task == task and t.role == "student"]
        chosen = {"teacher": choose(teachers)} if teachers else {}
        students = [t for t in students if not made_with_another_teacher(t, chosen.get("teacher"))]
        if students:
            eligible = [t for t in students if leaves_gap(t, chosen.get("teacher"), gap)]
            chosen["student"] = choose(eligible or students)
        out[task] = chosen
    return out
