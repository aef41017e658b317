"""The figures of the per-sample weights, drawn from weight summaries (rwkd/records/weight_summary.py) as small
multiples: one row of panels per weighting family, so that a panel holds a few schemes, each in a colour of its
own, and the legend sits beside the data instead of on it. `rwkd report` draws them for each task of a study
(rwkd/report/plots.py); a run draws its own at its end for the loggers that take images (rwkd/training/weight_log.py).

Figures are matplotlib `Figure` objects made without pyplot: no display, no global state to close.
"""

from __future__ import annotations

import textwrap

import numpy as np

from rwkd.records.weight_summary import CONFIDENCE_BINS, WEIGHT_BINS, mean_std, term_order, varies_per_sample

# a scheme's family, by the name its label starts with (WeightingScheme.name: `meta(rwkd, ...)` -> meta)
FAMILY_OF_SCHEME = {"fixed": "fixed", "annealed": "annealed", "heuristic": "heuristic",
                    "meta": "meta-learned", "metanet": "meta-learned"}
FAMILIES = ("fixed", "annealed", "heuristic", "meta-learned")  # the order of the rows; any other family comes last

WIDTH_INCHES, DPI = 14.5, 110  # 1595 pixels wide: a figure fits the width of one screen
PANELS_PER_ROW = 3
TERM_DASHES, TERM_MARKERS = ("-", "--", ":", "-."), ("o", "s", "^", "D", "v", "P")
VIEWS = ("histogram", "mean per epoch", "by teacher confidence")  # each view's axes carry its name as their label


def family_of(label: str) -> str:
    return FAMILY_OF_SCHEME.get(label.split("(", 1)[0].split(" [", 1)[0].strip(), "other")


def by_family(schemes: dict[str, tuple[dict, int]]) -> dict[str, dict[str, tuple[dict, int]]]:
    """{family: {scheme: (summary, runs)}}, the families in FAMILIES order, the schemes in the order given."""
    grouped: dict = {}
    for scheme, entry in schemes.items():
        grouped.setdefault(family_of(scheme), {})[scheme] = entry
    rank = {family: i for i, family in enumerate(FAMILIES)}
    return {f: grouped[f] for f in sorted(grouped, key=lambda f: (rank.get(f, len(FAMILIES)), f))}


def _wrap(text: str, width: int) -> str:
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def _mean(ax, x, group: dict, colour: str, label: str, band: bool = True, **style) -> None:
    """The mean weight over x, with a band of ± one standard deviation over samples."""
    mean, std = map(np.asarray, mean_std(group))
    ax.plot(x, mean, color=colour, label=label, **({"marker": "o", "markersize": 3} | style))
    if band:
        ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.1)


