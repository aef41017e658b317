"""Plots of the learned weights, from each run's sample_weights*.parquet (PNG, no display needed)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def _load(run: Path) -> dict[str, list] | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(run.glob("sample_weights*.parquet"))
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pydict()


def plot_weights(results: list[dict], out: Path) -> list[Path]:
    """Per task: weight histograms per scheme, mean weight per epoch, and weight against teacher confidence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_task: dict = defaultdict(lambda: defaultdict(list))
    for r in results:
        table = _load(Path(r["_path"]))
        if table is not None and r.get("teacher"):
            by_task[r["task"]][r["weighting"]].append(table)
    written = []
    for task, schemes in sorted(by_task.items()):
        fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
        for scheme, tables in sorted(schemes.items()):
            weights = [w for t in tables for w in t["weight"]]
            axes[0].hist(weights, bins=40, range=(0, 1), histtype="step", density=True, label=scheme)
            epochs = sorted({e for t in tables for e in t["epoch"]})
            means = [sum(w for t in tables for w, e in zip(t["weight"], t["epoch"], strict=True) if e == ep)
                     / max(1, sum(1 for t in tables for e in t["epoch"] if e == ep)) for ep in epochs]
            axes[1].plot(epochs, means, marker="o", label=scheme)
            conf = [c for t in tables for c in t["teacher_confidence"]]
            axes[2].scatter(conf[:3000], weights[:3000], s=3, alpha=0.4, label=scheme)
        axes[0].set(title=f"{task}: distribution of per-sample weights", xlabel="weight w_i (teacher term)",
                    ylabel="density")
        axes[1].set(title=f"{task}: mean weight per epoch", xlabel="epoch", ylabel="mean w_i", ylim=(0, 1))
        axes[2].set(title=f"{task}: weight against teacher confidence", xlabel="p_t(gold label)", ylabel="w_i")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        path = out / f"weights_{task}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
