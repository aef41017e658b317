"""What a tiny end-to-end run costs the test suite in a new process against in the test's own (tests/conftest.py
`run_rwkd`): the same `rwkd train` on generated RTE files, once as `python -m rwkd.cli` and three times in this
process (the first pays the imports, as the first run of a test worker does).

    python benchmarks/cli_in_process.py

Prints each time and the ratio of the new process to the mean of the in-process runs after the first. Both paths
must write the same scores; the script checks that before printing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["task=rte", "teacher=tiny", "student=tiny", "data.max_train_samples=96", "data.max_eval_samples=48",
        "data.max_len=48", "data.batch_size=16", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
        "logger=csv"]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="rwkd_in_process_"))
    glue = work / "glue"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "synthetic_glue.py"), str(glue), "--tasks", "rte"],
                   check=True, capture_output=True)
    common = ["train", *TINY, f"data.dir={glue}", f"paths.outputs={work / 'outputs'}"]
    # the teacher is fine-tuned once, before either path is timed
    subprocess.run([sys.executable, "-m", "rwkd.cli", *common, "hydra.run.dir=" + str(work / "warm")], cwd=work,
                   check=True, capture_output=True)

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rwkd.cli", *common, f"hydra.run.dir={work / 'process'}"], cwd=work,
                   check=True, capture_output=True)
    process = time.perf_counter() - started

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import run_rwkd_here

    here = []
    for i in range(3):
        started = time.perf_counter()
        proc = run_rwkd_here([*common, f"hydra.run.dir={work / f'here{i}'}"], work)
        here.append(time.perf_counter() - started)
        assert proc.returncode == 0, proc.stderr[-2000:]
    scores = {name: json.loads((work / name / "results.json").read_text())["best"]["metrics"]
              for name in ("process", "here0", "here2")}
    assert scores["process"] == scores["here0"] == scores["here2"], scores
    later = sum(here[1:]) / len(here[1:])
    print(f"new process: {process:.1f} s; in process: first {here[0]:.1f} s, then {', '.join(f'{t:.1f}' for t in here[1:])} s")
    print(f"ratio, new process / in process after the first: {process / later:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
