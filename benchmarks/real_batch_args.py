"""The command-line options of the benchmarks that time meta-step parts on a few real batches of a task."""

from __future__ import annotations

import argparse


def real_batch_parser(doc: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--task", default="mrpc")
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 1, 2, 3], help="the MiniLM layers of the student")
    parser.add_argument("--batches", type=int, default=6, help="batches timed; the first is dropped as warm-up")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    return parser
