"""The study's seed count by its pre-registered rule (rwkd/report/seed_count.py): the most seeds any primary
comparison needs to find one point after Holm, read once the planned seeds are in, capped by the CPU-hours the
budget leaves at the measured cost of one more seed of the primaries' rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rwkd.errors import RwkdError
from rwkd.report.seed_count import Need, decide, main, primary_rows, seed_cost

FAMILIES = {"fixed": ["fixed_a25", "fixed_a75"], "meta": ["meta"], "metanet": ["metanet"]}
PRIMARY = [{"scheme": "meta", "reference": "fixed", "terms": "two"},
           {"scheme": "meta", "reference": "fixed", "terms": "k"},
           {"scheme": "metanet", "reference": "fixed", "terms": "two"},
           {"scheme": "fixed", "reference": "none", "terms": "two"}]
K = " [label+kd+kd1+hidden0]"
LABELS = {"none": "none", "fixed_a25": "fixed(alpha=0.25)", "fixed_a75": "fixed(alpha=0.75)", "meta": "meta(label)",
          "metanet": "metanet(label)"}
# dev x 100 above 70 per seed, the same on both tasks, so the per-seed mean over tasks is this too
ABOVE = {"none": [-1] * 5, "fixed_a25": [0] * 5, "meta": [0, 1, 2, 3, 4], "metanet": [0, .5, 1, 1.5, 2]}
K_ABOVE = {"fixed_a25": [0] * 5, "meta": [0, 1, 0, 1, 0]}
HOUR = 3600.0
# CPU-hours of one run, each row its own, so that a row costed in place of another shows
COST = {"none": 1, "fixed_a25": 2, "fixed_a75": 7, "meta": 3, "metanet": 4}
K_COST = {"fixed_a25": 5, "meta": 6}


def _record(task: str, config: str, seed: int, dev: float, meta: float, suffix: str, cpu_seconds: float) -> dict:
    row = {"epoch": 0, "val/headline": dev / 100, "meta/headline": meta}
    return {"task": task, "weighting": LABELS[config] + suffix, "seed": seed, "choices": {"weighting": config},
            "config": {"study": {"families": FAMILIES, "primary": PRIMARY}}, "history": [row],
            "best": {"epoch": 0, "metrics": row}, "last": {"metrics": row}, "timing": {"cpu_seconds": cpu_seconds},
            "teacher": {"weights_sha256": "t" * 64, "origin": "cache", "fine_tune_cpu_seconds": 2 * HOUR}}


def _write(folder: Path, record: dict) -> None:
    job = folder / record["task"] / record["choices"]["weighting"] / f"seed{record['seed']}"
    job.mkdir(parents=True)
    (job / "results.json").write_text(json.dumps(record))


def _study(root: Path, seeds: int = 5) -> tuple[Path, Path]:
    """Two tasks; two terms: none, fixed alpha 0.25 and 0.75 (0.75 on the tuning seed alone, it loses the meta
    split), RW-KD and metanet; K terms: fixed 0.25 and RW-KD; each run at its row's cost."""
    two, k = root / "terms2", root / "terms4"
    for task in ("mrpc", "rte"):
        for seed in range(1, seeds + 1):
            for config, above in ABOVE.items():
                _write(two, _record(task, config, seed, 70 + above[seed - 1], 0.6, "", COST[config] * HOUR))
            for config, above in K_ABOVE.items():
                _write(k, _record(task, config, seed, 70 + above[seed - 1], 0.6, K, K_COST[config] * HOUR))
        _write(two, _record(task, "fixed_a75", 1, 10, 0.5, "", COST["fixed_a75"] * HOUR))
    return two, k


def _read(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("results.json"))]


def test_an_extra_seed_runs_and_costs_the_primaries_rows_chosen_on_the_tuning_seed(tmp_path):
    two, k = _study(tmp_path)
    # alpha 0.75 lost the meta split on seed 1: it is no primary's row on an extra seed
    assert primary_rows(_read(two), [1]) == {"mrpc": ["fixed_a25", "meta", "metanet", "none"],
                                             "rte": ["fixed_a25", "meta", "metanet", "none"]}
    hours, lines = seed_cost({"terms2": _read(two), "terms4": _read(k)}, [1])
    assert hours == 2 * ((2 + 3 + 4 + 1) + (5 + 6))  # per task the four two-term rows and the two K-term rows
    assert "terms2 mrpc: 10.00 CPU-h (fixed_a25, meta, metanet, none)" in lines
    assert "terms4 rte: 11.00 CPU-h (fixed_a25, meta)" in lines
    with pytest.raises(RwkdError, match=r"terms2: no record of the tuning seeds 9; accepted: --tuning-seeds"):
        seed_cost({"terms2": _read(two)}, [9])


def test_the_rule_takes_the_most_any_primary_needs_and_the_budget_caps_it():
    needs = {"a": Need(5, 1.0, 9), "b": Need(5, 0.5, 5)}
    assert decide(needs, 5, left_hours=100.0, per_seed_hours=4.0) == (9, 30, 9)
    capped = decide(needs, 5, left_hours=9.0, per_seed_hours=4.0)  # two more seeds paid for, not four
    assert capped == (9, 7, 7) and capped.capped
    assert decide(needs, 5, left_hours=-3.0, per_seed_hours=4.0).seeds == 5  # over budget: the planned seeds
    beyond = decide({"a": Need(5, 50.0, None)}, 5, left_hours=8.0, per_seed_hours=4.0)
    assert math.isinf(beyond.wanted) and beyond.seeds == 7 and beyond.capped
    assert decide({"a": Need(5, 0.1, 5)}, 5, 100.0, 4.0) == (5, 30, 5)
    with pytest.raises(RwkdError, match="one more seed costs 0.0 CPU-h; accepted: the measured cost of its runs"):
        decide(needs, 5, 100.0, 0.0)


