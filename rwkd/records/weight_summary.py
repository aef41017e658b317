"""A run's per-sample weight log reduced to a few hundred numbers: what the weight plots and the weight
table of a study are drawn from, small enough to commit beside results.json (the logs are not).

Every field is a count or a sum, so the summaries of several runs (seeds, or the ranks of one DDP run)
pool by adding them up; means and standard deviations are taken only when reading.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rwkd.atomic import write_text

SUMMARY = "weight_summary.json"
WEIGHT_BINS = 40  # histogram of w over [0, 1]
CONFIDENCE_BINS = 10  # teacher confidence p_t(gold) over [0, 1]
# Above this, some step gave its samples different weights; fixed and annealed schemes stay at 0.
VARIES = 1e-6
GROUP = ("rows", "weight_sum", "weight_sq_sum")  # the sums each group of weights is kept as
DISTRIBUTION = (*GROUP, "histogram", "low", "high")  # _epoch_distribution's fields
# A sample-log column of runs with noisy labels (data.label_noise): 1 where the row's training label was changed.
NOISED = "label_noised"


def _sums(values: np.ndarray, groups: np.ndarray, n_groups: int) -> dict[str, list]:
    return {"rows": np.bincount(groups, minlength=n_groups).tolist(),
            "weight_sum": np.bincount(groups, weights=values, minlength=n_groups).tolist(),
            "weight_sq_sum": np.bincount(groups, weights=values**2, minlength=n_groups).tolist()}


def summarise_log(columns: dict) -> dict:
    """The summary of one log: `columns` maps diagnostics.COLUMNS to equal-length arrays."""
    weight = np.asarray(columns["weight"], dtype=np.float64)
    step = np.asarray(columns["step"], dtype=np.int64)
    epoch = np.asarray(columns["epoch"], dtype=np.int64)
    confidence = np.asarray(columns["teacher_confidence"], dtype=np.float64)
    correct = np.asarray(columns["teacher_correct"], dtype=np.float64)

    steps, per_step = np.unique(step, return_inverse=True)
    high = np.full(len(steps), -np.inf)
    low = np.full(len(steps), np.inf)
    np.maximum.at(high, per_step, weight)
    np.minimum.at(low, per_step, weight)
    spread = float((high - low).max()) if len(steps) else 0.0

    epochs, per_epoch = np.unique(epoch, return_inverse=True)
    known = ~np.isnan(confidence)  # runs without a teacher log NaN there
    conf_bin = np.clip((confidence[known] * CONFIDENCE_BINS).astype(np.int64), 0, CONFIDENCE_BINS - 1)
    judged = ~np.isnan(correct)
    right = correct[judged] > 0.5
    summary = {
        "rows": int(weight.size),
        "max_spread_within_step": spread,
        "weight_histogram": np.histogram(weight, bins=WEIGHT_BINS, range=(0.0, 1.0))[0].tolist(),
        "per_epoch": {"epoch": epochs.tolist(), **_sums(weight, per_epoch, len(epochs))},
        "by_teacher_confidence": _sums(weight[known], conf_bin, CONFIDENCE_BINS),
        "by_teacher_correct": {"right": _sums(weight[judged][right], np.zeros(int(right.sum()), np.int64), 1),
                               "wrong": _sums(weight[judged][~right], np.zeros(int((~right).sum()), np.int64), 1)},
    }
    if "floored_terms" in columns:  # RW-KD: how many of each sample's scores the delta floor replaced
        k = len([c for c in columns if c.startswith("weight_")]) or 2
        floored = np.asarray(columns["floored_terms"], dtype=np.float64)
        floored = floored[~np.isnan(floored)].astype(np.int64)  # rows logged before the column existed: NaN
        summary["floored_terms"] = np.bincount(floored, minlength=k + 1).tolist()  # [no score floored, 1, ..., all K]
    terms = [c[len("weight_"):] for c in columns if c.startswith("weight_")]
    if terms:  # a run with more than two terms: each term's weights, as histogram and per epoch
        summary["terms"] = {}
        for term in terms:
            w = np.asarray(columns[f"weight_{term}"], dtype=np.float64)
            summary["terms"][term] = {"weight_histogram": np.histogram(w, bins=WEIGHT_BINS, range=(0.0, 1.0))[0].tolist(),
                                      "per_epoch": _sums(w, per_epoch, len(epochs))}
    if NOISED in columns:
        summary["by_label_noise"] = _by_label_noise(columns, per_epoch, len(epochs))
    return summary


def _by_label_noise(columns: dict, per_epoch: np.ndarray, n_epochs: int) -> dict:
    """{part: {"clean" | "flipped": per-epoch weights}}: the weights of the rows whose training label the noise
    changed ("flipped", regression's replaced scores included) and of the others. Parts: the label term (1 - w with
    two terms), the teacher side (w) and, in a run with more terms, each term. Per epoch the sums, a histogram and
    the extremes: enough to pool runs and to read a mean and a median (rwkd/report/noise.py)."""
    teacher = np.asarray(columns["weight"], dtype=np.float64)
    parts = {"label": columns.get("weight_label", 1.0 - teacher), "teacher": teacher,
             **{c[len("weight_"):]: columns[c] for c in columns if c.startswith("weight_") and c != "weight_label"}}
    noised = np.asarray(columns[NOISED], dtype=np.float64)
    out = {}
    for part, values in parts.items():
        w = np.asarray(values, dtype=np.float64)
        out[part] = {}
        for group, rows in (("clean", noised == 0), ("flipped", noised == 1)):  # NaN: logged before the column
            rows = rows & np.isfinite(w)
            out[part][group] = _epoch_distribution(w[rows], per_epoch[rows], n_epochs)
    return out


def _epoch_distribution(w: np.ndarray, epoch: np.ndarray, n_epochs: int) -> dict:
    cell = epoch * WEIGHT_BINS + np.clip((w * WEIGHT_BINS).astype(np.int64), 0, WEIGHT_BINS - 1)  # 1.0: last bin
    low, high = np.full(n_epochs, np.inf), np.full(n_epochs, -np.inf)
    np.minimum.at(low, epoch, w)
    np.maximum.at(high, epoch, w)
    return {**_sums(w, epoch, n_epochs),
            "histogram": np.bincount(cell, minlength=n_epochs * WEIGHT_BINS).reshape(n_epochs, WEIGHT_BINS).tolist(),
            "low": _finite(low), "high": _finite(high)}


def _finite(values: np.ndarray) -> list:
    return [float(v) if np.isfinite(v) else None for v in values]  # None: no row that epoch


def write_summary(columns: dict, path: Path) -> Path:
    write_text(path, json.dumps(summarise_log(columns)))
    return path


def pool(summaries: list[dict]) -> dict:
    """The summary of all the given runs' rows together: counts and sums added, epochs matched by number."""
    epochs = sorted({e for s in summaries for e in s["per_epoch"]["epoch"]})

    def by_epoch(s: dict, per_epoch: dict | None = None, keys=GROUP, empty=0) -> dict:
        """`per_epoch` (default: the run's own; else a part of it kept by the run's epochs) on the pooled epochs."""
        at = {e: i for i, e in enumerate(s["per_epoch"]["epoch"])}
        values = s["per_epoch"] if per_epoch is None else per_epoch
        return {k: [values[k][at[e]] if e in at else empty for e in epochs] for k in keys}

    pooled = {
        "rows": sum(s["rows"] for s in summaries),
        "max_spread_within_step": max(s["max_spread_within_step"] for s in summaries),
        "weight_histogram": np.sum([s["weight_histogram"] for s in summaries], axis=0).tolist(),
        "per_epoch": {"epoch": epochs, **_add([by_epoch(s) for s in summaries])},
        "by_teacher_confidence": _add([s["by_teacher_confidence"] for s in summaries]),
        "by_teacher_correct": {k: _add([s["by_teacher_correct"][k] for s in summaries]) for k in ("right", "wrong")},
    }
    if all("floored_terms" in s for s in summaries):
        width = max(len(s["floored_terms"]) for s in summaries)
        pooled["floored_terms"] = np.sum([s["floored_terms"] + [0] * (width - len(s["floored_terms"]))
                                          for s in summaries], axis=0).tolist()
    names = [set(s.get("terms", {})) for s in summaries]
    if names and names[0] and all(n == names[0] for n in names):
        pooled["terms"] = {
            term: {"weight_histogram": np.sum([s["terms"][term]["weight_histogram"] for s in summaries], axis=0).tolist(),
                   "per_epoch": _add([by_epoch(s, s["terms"][term]["per_epoch"]) for s in summaries])}
            for term in sorted(names[0], key=term_order)}
    parts = [set(s.get("by_label_noise", {})) for s in summaries]
    if parts and parts[0] and all(p == parts[0] for p in parts):
        pooled["by_label_noise"] = {
            part: {group: _pool_distributions([by_epoch(s, s["by_label_noise"][part][group], DISTRIBUTION, None)
                                               for s in summaries])
                   for group in ("clean", "flipped")}
            for part in summaries[0]["by_label_noise"]}
    return pooled



