"""Plots of the per-sample weights (PNG, no display needed), drawn from the runs' weight summaries, so a
study's committed results folder redraws them without the per-sample logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rwkd.records.weight_summary import CONFIDENCE_BINS, WEIGHT_BINS, mean_std
from rwkd.report.weight_summary import by_task_and_scheme, terms_by_task_and_scheme


def plot_weights(results: list[dict], out: Path) -> list[Path]:
    """Per task, for the schemes whose weights vary per sample: the weight histogram, the mean weight per
    epoch (band: ± one std over samples), and the mean weight against the teacher's confidence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    written = []
    for task, schemes in by_task_and_scheme(results).items():
        fig, axes = plt.subplots(1, 3, figsize=(18, 5))
        edges = np.linspace(0.0, 1.0, WEIGHT_BINS + 1)
        centres = (np.arange(CONFIDENCE_BINS) + 0.5) / CONFIDENCE_BINS
        for i, (scheme, (summary, runs)) in enumerate(schemes.items()):
            style = {"color": f"C{i % 10}", "label": f"{scheme} (n={runs})"}
            counts = np.asarray(summary["weight_histogram"], dtype=np.float64)
            density = counts / max(counts.sum(), 1.0) / (edges[1] - edges[0])
            axes[0].stairs(density, edges, **style)
            mean, std = map(np.asarray, mean_std(summary["per_epoch"]))
            epochs = summary["per_epoch"]["epoch"]
            axes[1].plot(epochs, mean, marker="o", **style)
            axes[1].fill_between(epochs, mean - std, mean + std, color=style["color"], alpha=0.12)
            by_conf, _ = mean_std(summary["by_teacher_confidence"])
            axes[2].plot(centres, by_conf, marker="o", **style)
        axes[0].set(title=f"{task}: per-sample weights, all epochs and seeds", xlabel="weight w_i (teacher term)",
                    ylabel="density")
        axes[1].set(title=f"{task}: mean weight per epoch (band: ± 1 std over samples)", xlabel="epoch",
                    ylabel="w_i", ylim=(0, 1))
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[2].set(title=f"{task}: mean weight by teacher confidence", xlabel="p_t(gold label), binned",
                    ylabel="mean w_i", xlim=(0, 1), ylim=(0, 1))
        for ax in axes:
            ax.legend(fontsize=7)
        written.append(_save(fig, out / f"weights_{task}.png"))
    return written


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_term_weights(results: list[dict], out: Path) -> list[Path]:
    """Per task, for runs with more than two terms: each term's mean weight per epoch (band: ± one std over
    samples), one panel per scheme."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    written = []
    for task, schemes in terms_by_task_and_scheme(results).items():
        fig, axes = plt.subplots(1, len(schemes), figsize=(6 * len(schemes), 4.5), squeeze=False)
        for ax, (scheme, (summary, runs)) in zip(axes[0], schemes.items(), strict=True):
            epochs = summary["per_epoch"]["epoch"]
            for i, (term, per_term) in enumerate(summary["terms"].items()):
                mean, std = map(np.asarray, mean_std(per_term["per_epoch"]))
                ax.plot(epochs, mean, marker="o", color=f"C{i % 10}", label=term)
                ax.fill_between(epochs, mean - std, mean + std, color=f"C{i % 10}", alpha=0.12)
            ax.set(title=f"{task}: {scheme} (n={runs})", xlabel="epoch", ylabel="mean weight", ylim=(0, 1))
            ax.title.set_fontsize(8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
        written.append(_save(fig, out / f"weights_terms_{task}.png"))
    return written
