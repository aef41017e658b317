"""Finding the records runs left under some folders, for the reports and the study's tools."""

from __future__ import annotations

import json
from pathlib import Path

from rwkd.errors import RwkdError
from rwkd.records.format import FAILED, NOT_APPLICABLE, RESULTS


def find_results(paths: list[str]) -> tuple[list[dict], list[Path], list[dict]]:
    """The results.json records under `paths`, the folders of failed jobs, and the not_applicable.json
    records of jobs whose combination is undefined."""
    results, failed, not_applicable = [], [], []
    for root in map(Path, paths):
        if not root.exists():
            raise RwkdError(f"{root} does not exist; give run or multirun folders holding results.json files")
        files = [root] if root.is_file() else sorted(root.rglob(RESULTS))
        for f in files:
            record = json.loads(f.read_text())
            record["_path"] = str(f.parent)
            results.append(record)
        if root.is_dir():
            failed += sorted(p.parent for p in root.rglob(FAILED))
            not_applicable += [json.loads(p.read_text()) for p in sorted(root.rglob(NOT_APPLICABLE))]
    if not results:
        raise RwkdError(f"no results.json under {', '.join(paths)}")
    ran = {(r["task"], r["weighting"]) for r in results}
    return results, failed, [r for r in not_applicable if (r["task"], r["weighting"]) not in ran]
