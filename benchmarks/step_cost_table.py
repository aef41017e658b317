"""One table of step-cost ratios per task from the JSON records of benchmarks/step_cost.py.

    python benchmarks/step_cost_table.py results/benchmarks/step_cost_*_LABEL.json

One row per record (task), one column per variant: its step time over plain fine-tuning's from the same record,
with plain fine-tuning's ms/step first. Targets of issue 51 are marked: a meta (RW-KD) ratio above 2.0 or a
metanet ratio above 2.5 gets a `*`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGETS = {"meta,": 2.0, "metanet,": 2.5}


def _target(variant: str) -> float | None:
    return next((t for prefix, t in TARGETS.items() if variant.startswith(prefix)), None)


def table(paths: list[str]) -> str:
    records = [json.loads(Path(p).read_text()) for p in paths]
    variants: list[str] = []
    for r in records:
        variants += [row["variant"] for row in r["rows"][1:] if row["variant"] not in variants]
    lines = ["| task | student layers | `none` ms/step | " + " | ".join(f"{v} ×" for v in variants) + " |",
             "|---|---|---:|" + "---:|" * len(variants)]
    for r in records:
        rows = {row["variant"]: row for row in r["rows"]}
        base = r["rows"][0]
        cells = []
        for v in variants:
            if v not in rows:
                cells.append("")
                continue
            ratio = rows[v]["ratio_to_plain"]
            over = _target(v) is not None and ratio > _target(v)
            cells.append(f"{ratio:.2f}{'*' if over else ''}")
        lines.append(f"| {r['args']['task']} | {len(base['student_layers'])} | {base['step_s'] * 1000:.0f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n`*`: above the target of issue 51 (meta ≤ 2.0×, metanet ≤ 2.5× plain fine-tuning)."


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(table(sys.argv[1:]))
