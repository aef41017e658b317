"""Plots of the learned weights, from each run's sample_weights*.parquet (PNG, no display needed)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

SCATTER_POINTS = 3000


def _load(run: Path) -> dict[str, list] | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(run.glob("sample_weights*.parquet"))
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pydict()


def varies_per_sample(table: dict[str, list]) -> bool:
    """True when some step gave its samples different weights (learned or heuristic schemes); fixed and
    annealed schemes give one weight per step, which a histogram would only draw as spikes."""
    spread: dict = {}
    for epoch, step, w in zip(table["epoch"], table["step"], table["weight"], strict=True):
        low, high = spread.get((epoch, step), (w, w))
        spread[(epoch, step)] = (min(low, w), max(high, w))
    return any(high - low > 1e-6 for low, high in spread.values())


def _spread_out(values: list, n: int) -> list:
    """n values taken evenly through the whole log, not the first n (which would all be from epoch 0)."""
    stride = max(1, len(values) // n)
    return values[::stride][:n]


def plot_weights(results: list[dict], out: Path) -> list[Path]:
    """Per task: weight histograms of the per-sample schemes, mean weight per epoch of every scheme, and
    weight against teacher confidence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    by_task: dict = defaultdict(lambda: defaultdict(list))
    for r in results:
        table = _load(Path(r["_path"]))
        if table is not None and r.get("teacher"):
            by_task[r["task"]][r["weighting"]].append(table)
    written = []
    for task, schemes in sorted(by_task.items()):
        fig, axes = plt.subplots(1, 3, figsize=(18, 5))
        colours = {scheme: f"C{i % 10}" for i, scheme in enumerate(sorted(schemes))}
        linestyles = {scheme: "-" if i < 10 else "--" for i, scheme in enumerate(sorted(schemes))}
        for scheme, tables in sorted(schemes.items()):
            style = {"color": colours[scheme], "label": scheme}
            weights = [w for t in tables for w in t["weight"]]
            epochs = sorted({e for t in tables for e in t["epoch"]})
            means = [sum(w for t in tables for w, e in zip(t["weight"], t["epoch"], strict=True) if e == ep)
                     / max(1, sum(1 for t in tables for e in t["epoch"] if e == ep)) for ep in epochs]
            axes[1].plot(epochs, means, marker="o", linestyle=linestyles[scheme], **style)
            if not any(varies_per_sample(t) for t in tables):
                continue
            axes[0].hist(weights, bins=40, range=(0, 1), histtype="step", density=True, **style)
            conf = [c for t in tables for c in t["teacher_confidence"]]
            axes[2].scatter(_spread_out(conf, SCATTER_POINTS), _spread_out(weights, SCATTER_POINTS), s=3,
                            alpha=0.4, color=colours[scheme], label=scheme)
        runs = sum(len(tables) for tables in schemes.values())
        axes[0].set(title=f"{task}: per-sample weights (schemes that vary them)", xlabel="weight w_i (teacher term)",
                    ylabel="density")
        axes[1].set(title=f"{task}: mean weight per epoch ({runs} runs)", xlabel="epoch", ylabel="mean w_i",
                    ylim=(0, 1))
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[2].set(title=f"{task}: weight against teacher confidence", xlabel="p_t(gold label)", ylabel="w_i")
        if axes[0].has_data():
            axes[0].legend(fontsize=7)
        axes[1].legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = out / f"weights_{task}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
