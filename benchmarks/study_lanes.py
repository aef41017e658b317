"""Two study lanes of one torch thread each against one lane of two threads, measured in one run.

    python benchmarks/study_lanes.py [--task mrpc] [--steps 8] [--warmup 2] [--only meta] [--json out.json]

A study on a 2-core machine can run its jobs one at a time with two torch threads, or two at a time (two task
lists, `OMP_NUM_THREADS=1`) with one thread each. Small matrices leave the second thread idle part of each step,
so two single-thread lanes may finish more samples per second between them. This runs
`benchmarks/step_cost.py` once with `--threads 2` alone, then twice at the same time with `--threads 1` (so the two
share the cores, caches and memory bandwidth as two lanes do), and prints, per scheme, the samples per second
of the two lanes together over those of the one two-thread lane.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP_COST = str(Path(__file__).with_name("step_cost.py"))


def _step_cost(args, threads: int, out: Path) -> subprocess.Popen:
    command = [sys.executable, STEP_COST, "--task", args.task, "--steps", str(args.steps), "--warmup",
               str(args.warmup), "--rounds", "1", "--threads", str(threads), "--json", str(out)]
    if args.only:
        command += ["--only", *args.only]
    if args.group_by_length:
        command += ["--group-by-length", args.group_by_length]
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL)


def _rows(path: Path) -> dict[str, float]:
    return {row["variant"]: row["samples_per_s"] for row in json.loads(path.read_text())["rows"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mrpc")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--lanes", type=int, default=2, help="single-thread processes run at once")
    parser.add_argument("--only", nargs="*", default=["meta"], help="passed to step_cost.py (`none` always runs)")
    parser.add_argument("--group-by-length", choices=["on", "off"], default="on", help="the study runs with it on")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one_lane.json"
        if _step_cost(args, args.lanes, one).wait() != 0:
            print("the one-lane run failed", file=sys.stderr)
            return 1
        lanes = [Path(tmp) / f"lane{i}.json" for i in range(args.lanes)]
        procs = [_step_cost(args, 1, path) for path in lanes]
        if any(p.wait() != 0 for p in procs):
            print("a single-thread lane failed", file=sys.stderr)
            return 1
        alone = _rows(one)
        together = [_rows(path) for path in lanes]
    print(f"\n{args.task}, {args.steps} steps after {args.warmup} warm-up, group_by_length {args.group_by_length}: "
          f"1 lane x {args.lanes} threads against {args.lanes} lanes x 1 thread, run at once")
    print(f"{'variant':<36} {'1 lane samples/s':>17} {'lanes samples/s':>16} {'lanes / 1 lane':>15}")
    rows = []
    for variant, rate in alone.items():
        summed = sum(lane[variant] for lane in together)
        rows.append({"variant": variant, "one_lane_samples_per_s": rate, "lanes_samples_per_s": summed,
                     "ratio": summed / rate})
        print(f"{variant:<36} {rate:>17.1f} {summed:>16.1f} {summed / rate:>15.2f}")
    print(f"(benchmark wall time {time.time() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
