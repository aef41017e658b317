"""Plots of the per-sample weights (PNG, no display needed), drawn from the runs' weight summaries, so a
study's committed results folder redraws them without the per-sample logs. The figures themselves, small multiples
by weighting family, are rwkd/weight_figures.py's: a run draws the same ones of itself for its logger."""

from __future__ import annotations

from pathlib import Path

from rwkd.report.weight_summary import by_task_and_scheme, terms_by_task_and_scheme
from rwkd.weight_figures import term_weights_figure, weights_figure


def plot_weights(results: list[dict], out: Path) -> list[Path]:
    """Per task, for the schemes whose weights vary per sample: the weight histogram, the mean weight per
    epoch (band: ± one std over samples), and the mean weight against the teacher's confidence; a row per family."""
    return [_save(weights_figure(task, schemes), out / f"weights_{task}.png")
            for task, schemes in by_task_and_scheme(results).items()]


def plot_term_weights(results: list[dict], out: Path) -> list[Path]:
    """Per task, for runs with more than two terms: each term's mean weight per epoch (band: ± one std over
    samples), one panel per scheme, a row per family."""
    return [_save(term_weights_figure(task, schemes), out / f"weights_terms_{task}.png")
            for task, schemes in terms_by_task_and_scheme(results).items()]


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)  # at the figure's own dpi (rwkd/weight_figures.py)
    return path
