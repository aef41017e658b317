"""Building teacher and student classifiers: the embedded MiniLM, any hub name or local path,
a subset of a pretrained model's layers, or a randomly initialised config (for tests)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from rwkd.embedded import resolve_model_path
from rwkd.errors import RwkdError

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_inputs(batch: dict) -> dict:
    """The keys of a collated batch that a classifier's forward takes (not labels, not sample ids)."""
    return {k: batch[k] for k in MODEL_INPUTS if k in batch}


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False):
    path = resolve_model_path(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise RwkdError(f"cannot load a tokenizer from {name_or_path!r}: not a local model folder or reachable hub name") from exc


def _layer_list(model) -> torch.nn.ModuleList:
    base = model.base_model
    for owner in ("encoder", "transformer"):  # BERT/RoBERTa/ELECTRA keep .encoder.layer; DistilBERT .transformer.layer
        layers = getattr(getattr(base, owner, None), "layer", None)
        if isinstance(layers, torch.nn.ModuleList):
            return layers
    raise RwkdError(f"cannot select layers of a {type(model).__name__}; layer selection supports BERT-like and DistilBERT models")


def keep_layers(model, layers: Sequence[int]) -> None:
    """Keeps only the given transformer layers, in the given order (a student from a teacher's layers)."""
    all_layers = _layer_list(model)
    n = len(all_layers)
    bad = [i for i in layers if not -n <= i < n]
    if bad or not layers:
        raise RwkdError(f"layers={list(layers)} invalid for a {n}-layer model; give indices in [0, {n - 1}]")
    kept = torch.nn.ModuleList([all_layers[i] for i in layers])
    base = model.base_model
    owner = base.encoder if hasattr(base, "encoder") else base.transformer
    owner.layer = kept
    for attr in ("num_hidden_layers", "n_layers"):
        if hasattr(model.config, attr):
            setattr(model.config, attr, len(kept))


def architecture(name_or_path: str, config_overrides: dict | None = None, trust_remote_code: bool = False):
    """The model's config alone (no weights): what settings can be checked against before any work;
    None where it cannot be read (a hub name with no network: the load itself reports it later)."""
    try:
        return AutoConfig.from_pretrained(resolve_model_path(name_or_path), trust_remote_code=trust_remote_code,
                                          **dict(config_overrides or {}))
    except (OSError, ValueError):
        return None


def build_classifier(
    name_or_path: str,
    num_labels: int,
    layers: Sequence[int] | None = None,
    random_init: bool = False,
    config_overrides: dict | None = None,
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
    dropout: float | None = None,
    seed: int | None = None,
):
    """A sequence classifier (num_labels=1: regression) from a pretrained model or a fresh config."""
    path = resolve_model_path(name_or_path)
    overrides = dict(config_overrides or {})
    if dropout is not None:
        overrides.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    kwargs = {"num_labels": num_labels, "trust_remote_code": trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if seed is not None:
        torch.manual_seed(seed)  # the new head (or a random model) is the same for the same seed
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the new classifier head: expected, not news
    try:
        if random_init:
            config = AutoConfig.from_pretrained(path, **kwargs, **overrides)
            model = AutoModelForSequenceClassification.from_config(
                config, **({"attn_implementation": attn_implementation} if attn_implementation else {})
            )
        else:
            model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs, **overrides)
    except OSError as exc:
        raise RwkdError(f"cannot load model {name_or_path!r}: not a local model folder or reachable hub name") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    if layers is not None:
        keep_layers(model, list(layers))
    if num_labels == 1:
        model.config.problem_type = "regression"
    return model


def load_finetuned(path: str | Path, attn_implementation: str | None = None, trust_remote_code: bool = False):
    """A classifier saved with save_pretrained (a fine-tuned teacher or an exported student)."""
    kwargs = {"trust_remote_code": trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if not Path(path).is_dir() or not (Path(path) / "config.json").is_file():
        raise RwkdError(f"{path} is not a saved model folder (no config.json); expected a save_pretrained export")
    return AutoModelForSequenceClassification.from_pretrained(str(path), **kwargs)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
