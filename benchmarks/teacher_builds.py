"""How far apart two builds of one fine-tuned teacher are: their logits on a task's dev and train rows.

    python benchmarks/teacher_builds.py --task rte A/model B/model [--how 'how A' 'how B'] [--json out.json]

A study that runs in parts fine-tunes its teachers again on each fresh machine. With one thread the same kind of
CPU gives the same bytes; another kind (other vector kernels) gives other weights, though the same epoch and
scores. `teacher.accept_rebuild=same_scores` lets a sweep accept such a rebuild; this measures what it accepts:
per split, the largest and mean absolute difference of the two builds' logits, the largest difference of their
class probabilities, and the share of rows whose predicted class agrees. Two builds on one machine differ the
same way when one is forced onto other kernels, e.g. `ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
ONEDNN_MAX_CPU_ISA=AVX2 rwkd teacher experiment=study_glue task=rte paths.teachers=/tmp/avx2`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from rwkd.data.glue_tsv import read_split
from rwkd.data.sources import default_glue_dir
from rwkd.errors import RwkdError
from rwkd.models import load_finetuned, load_tokenizer
from rwkd.records.provenance import file_sha256, hardware
from rwkd.tasks import get_task


def logits(model, tokenizer, rows, max_len: int, batch_size: int = 64) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            pairs = [r.text_b for r in chunk] if chunk[0].text_b is not None else None
            batch = tokenizer([r.text_a for r in chunk], pairs, truncation=True, max_length=max_len, padding=True,
                              return_tensors="pt")
            out.append(model(**batch).logits)
    return torch.cat(out)


def compare(task: str, a: Path, b: Path, max_len: int) -> dict:
    spec = get_task(task)
    if (root := default_glue_dir()) is None:
        raise RwkdError("no GLUE folder: set RWKD_GLUE_DIR to a folder in the GLUE TSV layout")
    tokenizer = load_tokenizer(str(a))
    models = [load_finetuned(a).eval(), load_finetuned(b).eval()]
    result = {"task": task, "builds": [{"path": str(p), "weights_sha256": file_sha256(p / "model.safetensors")}
                                       for p in (a, b)], "hardware": hardware(), "splits": {}}
    for split in ("dev", "train"):
        rows = read_split(Path(root), spec, split)
        la, lb = (logits(m, tokenizer, rows, max_len) for m in models)
        diff = (la - lb).abs()
        row = {"rows": len(rows), "max_abs_logit_diff": diff.max().item(), "mean_abs_logit_diff": diff.mean().item(),
               "logit_std": la.std().item()}
        if not spec.is_regression:
            row["max_abs_prob_diff"] = (la.softmax(-1) - lb.softmax(-1)).abs().max().item()
            row["argmax_agreement"] = (la.argmax(-1) == lb.argmax(-1)).float().mean().item()
        result["splits"][split] = row
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("build_a", type=Path, help="a teacher's model folder (outputs/teachers/<task>/<name>/model)")
    parser.add_argument("build_b", type=Path)
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--how", nargs=2, metavar=("A", "B"), default=("", ""),
                        help="how each build was made, recorded with the result (e.g. 'native kernels' 'forced AVX2')")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = compare(args.task, args.build_a, args.build_b, args.max_len)
    for build, how in zip(result["builds"], args.how, strict=True):
        build["how"] = how
    shas = [b["weights_sha256"][:12] for b in result["builds"]]
    print(f"{args.task}: builds {shas[0]} and {shas[1]} on {result['hardware']['cpu']}")
    for split, row in result["splits"].items():
        extra = "" if "argmax_agreement" not in row else \
            f", max |Δprob| {row['max_abs_prob_diff']:.2e}, same predicted class on {100 * row['argmax_agreement']:.2f}%"
        print(f"  {split} ({row['rows']} rows): max |Δlogit| {row['max_abs_logit_diff']:.2e}, mean "
              f"{row['mean_abs_logit_diff']:.2e} (logits' std {row['logit_std']:.3f}){extra}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
