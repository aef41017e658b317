"""Histograms and images in the form each kind of Lightning logger takes them, in one table (HOW): TensorBoard's
writer draws a histogram itself (`add_histogram`) and shows images (`add_image`); wandb takes `wandb.Histogram`
and `wandb.Image`; a logger of scalars only (CSV, and any kind not in the table) gets a histogram as a summary
row, `TAG/mean`, `TAG/std`, `TAG/min`, `TAG/p10` ... `TAG/p90`, `TAG/max`, and no images."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger

QUANTILES = (10, 25, 50, 75, 90)  # percent


def summary_row(tag: str, values: np.ndarray) -> dict[str, float]:
    """A histogram told in scalars: mean, spread, extremes and quantiles, each under `tag/`."""
    values = np.asarray(values, dtype=np.float64)
    row = {f"{tag}/mean": values.mean(), f"{tag}/std": values.std(), f"{tag}/min": values.min()}
    row |= {f"{tag}/p{q}": v for q, v in zip(QUANTILES, np.percentile(values, QUANTILES), strict=True)}
    return {k: float(v) for k, v in (row | {f"{tag}/max": values.max()}).items()}


def _tensorboard_histogram(logger: TensorBoardLogger, tag: str, values: np.ndarray, step: int) -> None:
    logger.experiment.add_histogram(tag, values, global_step=step)


def _tensorboard_image(logger: TensorBoardLogger, tag: str, pixels: np.ndarray, step: int) -> None:
    logger.experiment.add_image(tag, pixels, global_step=step, dataformats="HWC")


def _wandb_histogram(logger: WandbLogger, tag: str, values: np.ndarray, step: int) -> None:
    import wandb

    logger.log_metrics({tag: wandb.Histogram(values)}, step=step)


def _wandb_image(logger: WandbLogger, tag: str, pixels: np.ndarray, step: int) -> None:
    logger.log_image(tag, [pixels], step=step)  # each image a wandb.Image


def _scalar_summary(logger: Logger, tag: str, values: np.ndarray, step: int) -> None:
    logger.log_metrics(summary_row(tag, values), step=step)
    logger.save()  # the CSV logger writes its rows only when saved


Taker = Callable[[Logger, str, np.ndarray, int], None]
# logger kind -> (how it takes a histogram, how it takes an image: None where it takes none); the first kind the
# logger is an instance of wins
HOW: tuple[tuple[type, Taker, Taker | None], ...] = (
    (TensorBoardLogger, _tensorboard_histogram, _tensorboard_image),
    (WandbLogger, _wandb_histogram, _wandb_image),
)
SCALARS_ONLY: tuple[Taker, None] = (_scalar_summary, None)


def _how(logger: Logger) -> tuple[Taker, Taker | None]:
    return next(((histogram, image) for kind, histogram, image in HOW if isinstance(logger, kind)), SCALARS_ONLY)


def log_histogram(logger: Logger, tag: str, values, step: int) -> None:
    _how(logger)[0](logger, tag, np.asarray(values, dtype=np.float32), step)


def takes_images(logger: Logger) -> bool:
    return _how(logger)[1] is not None


def log_image(logger: Logger, tag: str, pixels: np.ndarray, step: int) -> None:
    """`pixels`: an RGB image [height, width, 3] of uint8; a logger that takes no images is passed over."""
    image = _how(logger)[1]
    if image is not None:
        image(logger, tag, pixels, step)
