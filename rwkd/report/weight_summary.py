"""The weight summaries of a study's runs, read from their folders and pooled by task and scheme (the summary
format: rwkd/records/weight_summary.py)."""

from __future__ import annotations

import json
from pathlib import Path

from rwkd.records.weight_summary import SUMMARY, pool, summarise_log, varies_per_sample


def load_run(run: Path) -> dict | None:
    """One run's pooled summary: its weight_summary.rankN.json shards (DDP) or weight_summary.json, else its
    Parquet logs (runs from before summaries were written), else None."""
    files = sorted(run.glob("weight_summary.rank*.json")) or sorted(run.glob(SUMMARY))
    if files:
        return pool([json.loads(f.read_text()) for f in files])
    # a run resumed under another world size may hold both kinds of log: its DDP shards are the whole log
    logs = sorted(run.glob("sample_weights.rank*.parquet")) or sorted(run.glob("sample_weights.parquet"))
    if not logs:
        return None
    import pyarrow.parquet as pq

    return pool([summarise_log(pq.read_table(f).to_pydict()) for f in logs])


def _pooled_by_task_and_scheme(results: list[dict], keep) -> dict[str, dict[str, tuple[dict, int]]]:
    """{task: {scheme: (pooled summary, number of runs)}} over the runs whose summary `keep` accepts."""
    found: dict = {}
    for r in results:
        summary = load_run(Path(r["_path"]))
        if summary is not None and keep(r, summary):
            found.setdefault(r["task"], {}).setdefault(r["weighting"], []).append(summary)
    return {task: {scheme: (pool(runs), len(runs)) for scheme, runs in sorted(schemes.items())}
            for task, schemes in sorted(found.items())}


def by_task_and_scheme(results: list[dict]) -> dict[str, dict[str, tuple[dict, int]]]:
    """The runs that had a teacher and whose weights varied within a step (heuristic and learned schemes);
    others' weights are known by construction."""
    return _pooled_by_task_and_scheme(results, lambda r, s: bool(r.get("teacher")) and varies_per_sample(s))


def terms_by_task_and_scheme(results: list[dict]) -> dict[str, dict[str, tuple[dict, int]]]:
    """The runs with more than two terms (rwkd/terms.py), whatever their scheme: each term's weights."""
    return _pooled_by_task_and_scheme(results, lambda r, s: "terms" in s)


def floors_by_task_and_scheme(results: list[dict]) -> dict[str, dict[str, tuple[dict, int]]]:
    """The RW-KD runs that logged how many of each sample's scores the delta floor replaced."""
    return _pooled_by_task_and_scheme(results, lambda r, s: "floored_terms" in s)


def noise_by_task_and_scheme(results: list[dict]) -> dict[str, dict[str, tuple[dict, int]]]:
    """The runs with noisy training labels (data.label_noise) whose summaries split the weights by flipped and
    clean rows, whatever their scheme."""
    return _pooled_by_task_and_scheme(results, lambda r, s: "by_label_noise" in s)