def test_the_command_reads_the_records_and_says_how_it_chose(tmp_path, capsys):
    two, k = _study(tmp_path)
    assert main([str(two), str(k), "--budget", "310"]) == 0
    out = capsys.readouterr().out
    # the spreads of the per-seed differences on the mean over tasks (sd of 0..4, of 0,1,0,1,0, of 0..2 by halves;
    # fixed - none is 1 on every seed, so it varies not at all and the planned five suffice), and the seeds each
    # needs at p < 0.05/4 (the first three also by the normal approximation ((2.50 + 0.84) sd)^2 plus the t's few
    # extra: 28, 3, 7)
    needed = {"meta − fixed (two terms)": ("1.58", 32), "meta − fixed (K terms)": ("0.55", 7),
              "metanet − fixed (two terms)": ("0.79", 11), "fixed − none (two terms)": ("0.00", 5)}
    for name, (spread, seeds) in needed.items():
        assert f"| {name} | 5 | {spread} | {seeds} |" in out
    # per task 5 x 10 two-term hours, alpha 0.75's 7 and 5 x 11 K-term hours, in 31 runs; the teacher's 2 hours once;
    # 310 - 226 = 84 = two 42-hour seeds
    assert "Spent: 226.00 of 310 CPU-h (224.00 in 62 runs, 2.00 fine-tuning the models they read apart); left: 84.00" in out
    assert "One more seed of the primaries' rows: 42.00 CPU-h" in out
    assert "Decision: 7 seeds, capped by the budget (the rule wants 32)" in out
    assert out.rstrip().endswith("Seeds to add, the primaries' rows alone: 6,7")
    # work the budget keeps hours for, and other records it paid for, leave less
    other = tmp_path / "noise"
    _write(other, _record("mrpc", "none", 1, 70, 0.6, "", 10 * HOUR))
    main([str(two), str(k), "--budget", "310", "--also", str(other), "--reserve", "33"])
    out = capsys.readouterr().out  # 310 - 234 in the runs - 2 - 33 kept back = 41: not one more seed
    assert "Spent: 236.00 of 310 CPU-h (234.00 in 63 runs, 2.00 fine-tuning the models they read apart); kept back: 33; " \
           "left: 41.00 CPU-h." in out
    assert "Decision: 5 seeds, capped" in out and out.rstrip().endswith("Seeds to add, the primaries' rows alone: none")


def test_seeds_added_since_do_not_move_the_count_read_at_the_planned_seeds(tmp_path, capsys):
    two, k = _study(tmp_path)
    main([str(two), str(k), "--budget", "310"])
    before = capsys.readouterr().out
    for task in ("mrpc", "rte"):  # seeds 6 and 7 of the primaries' rows, with a spread of their own
        for seed, above in ((6, 0.0), (7, 9.0)):
            for config in ("none", "fixed_a25", "meta", "metanet"):
                _write(two, _record(task, config, seed, 70 + (above if config == "meta" else 0), 0.6, "", HOUR))
            for config in K_COST:
                _write(k, _record(task, config, seed, 70, 0.6, K, HOUR))
    main([str(two), str(k), "--budget", "310"])
    after = capsys.readouterr().out
    assert "Left out above: 24 runs of the seeds added since (6,7), 24.00 CPU-h, paid for by the count below." in after
    assert after.replace("Left out above: 24 runs of the seeds added since (6,7), 24.00 CPU-h, paid for by the count "
                         "below.\n", "") == before


def test_the_count_waits_for_every_primary_to_have_its_planned_seeds(tmp_path):
    two, k = _study(tmp_path, seeds=4)
    with pytest.raises(RwkdError, match=r"every primary comparison has 5 seeds.*short \(seeds so far\): "
                                        r"meta − fixed \(two terms\) \(4\)"):
        main([str(two), str(k), "--budget", "120"])
    # a K-term set not run yet: that primary is on no task
    with pytest.raises(RwkdError, match=r"meta − fixed \(K terms\) \(not on every task\)"):
        main([str(_study(tmp_path / "again")[0]), "--budget", "120"])


def test_bad_arguments_are_named(tmp_path):
    two, k = _study(tmp_path)
    with pytest.raises(RwkdError, match=r"--budget nan --reserve 0: accepted: a budget above 0"):
        main([str(two), str(k), "--budget", "nan"])
    with pytest.raises(RwkdError, match=r"--planned 1: accepted: 2 or more seeds"):
        main([str(two), str(k), "--budget", "90", "--planned", "1"])
    with pytest.raises(RwkdError, match=r"noise_v9: no such folder; accepted: folders of records"):
        main([str(two), str(k), "--budget", "90", "--also", str(tmp_path / "noise_v9")])
    with pytest.raises(RwkdError, match=r"a term set given twice"):
        main([str(two), str(two), "--budget", "90"])
    with pytest.raises(RwkdError, match=r"holds runs of 2 term sets; accepted: one term set's folder each"):
        main([str(tmp_path), "--budget", "90"])
