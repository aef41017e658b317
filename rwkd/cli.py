"""`rwkd` command line: thin entry points that compose a Hydra config and hand it to one function."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rwkd.atomic import write_json
from rwkd.checkout import conf_dir
from rwkd.errors import NotApplicable, RwkdError, find_rwkd_error
from rwkd.records import provenance
from rwkd.records.format import FAILED
from rwkd.run.run_folders import register_resolvers

CONF_DIR = str(conf_dir())  # the checkout's conf/, else the installed package's copy (rwkd/checkout.py)

USAGE = """usage: rwkd COMMAND [hydra overrides]

commands:
  train     distil a teacher into a student on one GLUE task (fine-tunes the teacher first if needed)
              rwkd train task=mrpc weighting=fixed weighting.alpha=0.7
              rwkd train -m task=mrpc,rte weighting=none,fixed seed=1,2,3
  teacher   only the teacher stage: fine-tune (or find cached) the teacher for a task
              rwkd teacher task=rte
  eval      score a checkpoint (.ckpt) or an exported HF folder on dev
              rwkd eval ckpt=outputs/runs/.../checkpoints/best.ckpt [task=rte]
  predict   the GLUE leaderboard's submission files of a model, or of one model per task (and their zip)
              rwkd predict ckpt=outputs/runs/.../best_hf [split=test] [out=DIR] ; rwkd predict --all-tasks DIR
  report    the task x scheme table (mean ± std over seeds) and weight plots of runs or sweeps
              rwkd report outputs/multiruns/<sweep> [--out DIR]
  recipe    the recipe search's page: every trial, scored on the held-out meta split, and the choice
              rwkd recipe results/recipe_search --doc docs/recipe.md

`rwkd train --help` lists the config groups; `rwkd train --cfg job` prints the composed config;
`rwkd train -v ...` (or hydra.verbose=true) also shows Lightning's start-up lines (rwkd/console.py)."""


register_resolvers()  # the run and sweep folder names in conf/train.yaml use them

FAILED_JOBS: list[str] = []  # multirun jobs that failed, reported once the sweep is over
NOT_STARTED: list[str] = []  # jobs the stop file kept from starting (rwkd/run/preemption.py)


