"""`rwkd report PATH...`: the task x scheme table of a sweep, from its results.json files.

Numbers are dev headline metrics x 100, mean +- sample standard deviation over seeds, at the epoch --select-on
chooses from each record's history (by default the best on the held-out meta split; rwkd/records/epochs.py) and,
separately, the last epoch. The GLUE average is the mean of a
scheme's task means, given only where the scheme has every task of the table (labelled "mean of N tasks"
unless the table has all nine).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

from rwkd.atomic import write_text
from rwkd.errors import RwkdError
from rwkd.records.epochs import DEFAULT, SELECT_ON, at_chosen_epoch
from rwkd.records.reading import find_results
from rwkd.report.summary import summarise
from rwkd.report.tables import markdown, write_csv


def document_text(args: argparse.Namespace, results: list[dict], not_applicable: list[dict], table_markdown: str,
                  command: str, plots: list[Path] | None, noisy: list[dict] = ()) -> str:
    """The --doc page, from the parsed arguments and what was read and drawn: its own function so that a test
    can regenerate a committed page from its committed records and compare them whole."""
    from rwkd.records.sweep_plan import read_plan
    from rwkd.report.document import study_document

    doc = Path(args.doc)
    if plots is None:  # --no-plots: link those an earlier call drew
        plots = (Path(args.plots_dir) if args.plots_dir else doc.parent).glob("weights_*.png")
    if args.reading and not Path(args.reading).is_file():
        raise RwkdError(f"--reading {args.reading} does not exist; give the Markdown file with the reading")
    reading = Path(args.reading).read_text() if args.reading else None
    plans = [plan for plan in map(read_plan, args.paths) if plan is not None]
    # sorted: a page drawn with --no-plots and one that drew its plots link them in the same order
    return study_document(results, not_applicable, table_markdown, doc, command, sorted(plots), reading,
                          args.title, plans, args.seeds, noisy)


def _write_doc(args, results: list[dict], not_applicable: list[dict], table_markdown: str,
               argv: list[str] | None, plots: list[Path] | None, noisy: list[dict]) -> Path:
    import shlex

    command = shlex.join(["rwkd", "report", *(sys.argv[2:] if argv is None else argv)])
    doc = Path(args.doc)
    write_text(doc, document_text(args, results, not_applicable, table_markdown, command, plots, noisy))
    return doc


def reported_apart(results: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the runs the tables report, a noisy-label condition reported in a section of its own): a study's clean
    runs and its noisy ones, given together, stay apart; noisy runs alone are the tables' runs."""
    from rwkd.report.noise import split_noisy

    clean, noisy = split_noisy(results)
    return (clean, noisy) if clean else (noisy, [])


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rwkd report", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="run or multirun folders (searched for results.json)")
    parser.add_argument("--out", help="folder for report.md, report.csv and plots (default: the first path)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--doc", help="also write a results page (commands, machines, table, timings, plots)")
    parser.add_argument("--plots-dir", help="--doc links the weights_*.png found here (default: beside --doc)")
    parser.add_argument("--reading", help="--doc takes its 'Reading' section from this Markdown file")
    parser.add_argument("--title", default="Results", help="--doc's title")
    parser.add_argument("--select-on", choices=SELECT_ON, default=DEFAULT,
                        help="which epoch of each run the tables use: the best meta-split headline (held-out train "
                        "rows; default), the best dev headline, the last epoch, or the record's own best entry")
    parser.add_argument("--seeds", type=int, help="--doc counts a cell complete at this many seeds (the study's "
                        "plan; default: as many as the fullest cell has)")
    return parser


class Reported(NamedTuple):
    """What a report reads and tabulates (read_reported): apart from main, so that a test regenerates a committed
    page by the same path as `rwkd report`."""

    results: list[dict]  # the runs the tables report, each at the epoch --select-on chose
    noisy: list[dict]  # a noisy-label condition reported beside them (reported_apart)
    not_applicable: list[dict]
    summary: dict
    table: str  # the Markdown `rwkd report` prints and writes to report.md


def read_reported(args: argparse.Namespace) -> Reported:
    results, failed, not_applicable = find_results(args.paths)
    results, noisy = reported_apart(at_chosen_epoch(results, args.select_on))
    summary = summarise(results, not_applicable)
    return Reported(results, noisy, not_applicable, summary, markdown(summary, failed))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reported = read_reported(args)
    results, text = reported.results, reported.table
    out = Path(args.out or args.paths[0])
    print(text)
    write_text(out / "report.md", text)
    write_csv(reported.summary, out / "report.csv")
    written = [out / "report.md", out / "report.csv"]
    plots = None
    if not args.no_plots:
        from rwkd.report.plots import plot_term_weights, plot_weights

        plots = plot_weights(results, out) + plot_term_weights(results, out)
        written += plots
    if args.doc:
        written.append(_write_doc(args, results, reported.not_applicable, text, argv, plots, reported.noisy))
    print("rwkd: wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return 0
