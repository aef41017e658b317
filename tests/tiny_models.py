"""Tiny float64 BERTs and hand-made batches for the exactness tests."""

from __future__ import annotations

import torch

from rwkd.models import build_classifier
from rwkd.weighting.meta_context import MetaContext

TINY_CONFIG = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                   max_position_embeddings=32, vocab_size=64)


def tiny_student(num_labels: int = 2, seed: int = 0, attn_implementation: str = "eager") -> torch.nn.Module:
    model = build_classifier("embedded", num_labels, random_init=True, config_overrides=TINY_CONFIG,
                             attn_implementation=attn_implementation, seed=seed)
    return model.double()


def batch(n: int, length: int, num_labels: int = 2, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 64, (n, length), generator=g)
    mask = torch.ones_like(ids)
    mask[0, length - 2:] = 0  # one padded row, so masking is exercised
    labels = torch.randint(0, num_labels, (n,), generator=g)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "idx": torch.arange(n)}


def teacher_logits(n: int, num_labels: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, num_labels, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2


def context(student, train: dict, meta: dict, kd_temperature: float = 2.0) -> MetaContext:
    t_train, t_meta = teacher_logits(train["labels"].shape[0]), teacher_logits(meta["labels"].shape[0], seed=2)
    return MetaContext(student=student, batch=train, teacher_logits=t_train, meta_batch=meta, meta_teacher_logits=t_meta,
                       regression=False, kd_temperature=kd_temperature, kd_kind="kl")
