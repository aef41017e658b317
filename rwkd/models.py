"""Building teacher and student classifiers: the embedded MiniLM, any hub name or local path,
a subset of a pretrained model's layers, or a randomly initialised config (for tests)."""

from __future__ import annotations

import math
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


def layer_list(model) -> torch.nn.ModuleList:
    """The model's transformer layers, bottom first."""
    base = getattr(model, "base_model", model)
    for owner in ("encoder", "transformer"):  # BERT/RoBERTa/ELECTRA keep .encoder.layer; DistilBERT .transformer.layer
        layers = getattr(getattr(base, owner, None), "layer", None)
        if isinstance(layers, torch.nn.ModuleList):
            return layers
    raise RwkdError(f"cannot select layers of a {type(model).__name__}; layer selection supports BERT-like and DistilBERT models")


def keep_layers(model, layers: Sequence[int]) -> None:
    """Keeps only the given transformer layers, in the given order (a student from a teacher's layers)."""
    all_layers = layer_list(model)
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
    stable_fresh_init: bool = False,
):
    """A sequence classifier (num_labels=1: regression) from a pretrained model or a fresh config. With
    `stable_fresh_init` (and a seed), the parameters the pretrained model lacks (the new head) are drawn by
    `stable_normal`, the same on every kind of CPU (the student: rwkd/run/assemble.py)."""
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
            model, loading = AutoModelForSequenceClassification.from_pretrained(path, **kwargs, **overrides,
                                                                                output_loading_info=True)
            if stable_fresh_init and seed is not None:
                redraw_fresh(model, set(loading["missing_keys"]), seed)
    except OSError as exc:
        raise RwkdError(f"cannot load model {name_or_path!r}: not a local model folder or reachable hub name") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    if layers is not None:
        keep_layers(model, list(layers))
    if num_labels == 1:
        model.config.problem_type = "regression"
    return model


def stable_normal(shape: tuple[int, ...], std: float, seed: int, name: str) -> torch.Tensor:
    """Normal-shaped values (mean 0, sd `std`, within 6 sd) that are bit for bit the same on every CPU.

    torch's normal_ on a float32 CPU tensor of 16 or more values takes a vectorised Box-Muller path whose log and
    sin/cos approximations depend on the CPU capability torch dispatches to (DEFAULT and AVX2 give other bits
    from the same seed), so a head drawn by it can depend on the machine. Here only integers and exactly
    representable float64 steps are used: PCG64's raw 64-bit words (a stable stream), summed as 12 uniform
    32-bit integers per value (Irwin-Hall: variance 1 after centring) in integer arithmetic, scaled by a power
    of two, then one rounding each by `std` and to float32. `name` gives each parameter a stream of its own."""
    import zlib

    import numpy as np

    n = math.prod(shape)
    words = np.random.PCG64(np.random.SeedSequence([seed % 2**63, zlib.crc32(name.encode())])).random_raw(6 * n)
    halves = np.stack([words & 0xFFFF_FFFF, words >> np.uint64(32)], axis=1).reshape(n, 12)
    centred = halves.sum(axis=1, dtype=np.uint64).astype(np.float64) * 2.0 ** -32 - 6.0  # exact: < 2^36 steps
    return torch.from_numpy((centred * std).astype(np.float32)).reshape(shape)


def redraw_fresh(model, fresh: set[str], seed: int) -> None:
    """Draws the freshly initialised parameters `fresh` (names) again with stable_normal at the model's
    initializer_range, as Hugging Face's init draws them; those it set to a constant (zero biases, unit norms)
    are exact already and kept."""
    std = float(getattr(model.config, "initializer_range", 0.02))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in sorted(fresh & set(params)):
            p = params[name]
            if p.numel() == 0 or bool((p == p.reshape(-1)[0]).all()):
                continue
            p.copy_(stable_normal(tuple(p.shape), std, seed, name).to(p.dtype))


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
