"""How a model is optimised, student or teacher: AdamW without weight decay on biases and LayerNorm, a
linear schedule with warm-up, and clipping by gradient norm."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch
from transformers import get_linear_schedule_with_warmup

from rwkd.errors import RwkdError


@dataclass(frozen=True)
class OptimSettings:
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float | None = 1.0  # max gradient norm; None or 0: no clipping
    fused_adamw: bool | None = None  # None: fused unless mixed precision meets clipping

    @classmethod
    def from_mapping(cls, values: Mapping) -> OptimSettings:
        """From `optim` or `teacher.finetune` (whose other keys, epochs and batch size, are not the
        optimizer's)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: values[k] for k in values if k in known})

    def __post_init__(self) -> None:
        # a config may hand strings or ints; the optimizer wants floats
        for name in ("lr", "weight_decay", "warmup_ratio"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.grad_clip is not None:
            object.__setattr__(self, "grad_clip", float(self.grad_clip))

    def use_fused(self, precision: str) -> bool:
        # Lightning refuses to clip a fused optimizer's gradients under mixed precision (the fused step
        # would unscale them itself), so mixed precision takes the multi-tensor kernel instead
        mixed = "mixed" in precision
        if self.fused_adamw is None:  # per-tensor AdamW costs ~50 ms a step on CPU (docs/method.md §6)
            return not (mixed and self.grad_clip)
        if self.fused_adamw and mixed and self.grad_clip:
            raise RwkdError(
                f"optim.fused_adamw=true cannot run with trainer.precision={precision} and gradient clipping "
                f"(optim.grad_clip={self.grad_clip}); accepted: optim.fused_adamw=null or false, "
                "optim.grad_clip=0, or a full precision such as 32-true"
            )
        return bool(self.fused_adamw)


def adamw_with_warmup(model: torch.nn.Module, settings: OptimSettings, total_steps: int, fused: bool):
    """The optimizer and its per-step schedule for `model`'s trainable parameters."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr,
        fused=fused,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler
