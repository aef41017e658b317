"""Per-sample weight records: one compact Parquet file per run, rewritten at the end of each epoch,
with one row per (epoch, sample): how each training sample was weighted and why; and beside it the same
rows summarised (weight_summary.py), which is what a study commits and plots.

`weight` is the teacher side's share (with two terms, w itself). A run with more terms (rwkd/terms.py)
also logs every term's weight and loss: `weight_<term>` and `loss_<term>` (weight_label, weight_kd,
weight_kd1, weight_hidden0, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from rwkd import distributed
from rwkd.atomic import write_with
from rwkd.records.weight_summary import NOISED, SUMMARY, pool, summarise_log, write_summary
from rwkd.training.logger_media import log_histogram, log_image, takes_images
from rwkd.weight_figures import figure_pixels, run_figures
from rwkd.weighting import features
from rwkd.weighting.base import Signals

FIGURE_TAGS = {"weights": "weights/plot", "terms": "weights/terms_plot"}  # rwkd/weight_figures.py's run_figures
COLUMNS = ("epoch", "step", "idx", "weight", "label_loss", "kd_loss", "teacher_correct", "teacher_confidence")


class SampleWeightLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.columns: dict[str, list[torch.Tensor]] = {c: [] for c in COLUMNS}

    def add(self, epoch: int, step: int, idx, weight, label_loss, kd_loss=None, teacher_correct=None,
            teacher_confidence=None, terms: dict | None = None, extra: dict | None = None) -> None:
        """`terms`: {term name: (its weights, its losses)} for a run with more than two terms; `extra`: the
        scheme's own per-sample values (WeightingScheme.sample_diagnostics), a column each."""
        n = idx.shape[0]

        def col(x, dtype):
            return torch.full((n,), float("nan")) if x is None else x.detach().to("cpu", dtype).reshape(n)

        self.columns["epoch"].append(torch.full((n,), epoch, dtype=torch.int32))
        self.columns["step"].append(torch.full((n,), step, dtype=torch.int64))
        self.columns["idx"].append(idx.detach().to("cpu", torch.int64))
        for name, value in (("weight", weight), ("label_loss", label_loss), ("kd_loss", kd_loss),
                            ("teacher_correct", teacher_correct), ("teacher_confidence", teacher_confidence)):
            self.columns[name].append(col(value, torch.float32))
        given = dict(extra or {})
        for term, (w, loss) in (terms or {}).items():
            given[f"weight_{term}"], given[f"loss_{term}"] = w, loss
        for name, value in given.items():
            self._column(name, rows_before=self.rows - n).append(col(value, torch.float32))
        for name, values in self.columns.items():  # a column this step did not give: NaN, so every column has every row
            if name not in COLUMNS and name not in given:
                values.append(col(None, torch.float32))

    @property
    def rows(self) -> int:
        return sum(t.shape[0] for t in self.columns["idx"])

    def _column(self, name: str, rows_before: int) -> list[torch.Tensor]:
        """The column `name`; one that starts after rows were logged (a run resumed from a checkpoint written by
        an rwkd that did not log it yet) holds NaN for those rows."""
        if name not in self.columns:
            self.columns[name] = [torch.full((rows_before,), float("nan"))] if rows_before else []
        return self.columns[name]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The rows so far, so a resumed run's file holds every step, not only those after the resume."""
        return {c: torch.cat(v) if v else torch.empty(0) for c, v in self.columns.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        names = [*COLUMNS, *(c for c in state if c not in COLUMNS)]
        self.columns = {c: [state[c]] if state.get(c) is not None and state[c].numel() else [] for c in names}
        rows = self.rows
        for name in names:  # a column that began after the first rows (an earlier resume across versions): NaN before
            have = sum(t.shape[0] for t in self.columns[name])
            if name not in COLUMNS and have < rows:
                self.columns[name].insert(0, torch.full((rows - have,), float("nan")))

    def arrays(self) -> dict:
        """Every row so far, a NumPy array per column."""
        return {c: torch.cat(v).numpy() for c, v in self.columns.items()}

    def epoch_weights(self, epoch: int) -> dict[str, np.ndarray]:
        """The weights of `epoch`'s rows so far: `w` (the teacher side's share) and, in a run with more than two terms,
        each term's under its name; NaN (rows logged before a column existed) left out."""
        if not self.columns["idx"]:
            return {}
        rows = torch.cat(self.columns["epoch"]) == epoch
        named = {"w": "weight", **{c[len("weight_"):]: c for c in self.columns if c.startswith("weight_")}}
        out = {name: torch.cat(self.columns[column])[rows].numpy() for name, column in named.items()}
        return {name: values[np.isfinite(values)] for name, values in out.items()}

    def write(self, rank: int = 0, world_size: int = 1) -> Path | None:
        """Writes every row so far, and their summary, atomically (temporary files renamed over the old).

        Under data parallelism each process saw its own samples and writes its own shard (`.rankN`).
        """
        if not self.columns["idx"]:
            return None
        path = self.path if world_size == 1 else self.path.with_name(f"{self.path.stem}.rank{rank}{self.path.suffix}")
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = self.arrays()
        write_with(path, lambda tmp: pq.write_table(pa.table(columns), tmp, compression="zstd"))
        shard = "" if world_size == 1 else f".rank{rank}"
        write_summary(columns, path.with_name(f"{Path(SUMMARY).stem}{shard}.json"))
        return path


@dataclass
class SampleStep:
    """One training step's per-sample values, kept by the module for the callbacks that log them."""

    epoch: int
    step: int
    signals: Signals
    weights: torch.Tensor  # [n] the teacher side's share
    term_weights: torch.Tensor  # [K, n]
    terms: torch.Tensor  # [K, n] the per-sample terms


class SampleWeightLogger(pl.Callback):
    """Logs every step's per-sample weights into a SampleWeightLog, written at the end of each epoch (each process
    its own shard under data parallelism), and shows them in the run's loggers: a histogram at each validation,
    the report's weight figures at the end. Its rows are part of the resumable state of each process: the module
    keeps them in its checkpoints (`ClassifierModule.rank_states`), so a resumed run's log has every row once."""

    def __init__(self, path: str | Path):
        self.sample_log = SampleWeightLog(path)
        self.noised_rows: torch.Tensor | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        pl_module.rank_states["sample_log"] = self.sample_log  # the name its checkpoints have always used
        # data.label_noise: the rows given a wrong label, so the log (and its summary) can tell them apart
        noise = getattr(trainer.datamodule, "label_noise", None)
        self.noised_rows = None if noise is None else torch.tensor(noise.rows, dtype=torch.long)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        record: SampleStep | None = getattr(pl_module, "last_step", None)
        if record is None:  # a skipped batch (nan_policy=skip) or a module that keeps no steps
            return
        s, has_teacher = record.signals, record.signals.teacher_logits is not None
        self.sample_log.add(
            record.epoch, record.step, s.idx, record.weights, s.label_loss.detach(),
            None if s.kd_loss is None else s.kd_loss,
            features.teacher_correct(s) if has_teacher else None,
            features.teacher_confidence(s) if has_teacher else None,
            terms=None if not s.extra_terms else {name: (w, term) for name, w, term in
                                                  zip(s.term_set.names, record.term_weights, record.terms, strict=True)},
            extra=pl_module.weighting.sample_diagnostics() | self._noise_column(s.idx),
        )

    def _noise_column(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.noised_rows is None:
            return {}
        return {NOISED: torch.isin(idx, self.noised_rows.to(idx.device)).float()}

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.sample_log.write(trainer.global_rank, trainer.world_size)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        """The epoch's weights so far, a histogram each (`weights/w`; `weights/<term>` with more than two terms), to
        the run's loggers, where a researcher watching the run looks (each kind its way: logger_media.py)."""
        if trainer.sanity_checking or not trainer.loggers:
            return
        shards = distributed.gather_objects(self.sample_log.epoch_weights(trainer.current_epoch))
        if trainer.global_rank != 0:
            return
        for name in dict.fromkeys(name for shard in shards for name in shard):
            values = np.concatenate([shard[name] for shard in shards if name in shard])
            if not values.size:  # a validation before this epoch's first step
                continue
            for logger in trainer.loggers:
                log_histogram(logger, f"weights/{name}", values, trainer.global_step)

    def on_train_end(self, trainer, pl_module) -> None:
        """The figures `rwkd report` draws of the weights, of this run alone, to the loggers that take images
        (`weights/plot`, `weights/terms_plot`): drawn from the run's own log, so no report is needed to see them."""
        if not any(takes_images(logger) for logger in trainer.loggers):
            return
        summaries = distributed.gather_objects(summarise_log(self.sample_log.arrays()) if self.sample_log.rows else None)
        summaries = [s for s in summaries if s is not None]
        if trainer.global_rank != 0 or not summaries:
            return
        label = pl_module.run_info.get("weighting") or pl_module.weighting.describe()
        for name, figure in run_figures(pl_module.task.name, label, pool(summaries)).items():
            pixels = figure_pixels(figure)
            for logger in trainer.loggers:
                log_image(logger, FIGURE_TAGS[name], pixels, trainer.global_step)
