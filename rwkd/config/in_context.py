"""The settings checks that need more than the config: the models' shapes, read from their configs (no
weights), and what Lightning makes of the trainer settings on this machine. Part of
rwkd.config.settings.check_settings, before any work."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from rwkd.errors import RwkdError


def check_against_the_models(cfg: DictConfig, terms: list) -> None:
    """Settings that only make sense for the models' shapes, read from their configs (no weights): the
    token length against each model's positions, the student's layers against the model it is cut from."""
    from rwkd.models import architecture

    max_len = OmegaConf.select(cfg, "data.max_len")
    depths, configs = {}, {}
    check_student_source(cfg)
    from_source = (OmegaConf.select(cfg, "student.init") or "pretrained") == "finetuned"
    for role in ("teacher", "student"):
        model = OmegaConf.select(cfg, f"{role}.model")
        if role == "student" and from_source:  # the student is cut from student.source: its shape is the source's
            model = _source_model(cfg)
        if not isinstance(model, DictConfig) or not model.get("name_or_path"):
            continue
        if role == "teacher" and OmegaConf.select(cfg, "teacher.path"):
            continue  # a given fine-tuned teacher: its own folder is read when it loads
        overrides = model.get("config_overrides")
        overrides = OmegaConf.to_container(overrides) if isinstance(overrides, DictConfig) else {}
        config = architecture(model.name_or_path, overrides, bool(model.get("trust_remote_code", False)))
        if config is None:
            continue
        configs[role] = config
        positions = getattr(config, "max_position_embeddings", None)
        if max_len and positions and max_len > positions:
            raise RwkdError(f"data.max_len={max_len} is longer than the {role} model's {positions} positions; "
                            f"accepted: an integer in [8, {positions}]")
        layers = model.get("layers")
        depth = getattr(config, "num_hidden_layers", None)
        depths[role] = len(layers) if layers is not None and depth else depth
        if role == "student" and layers is not None and depth:
            indices = list(layers)
            if not indices or any(not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < depth for i in indices):
                raise RwkdError(f"student.model.layers={indices} is not a non-empty list of layer indices of the "
                                f"{depth}-layer model it is cut from; accepted: indices in [0, {depth - 1}]")
    _check_hidden_layers(terms, depths)
    _check_score_layers(OmegaConf.select(cfg, "weighting.score_layers"), depths.get("student"))
    from_teacher = (OmegaConf.select(cfg, "student.init") or "pretrained") == "teacher"
    _check_student_tokens(cfg, configs.get("teacher" if from_teacher else "student"))


def _source_model(cfg: DictConfig) -> DictConfig:
    """The model the student is cut from under student.init=finetuned: student.source's (its given fine-tuned folder,
    student.source.path, where there is one), with the student's own layers."""
    source = cfg.student.source
    model = OmegaConf.to_container(source.model, resolve=True)
    if source.get("path"):
        model.update(name_or_path=source.path, config_overrides=None)
    model["layers"] = OmegaConf.select(cfg, "student.model.layers")
    return OmegaConf.create(model)