def weights_figure(task: str, schemes: dict[str, tuple[dict, int]]):
    """For schemes whose weights vary per sample, one row per family: the weight histogram (all epochs and runs),
    the mean weight per epoch, and the mean weight against the teacher's confidence; the row's legend at its right."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    families = by_family(schemes)
    fig = Figure(figsize=(WIDTH_INCHES, 0.7 + 2.6 * len(families)), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(len(families), 4, width_ratios=(1, 1, 1, 0.8))
    edges = np.linspace(0.0, 1.0, WEIGHT_BINS + 1)
    centres = (np.arange(CONFIDENCE_BINS) + 0.5) / CONFIDENCE_BINS
    for row, (family, members) in enumerate(families.items()):
        hist, per_epoch, by_conf = (fig.add_subplot(grid[row, col], label=VIEWS[col]) for col in range(3))
        for i, (scheme, (summary, runs)) in enumerate(members.items()):
            colour, label = f"C{i % 10}", f"{scheme} (n={runs})"
            counts = np.asarray(summary["weight_histogram"], dtype=np.float64)
            hist.stairs(counts / max(counts.sum(), 1.0) / (edges[1] - edges[0]), edges, color=colour, label=label)
            _mean(per_epoch, summary["per_epoch"]["epoch"], summary["per_epoch"], colour, label)
            # no bands here: a bin's spread over samples hides the other schemes' means and adds little
            _mean(by_conf, centres, summary["by_teacher_confidence"], colour, label, band=False)
        hist.set(title=f"{family}: histogram of w_i", xlabel="weight w_i (teacher term)", ylabel="density", xlim=(0, 1))
        per_epoch.set(title=f"{family}: mean w_i per epoch", xlabel="epoch", ylabel="mean w_i", ylim=(0, 1))
        per_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
        by_conf.set(title=f"{family}: mean w_i by teacher confidence", xlabel="p_t(gold label), binned",
                    ylabel="mean w_i", xlim=(0, 1), ylim=(0, 1))
        for ax in (hist, per_epoch, by_conf):
            ax.title.set_fontsize(10)
        legend = fig.add_subplot(grid[row, 3], label="legend")
        legend.axis("off")
        handles, labels = per_epoch.get_legend_handles_labels()
        legend.legend(handles, [_wrap(label, 44) for label in labels], loc="center left", fontsize=8,
                      title=family, alignment="left", frameon=False)
    fig.suptitle(f"{task}: per-sample weights of the schemes that weigh each sample of a step differently "
                 "(all epochs and runs; band: ± 1 std over samples)")
    return fig


def _terms_suffix(label: str) -> str:
    return label[label.index(" ["):] if " [" in label else ""


def term_weights_figure(task: str, schemes: dict[str, tuple[dict, int]]):
    """For runs with more than two terms: each term's mean weight per epoch, a panel per scheme, the panels of a
    family on rows of their own (at most PANELS_PER_ROW to a row); one legend of the terms below them all."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    suffixes = {_terms_suffix(scheme) for scheme in schemes}
    common = suffixes.pop() if len(suffixes) == 1 else ""  # named once in the title rather than in every panel
    rows = [(family, list(members.items())[i:i + PANELS_PER_ROW])
            for family, members in by_family(schemes).items() for i in range(0, len(members), PANELS_PER_ROW)]
    terms = sorted({t for summary, _ in schemes.values() for t in summary["terms"]}, key=term_order)
    colour = {term: f"C{i % 10}" for i, term in enumerate(terms)}
    # terms of equal weight (a fixed scheme's teacher terms) draw one line over another: each its own dashes and
    # marker, so that all of them still show
    style = {term: {"linestyle": TERM_DASHES[i % len(TERM_DASHES)], "marker": TERM_MARKERS[i % len(TERM_MARKERS)],
                    "markersize": 4} for i, term in enumerate(terms)}
    fig = Figure(figsize=(WIDTH_INCHES, 1.1 + 2.7 * len(rows)), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(rows), PANELS_PER_ROW, squeeze=False)
    for (family, members), row in zip(rows, axes, strict=True):
        for ax, (scheme, (summary, runs)) in zip(row, members, strict=False):
            epochs = summary["per_epoch"]["epoch"]
            for term, per_term in summary["terms"].items():
                _mean(ax, epochs, {"epoch": epochs, **per_term["per_epoch"]}, colour[term], term, **style[term])
            ax.set(title=_wrap(f"{scheme.removesuffix(common)} (n={runs})", 60), xlabel="epoch",
                   ylabel=f"{family}\nmean weight" if ax is row[0] else "", ylim=(0, 1))
            ax.title.set_fontsize(9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in row[len(members):]:
            ax.axis("off")
    handles = [Line2D([], [], color=colour[t], **style[t]) for t in terms]
    fig.legend(handles, terms, loc="outside lower center", ncols=len(terms), frameon=False)
    fig.suptitle(f"{task}: each term's mean weight per epoch{common} (bands: ± 1 std over samples)")
    return fig


def run_figures(task: str, label: str, summary: dict) -> dict[str, object]:
    """The figures `rwkd report` would draw of this one run: {"weights": ..., "terms": ...}, those that apply
    (the first where the weights vary within a step and a teacher scored the samples, the second with > 2 terms)."""
    figures = {}
    if varies_per_sample(summary) and sum(summary["by_teacher_confidence"]["rows"]):
        figures["weights"] = weights_figure(task, {label: (summary, 1)})
    if "terms" in summary:
        figures["terms"] = term_weights_figure(task, {label: (summary, 1)})
    return figures


def figure_pixels(fig) -> np.ndarray:
    """The figure as an RGB image [height, width, 3] of uint8, the form every logger takes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
