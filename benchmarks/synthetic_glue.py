"""Writes made-up GLUE tasks in the original TSV layout, for runs where the real files cannot go.

    python benchmarks/synthetic_glue.py OUT_DIR [--tasks mrpc rte stsb cola] [--train 2000] [--dev 400]
    RWKD_GLUE_DIR=OUT_DIR rwkd train task=mrpc ...

The text is words drawn from the embedded tokenizer's vocabulary, about as long as the real task's
sentences, so step times match real data of that length. The label is learnable: a class task's label
is set by the marker word its first sentence holds, and a regression score by the share of
words the two sentences have in common. A model that trains should therefore score far above chance;
these files say nothing about how a method does on GLUE itself.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

# words per sentence, roughly the real tasks' means
SENTENCE_WORDS = {"cola": 9, "sst2": 10, "mrpc": 22, "stsb": 10, "rte": 40, "qnli": 30, "qqp": 12, "mnli": 20}
MARKERS = ("apple", "river", "stone")  # the word that decides a class task's label (GLUE has at most 3)


def _vocabulary() -> list[str]:
    from rwkd.models import load_tokenizer

    tokenizer = load_tokenizer("embedded")
    words = [w for w in tokenizer.get_vocab() if w.isalpha() and w.isascii() and len(w) > 2 and w not in MARKERS]
    return sorted(words)


def _sentence(rng: random.Random, words: list[str], n: int) -> list[str]:
    return rng.choices(words, k=max(3, int(rng.gauss(n, n / 4))))


def _rows(task, rng: random.Random, words: list[str], n_rows: int) -> list[tuple[str, str | None, str]]:
    rows = []
    n = SENTENCE_WORDS.get(task.name, 15)
    for _ in range(n_rows):
        a = _sentence(rng, words, n)
        b = _sentence(rng, words, n) if task.text_b is not None else None
        if task.is_regression:
            shared = rng.randint(0, len(b))
            b[:shared] = rng.sample(a, min(shared, len(a)))
            label = f"{5.0 * len(set(a) & set(b)) / len(set(b)):.3f}"
        else:
            k = rng.randrange(len(task.labels))
            a.insert(rng.randrange(len(a) + 1), MARKERS[k])
            label = task.labels[k]
        rows.append((" ".join(a), None if b is None else " ".join(b), label))
    return rows


def _write(path: Path, task, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        if not task.has_header:  # CoLA: source, label, original label, sentence
            for i, (a, _, label) in enumerate(rows):
                f.write(f"synthetic{i % 7}\t{label}\t\t{a}\n")
            return
        columns = [task.text_a.name] + ([task.text_b.name] if task.text_b else []) + [task.label.name]
        f.write("\t".join(["index", *columns]) + "\n")
        for i, (a, b, label) in enumerate(rows):
            f.write("\t".join([str(i), a, *([b] if task.text_b else []), label]) + "\n")


def main() -> int:
    from rwkd.tasks import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--tasks", nargs="+", default=["mrpc", "rte", "stsb", "cola"])
    parser.add_argument("--train", type=int, default=2000, help="rows in each train file")
    parser.add_argument("--dev", type=int, default=400, help="rows in each dev file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    words = _vocabulary()
    for name in args.tasks:
        task = get_task(name)
        rng = random.Random(f"{args.seed}-{name}")
        for split, n_rows in [("train", args.train)] + [(s, args.dev) for s in task.dev_splits]:
            path = Path(args.out_dir) / task.folder / f"{split}.tsv"
            _write(path, task, _rows(task, rng, words, n_rows))
        print(f"wrote {Path(args.out_dir) / task.folder} ({args.train} train, {args.dev} per dev split)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
