"""The teacher's signal for a batch, as the training step asks for it: from the live teacher (logits, or [CLS]
states after a layer for hidden-state terms: rwkd/terms.py), or from a table of its outputs looked up by each
batch's sample index (rwkd/teacher/cache.py and rwkd/teacher/outputs.py fill such tables), so shuffling, meta
batches and distributed samplers all stay aligned."""

from __future__ import annotations

import torch

from rwkd.errors import RwkdError
from rwkd.models import model_inputs


def teacher_output(model, inputs: dict, layer: int | None = None) -> torch.Tensor:
    """The teacher's logits, or with `layer` its [CLS] hidden state after that layer (0: the embeddings)."""
    if layer is None:
        return model(**inputs).logits.float()
    return model(**inputs, output_hidden_states=True).hidden_states[layer][:, 0].float()


class LiveTeacher:
    """Runs the frozen teacher on every batch (the reference the cache must agree with). With `view`, the teacher
    reads the batch's ids of its own tokenizer (batch["teacher_inputs"][view]), never the student's."""

    def __init__(self, model: torch.nn.Module, layer: int | None = None, view: str | None = None):
        self.model = model.eval().requires_grad_(False)
        self.layer = layer
        self.view = view

    def inputs(self, batch: dict) -> dict:
        if self.view is None:
            return model_inputs(batch)
        views = batch.get("teacher_inputs") or {}
        if self.view not in views:
            raise RwkdError(f"the batch has no ids of the teacher's tokenizer {self.view!r} (it has {sorted(views)}); "
                            "the data module must be built with that teacher tokenizer")
        return views[self.view]

    def to(self, device) -> LiveTeacher:
        self.model.to(device)
        return self

    @torch.no_grad()
    def __call__(self, batch: dict) -> torch.Tensor:
        return teacher_output(self.model, self.inputs(batch), self.layer)


class CachedTeacher:
    """Logits looked up by sample index in a dense table (NaN rows: samples the cache does not hold)."""

    def __init__(self, table: torch.Tensor):
        self.table = table

    def to(self, device) -> CachedTeacher:
        self.table = self.table.to(device)
        return self

    def __call__(self, batch: dict) -> torch.Tensor:
        logits = self.table[batch["idx"]]
        if torch.isnan(logits).any():
            missing = batch["idx"][torch.isnan(logits).any(-1)].tolist()[:5]
            raise RwkdError(f"teacher logit cache has no entry for sample ids {missing}; delete the cache to rebuild it")
        return logits