def _guarded(fn, cfg: DictConfig):
    """Runs one job. A user error is one line and exit 2; in a multirun sweep a failing job (any error) is
    recorded in its folder as failed.json and the sweep goes on with the next job. A job whose combination
    is undefined (NotApplicable) is recorded as not_applicable.json and does not fail the sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from rwkd.run.preemption import PREEMPTED_EXIT_CODE, Preempted, StopRequested, take_late_signal

    try:
        result = fn(cfg)
        if (signum := take_late_signal()) is not None:  # the job is whole; the sweep must not start another
            print(f"rwkd: {signal.Signals(signum).name} arrived after the last training step: the job finished and "
                  "recorded its results; nothing more starts (the same command with resume=auto goes on)",
                  file=sys.stderr, flush=True)
            sys.exit(PREEMPTED_EXIT_CODE)
        return result
    except StopRequested as exc:  # not a failure: the job is left as it was, for the same command to go on
        print(f"rwkd: {exc}", file=sys.stderr, flush=True)
        NOT_STARTED.append(str(exc.stop_file))
        return float("nan")
    except Preempted as exc:  # the machine is going away: the whole sweep stops, nothing is recorded as failed
        print(f"rwkd: {exc}", file=sys.stderr, flush=True)
        sys.exit(PREEMPTED_EXIT_CODE)
    except Exception as exc:  # Hydra would print a traceback; user errors get one line instead
        err = find_rwkd_error(exc)
        message = str(err) if err is not None else f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode == RunMode.MULTIRUN:
            import traceback

            out = Path(hydra_cfg.runtime.output_dir)
            if isinstance(err, NotApplicable):
                return _record_not_applicable(err, out, list(hydra_cfg.overrides.task))
            write_json(out / FAILED, {"error": message, "overrides": list(hydra_cfg.overrides.task),
                                                     "traceback": traceback.format_exc()})
            FAILED_JOBS.append(f"{out.name}: {message}")
            print(f"rwkd: job {out.name} failed: {message}", file=sys.stderr, flush=True)
            return float("nan")
        if err is None:
            raise
        print(f"rwkd: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)


def _record_not_applicable(err: NotApplicable, out: Path, overrides: list[str]) -> float:
    from rwkd.records.format import NOT_APPLICABLE

    write_json(out / NOT_APPLICABLE, {"task": err.task, "weighting": err.scheme, "reason": str(err),
                                              "overrides": overrides})
    (out / FAILED).unlink(missing_ok=True)  # from a run before the combination was known to be undefined
    print(f"rwkd: job {out.name} not applicable: {err}", file=sys.stderr, flush=True)
    return float("nan")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def _train_main(cfg: DictConfig):
    from rwkd.commands.train import train

    return _guarded(train, cfg)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def _teacher_main(cfg: DictConfig):
    from rwkd.commands.teacher import teacher_only

    return _guarded(teacher_only, cfg)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="eval")
def _eval_main(cfg: DictConfig):
    from rwkd.commands.eval import evaluate

    return _guarded(evaluate, cfg)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="predict")
def _predict_main(cfg: DictConfig):
    from rwkd.commands.predict import predict

    return _guarded(predict, cfg)


COMMANDS = {"train": _train_main, "teacher": _teacher_main, "eval": _eval_main, "predict": _predict_main}


def _report():
    from rwkd.report.command import main as report_main

    return report_main


def _recipe():
    from rwkd.recipe.page import main as recipe_main

    return recipe_main


READERS = {"report": _report, "recipe": _recipe}
# The teacher stage writes only into its cache; it needs no run folder of its own.
EXTRA_ARGS = {"teacher": ["hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=stdout"]}


def compose_train(overrides: list[str]) -> DictConfig:
    """The config `rwkd train OVERRIDES` composes (without Hydra's run-time settings), for tools and benchmarks
    that build a run's objects themselves."""
    from hydra import compose, initialize_config_dir

    register_resolvers()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=overrides)


REQUIRED_GROUPS = {"task", "data", "teacher", "student", "weighting", "trainer"}  # a run cannot do without one
OPTIONAL_GROUPS = {"logger", "experiment", "hparams_search", "recipe"}


def _drop_group(arg: str) -> str:
    """`logger=null` as Hydra spells it (`~logger`): Hydra 1.3 cannot set a group to null from the command
    line when the defaults list has an interpolated entry."""
    key, _, value = arg.partition("=")
    if value == "null" and key.lstrip("+") in OPTIONAL_GROUPS:
        return f"~{key.lstrip('+')}"
    return arg


def user_config_dirs(args: list[str]) -> list[Path] | None:
    """The folders a command line adds to Hydra's search path (`--config-dir DIR`, `hydra.searchpath=[file://DIR]`),
    whose groups' options join the built-in ones; None when an entry is not a folder (pkg://...): only Hydra
    can list its options then."""
    found: list[str] = []
    for i, arg in enumerate(args):
        if arg in ("--config-dir", "-cd") and i + 1 < len(args):
            found.append(args[i + 1])
        elif arg.startswith(("--config-dir=", "-cd=")):
            found.append(arg.split("=", 1)[1])
        elif arg.lstrip("+").startswith("hydra.searchpath="):
            for entry in arg.split("=", 1)[1].strip("[]").split(","):
                entry = entry.strip().strip("'\"")
                if entry.startswith("pkg://"):
                    return None
                found.append(entry.removeprefix("file://"))
    return [Path(d) for d in found if d]


def check_group_choices(overrides: list[str], conf_dir: str = CONF_DIR) -> None:
    """Rejects `group=option` overrides naming an option that has no config file, in one line."""
    extra = user_config_dirs(overrides)
    if extra is None:
        return
    folders = [Path(conf_dir), *extra]
    groups = {p.name for folder in folders if folder.is_dir() for p in folder.iterdir() if p.is_dir()}
    for arg in overrides:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        if key not in groups or "(" in value:  # sweep functions such as choice(...) are Hydra's to check
            continue
        options = sorted({p.stem for folder in folders for p in (folder / key).glob("*.yaml")})
        for option in value.split(","):
            option = option.strip()
            if option == "null" and key not in REQUIRED_GROUPS:
                continue
            if option not in options:
                raise RwkdError(f"unknown {key} {option!r}; accepted: {', '.join(options)}")


OUTPUT_KEYS = ("paths.outputs", "hydra.run.dir", "hydra.sweep.dir")


def check_outputs_writable(overrides: list[str]) -> None:
    """Fails in one line, before any work, if the folder runs would be written to cannot be written."""
    import tempfile

    given = {a.split("=", 1)[0].lstrip("+~"): a.split("=", 1)[1] for a in overrides if "=" in a}
    targets = [(k, given[k]) for k in OUTPUT_KEYS if k in given] or [("paths.outputs", "outputs")]
    for key, folder in targets:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise RwkdError(f"{key}={folder} is not a writable folder ({reason}); give one with {key}=DIR") from None


def _all_tasks_option(args: list[str]) -> list[str]:
    """`rwkd predict --all-tasks DIR` (or `--all-tasks=DIR`) as the Hydra override `all_tasks=DIR`."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--all-tasks":
            if i + 1 >= len(args) or "=" in args[i + 1]:
                raise RwkdError("--all-tasks needs a folder; accepted: rwkd predict --all-tasks DIR")
            out.append(f"all_tasks={args[i + 1]}")
            i += 2
            continue
        out.append(f"all_tasks={arg.split('=', 1)[1]}" if arg.startswith("--all-tasks=") else arg)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command in READERS:  # not Hydra apps: they read finished runs
        try:
            return READERS[command]()(rest)
        except RwkdError as exc:
            print(f"rwkd: error: {exc}", file=sys.stderr)
            return 2
    if command not in COMMANDS:
        print(f"rwkd: error: unknown command {command!r}; accepted: {', '.join([*COMMANDS, *READERS])} (see rwkd --help)", file=sys.stderr)
        return 2
    from rwkd import console

    verbose, rest = console.verbose_requested(rest)
    console.quiet_lightning(verbose)
    try:
        if command == "predict":
            rest = _all_tasks_option(rest)
        check_group_choices(rest)
        if command in ("train", "teacher") and not any(a in ("--help", "-h", "--cfg", "-c") for a in rest):
            check_outputs_writable(rest)
            from rwkd.config.preflight import check_command_line

            check_command_line(rest, CONF_DIR)  # every value of every job, before the first starts
    except RwkdError as exc:
        print(f"rwkd: error: {exc}", file=sys.stderr)
        return 2
    provenance.COMMAND[:] = argv
    rest = [_drop_group(a) for a in rest]
    provenance.git_commit()  # pinned now: a long sweep may outlive the checkout it started from
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars on every model load drown the training bar
    # argv[0] must be a script that re-runs this command: Lightning's DDP launcher restarts it for other ranks
    entry = str(Path(__file__).with_name("_train_entry.py")) if command == "train" else f"rwkd-{command}"
    sys.argv = [entry, *rest, *EXTRA_ARGS.get(command, [])]
    COMMANDS[command]()
    if NOT_STARTED:
        from rwkd.run.preemption import PREEMPTED_EXIT_CODE

        print(f"rwkd: {len(NOT_STARTED)} job(s) not started because {NOT_STARTED[0]} exists; remove it and run the "
              "same command with resume=auto to go on", file=sys.stderr)
        if not FAILED_JOBS:
            return PREEMPTED_EXIT_CODE
    if FAILED_JOBS:
        print(f"rwkd: error: {len(FAILED_JOBS)} sweep job(s) failed (see failed.json in each): "
              + "; ".join(FAILED_JOBS), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
