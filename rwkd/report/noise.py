"""The noisy-label condition on a study's page (data.label_noise, rwkd/data/label_noise.py): per task and scheme,
the dev score beside the weight the scheme gave the label term on the rows whose training label was made wrong
("flipped") and on the others ("clean"). Where the label is wrong, a scheme that weighs samples well should move
weight off the label term and onto the teacher's.

The weights are the last epoch's, pooled over seeds: what a scheme arrived at once its meta-learner or schedule
had moved (every training row is weighted once per epoch). The dev score is the reported epoch's, as in the
page's main table.
"""

from __future__ import annotations

import math
import statistics

from rwkd import markdown
from rwkd.errors import RwkdError
from rwkd.records.weight_summary import GROUP, WEIGHT_BINS, mean_std
from rwkd.report.weight_summary import noise_by_task_and_scheme

INTRO = ("Noisy labels (`data.label_noise`): a seeded share p of each run's training labels was made wrong (meta "
         "split and dev clean). Mean (median) weight of the label term on the clean and the flipped rows in the "
         "last epoch, over every seed's rows, and the flipped minus clean difference of the means (negative: "
         "less weight on a wrong label); the teacher side's mean weight, and with more than two terms each "
         "teacher term's; dev headline x 100 at the reported epoch, mean over seeds (n: the runs with a score, where "
         "not every run's weights were summarised). The teacher-correct and teacher-confidence rules read the "
         "training label the student sees, so on a flipped row a clean teacher counts as wrong:")


def histogram_median(counts: list[int], low: float | None, high: float | None) -> float | None:
    """The median of weights known by their WEIGHT_BINS-bin histogram over [0, 1]: the middle order statistic (the
    mean of the two middle ones for an even count), each placed evenly within its bin and kept between the smallest
    and largest weight. Exact where the weights are all equal; else each order statistic lies in the bin it is
    placed in, so the median is within 1/WEIGHT_BINS."""
    total = sum(counts)
    if not total:
        return None
    ranks = (total // 2 + 1,) if total % 2 else (total // 2, total // 2 + 1)
    return statistics.fmean(min(max(_order_statistic(counts, k), low), high) for k in ranks)


def _order_statistic(counts: list[int], k: int) -> float:
    """The k-th smallest weight (1-based), placed evenly within its bin."""
    before = 0
    for b, n in enumerate(counts):
        if before + n >= k:
            return (b + (k - before - 0.5) / n) / WEIGHT_BINS
        before += n
    raise ValueError(f"rank {k} beyond the {before} weights of the histogram")


def last_epoch_weights(distribution: dict) -> tuple[float | None, float | None]:
    """(mean, median) of a by_label_noise group's weights in its last epoch that has rows."""
    epochs = [e for e, n in enumerate(distribution["rows"]) if n]
    if not epochs:
        return None, None
    e = epochs[-1]
    (mean,), _ = mean_std({k: [distribution[k][e]] for k in GROUP})
    return mean, histogram_median(distribution["histogram"][e], distribution["low"][e], distribution["high"][e])


def _fmt(mean: float | None, median: float | None = None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" if median is None else f"{mean:.3f} ({median:.3f})"


def label_noise_table(results: list[dict]) -> str | None:
    """The table, or None where no run had noisy labels and a weight summary that splits them."""
    noisy = [r for r in results if (r.get("data") or {}).get("label_noise")]
    rows = []
    for task, schemes in noise_by_task_and_scheme(noisy).items():
        for scheme, (summary, runs) in schemes.items():
            cell = [r for r in noisy if r["task"] == task and r["weighting"] == scheme]
            ps = sorted({r["data"]["label_noise"]["p"] for r in cell})
            if len(ps) > 1:
                raise RwkdError(f"the noisy runs of {task} {scheme} have label_noise p {', '.join(f'{p:g}' for p in ps)}: "
                                "their weights would pool into one row; accepted: one share per report")
            scores = [100 * r["best"]["metrics"]["val/headline"] for r in cell]
            finite = [v for v in scores if math.isfinite(v)]
            dev = f"{statistics.fmean(finite):.2f}" if finite else "n/a"
            if len(finite) != runs:  # the weights' runs are the ones counted; say where the score's differ
                dev += f" (n={len(finite)})"
            split = summary["by_label_noise"]
            clean, flipped = last_epoch_weights(split["label"]["clean"]), last_epoch_weights(split["label"]["flipped"])
            gap = None if None in (clean[0], flipped[0]) else flipped[0] - clean[0]
            teacher = f"{_fmt(last_epoch_weights(split['teacher']['clean'])[0])} / " \
                      f"{_fmt(last_epoch_weights(split['teacher']['flipped'])[0])}"
            terms = "; ".join(f"{term} {_fmt(last_epoch_weights(groups['clean'])[0])} / "
                              f"{_fmt(last_epoch_weights(groups['flipped'])[0])}"
                              for term, groups in split.items() if term not in ("label", "teacher"))
            rows.append([task, scheme, ", ".join(f"{p:g}" for p in ps), runs, dev, _fmt(*clean),
                         _fmt(*flipped), "n/a" if gap is None else f"{gap:+.3f}", teacher, terms or "-"])
    if not rows:
        return None
    return markdown.table(["task", "scheme", "p", "runs", "dev", "label weight, clean", "label weight, flipped",
                           "flipped - clean", "teacher side, clean / flipped", "teacher terms, clean / flipped"], rows)


def is_noisy(record: dict) -> bool:
    return bool((record.get("data") or {}).get("label_noise"))


def split_noisy(results: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the runs with clean training labels, the runs with noisy ones). A study reported with its noisy-label
    condition keeps the two apart: the same task, scheme and seed name a different run in each."""
    return [r for r in results if not is_noisy(r)], [r for r in results if is_noisy(r)]


def label_noise_section(results: list[dict], condition: list[dict] = ()) -> list[str]:
    """The page's lines for the noisy-label condition; none where it has no noisy runs. `condition`: the noisy
    runs of a condition reported beside a clean study (split_noisy), which get a section of their own with their
    commands and their paired differences; else the noisy runs among `results`, whose page is about them."""
    if not condition:
        table = label_noise_table(results)
        return [] if table is None else [INTRO, "", table, ""]
    from rwkd.report.paired_tables import paired_table
    from rwkd.study.tuning import TUNED

    commands = sorted({r.get("command", "") for r in condition})
    return ["## Noisy labels", "", f"A condition of its own ({len(condition)} runs), in none of the tables above. "
            "Its commands:", "", "```bash", *commands, "```", "", INTRO, "",
            label_noise_table(condition) or "No weight summaries split by flipped and clean rows were found.", "",
            "Each scheme minus the fixed alpha chosen on the (clean) meta split, and minus `none`, on the same task "
            "and seed, dev headline x 100 at the reported epoch (as in the paired tables above; Holm over each "
            "table alone):", "", paired_table(condition, TUNED), "", paired_table(condition, "none"), ""]