def check_student_source(cfg: DictConfig) -> None:
    """student.init=finetuned against student.source (rwkd/teacher/student_source.py), before any work: a student that
    is not redrawn (student.model.random_init), a source to fine-tune, a model and no written outputs, and the
    student's own vocabulary."""
    from rwkd.run.assemble import COPIED_FROM

    init = OmegaConf.select(cfg, "student.init") or "pretrained"
    source = OmegaConf.select(cfg, "student.source")
    if init != "finetuned":
        return  # student.init=teacher with random_init is refused where the student is built (rwkd/run/assemble.py)
    if OmegaConf.select(cfg, "student.model.random_init"):
        raise RwkdError(f"student.init={init} copies {COPIED_FROM[init]} layers, so it cannot be combined "
                        "with student.model.random_init=true; accepted: one or the other")
    if not isinstance(source, DictConfig) or not isinstance(source.get("model"), DictConfig):
        raise RwkdError("student.init=finetuned starts the student from student.source fine-tuned on the task, and "
                        f"student.source={OmegaConf.to_container(source) if isinstance(source, DictConfig) else source} "
                        "is no teacher config; accepted: one, e.g. +teacher@student.source=minilm (conf/teacher/)")
    if source.get("outputs"):
        raise RwkdError(f"student.source.outputs={source.outputs} holds outputs, and the student is cut from a model; "
                        "accepted: student.source.outputs=null")
    own = OmegaConf.select(cfg, "student.model.name_or_path")
    from_source = source.get("path") or source.model.get("name_or_path")
    if own and from_source and not _same_vocabulary(str(own), str(from_source)):
        raise RwkdError(f"student.source reads the tokens of {from_source}, and the student (student.model.name_or_path="
                        f"{own}) those of another vocabulary; accepted: a source of the student's own backbone")


def _same_vocabulary(a: str, b: str) -> bool:
    """Whether two models' tokenizers map the same words to the same ids (the same name: without loading them)."""
    if a == b:
        return True
    from rwkd.models import load_tokenizer

    return load_tokenizer(a).get_vocab() == load_tokenizer(b).get_vocab()


def _check_score_layers(score_layers, depth) -> None:
    """weighting.score_layers (rwkd/weighting/score_scope.py) against the student's depth: its lower bound and type
    are the scheme's own rule; a run with it above the depth would fail only at its first step."""
    if isinstance(score_layers, int) and not isinstance(score_layers, bool) and depth and score_layers > depth:
        raise RwkdError(f"weighting.score_layers={score_layers} is more than the student's {depth} layers; accepted: "
                        f"null (every parameter) or an integer in [0, {depth}] (the head and the last N layers)")


def _check_student_tokens(cfg: DictConfig, student_config) -> None:
    """A tokenizer forced on the student (data.tokenizer) must not make ids past its embedding table: each
    model reads its own tokenizer's ids, and a student fed another vocabulary's would fail, or worse, not."""
    forced = OmegaConf.select(cfg, "data.tokenizer")
    vocab = getattr(student_config, "vocab_size", None)
    if not forced or not vocab:
        return
    from rwkd.models import load_tokenizer

    size = len(load_tokenizer(str(forced)))
    if size > vocab:
        raise RwkdError(f"data.tokenizer={forced} makes ids up to {size - 1}, past the student's {vocab}-entry "
                        "vocabulary; accepted: null (the student's own tokenizer) or a tokenizer of its vocabulary")


def check_trainer(cfg: DictConfig) -> None:
    """The trainer settings as Lightning sees them (devices, accelerator, precision, strategy): a Trainer is
    built and dropped, which starts nothing."""
    trainer = OmegaConf.select(cfg, "trainer")
    if not isinstance(trainer, DictConfig) or "_target_" not in trainer:
        return
    import logging

    from hydra.utils import instantiate

    quiet = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.WARNING)  # its start-up lines ("GPU available: ...") belong to the real run
    try:
        instantiate(OmegaConf.to_container(trainer, resolve=True), logger=False, enable_checkpointing=False)
    except Exception as exc:  # noqa: BLE001 - whatever Lightning refuses, the user gets its reason in one line
        cause = exc.__cause__ or exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise RwkdError(f"Lightning refuses the trainer settings (trainer.*): {reason}") from None
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)


def _check_hidden_layers(terms: list, depths: dict) -> None:
    """kd.hidden's layer indices (of the planned `terms`) against the student's and the first teacher's depth,
    before any teacher is fine-tuned (further teachers' are checked when they are built)."""
    from rwkd.terms import resolve_layers

    if not any(t.is_hidden for t in terms) or not depths.get("student"):
        return
    terms = [t for t in terms if t.teacher == 0 or not t.is_hidden]
    if depths.get("teacher"):
        resolve_layers(terms, depths["student"], [depths["teacher"]])