def _pool_distributions(runs: list[dict]) -> dict:
    """Epoch-aligned distributions (None where a run lacks the epoch) added up; extremes taken over the runs."""
    epochs = len(runs[0]["rows"])
    pooled = {k: [sum(r[k][e] for r in runs if r[k][e] is not None) for e in range(epochs)] for k in GROUP}
    pooled["histogram"] = [np.sum([r["histogram"][e] for r in runs if r["histogram"][e] is not None]
                                  or [[0] * WEIGHT_BINS], axis=0).tolist() for e in range(epochs)]
    pooled["low"] = [min((r["low"][e] for r in runs if r["low"][e] is not None), default=None) for e in range(epochs)]
    pooled["high"] = [max((r["high"][e] for r in runs if r["high"][e] is not None), default=None) for e in range(epochs)]
    return pooled


def term_order(name: str) -> tuple:
    """label, kd, kd1, kd2, ..., hidden0, hidden1, ...: the order of rwkd/terms.py."""
    for rank, prefix in enumerate(("label", "kd", "hidden")):
        if name.startswith(prefix) and name[len(prefix):].isdigit() or name == prefix:
            return (rank, int(name[len(prefix):] or -1))
    return (3, name)


def _add(groups: list[dict]) -> dict:
    return {k: np.sum([g[k] for g in groups], axis=0).tolist() for k in GROUP}


def mean_std(group: dict) -> tuple[list[float], list[float]]:
    """Per entry of a {rows, weight_sum, weight_sq_sum} group: the mean weight and its spread over samples
    (NaN where a group is empty)."""
    rows = np.asarray(group["rows"], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.asarray(group["weight_sum"]) / rows
        var = np.asarray(group["weight_sq_sum"]) / rows - mean**2
    return mean.tolist(), np.sqrt(np.clip(var, 0.0, None)).tolist()


def varies_per_sample(summary: dict) -> bool:
    return summary["max_spread_within_step"] > VARIES
