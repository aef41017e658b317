"""Pre-registered primary comparisons (`study.primary`, rwkd/report/primary.py): Holm over the primaries alone on
the mean over tasks, every other paired table marked exploratory, and the primaries' rows of power."""

from __future__ import annotations

import json

import pytest

from rwkd.errors import RwkdError
from rwkd.report.primary import (
    primary_cells,
    primary_power_table,
    primary_table,
    read_primaries,
    seeds_needed,
)

FAMILIES = {"fixed": ["fixed_a25", "fixed_a75"], "meta": ["meta"]}
PRIMARY = [{"scheme": "meta", "reference": "fixed", "terms": "two"},
           {"scheme": "fixed", "reference": "none", "terms": "two"}]
# dev x 100 per task and seed; fixed_a25 wins the meta split on both tasks (alpha 0.75's dev would swamp any
# difference if it were taken instead)
DEV = {"meta": {"mrpc": [71, 73, 72], "rte": [71, 72, 74]},
       "fixed_a25": {"mrpc": [70, 70, 70], "rte": [70, 70, 70]},
       "fixed_a75": {"mrpc": [10, 10, 10], "rte": [10, 10, 10]},
       "none": {"mrpc": [69, 70, 66], "rte": [70, 69, 70]}}
LABELS = {"meta": "meta(label)", "fixed_a25": "fixed(alpha=0.25)", "fixed_a75": "fixed(alpha=0.75)", "none": "none"}


def _records(primary=PRIMARY):
    out = []
    for choice, by_task in DEV.items():
        for task, scores in by_task.items():
            for seed, dev in enumerate(scores, start=1):
                row = {"epoch": 0, "val/headline": dev / 100, "meta/headline": 0.6 if choice != "fixed_a75" else 0.5}
                out.append({"task": task, "weighting": LABELS[choice], "seed": seed, "choices": {"weighting": choice},
                            "config": {"study": {"families": FAMILIES, "primary": primary}}, "history": [row],
                            "best": {"epoch": 0, "metrics": row}, "last": {"metrics": row}})
    return out


def test_primaries_are_tested_on_the_mean_over_tasks_with_holm_over_them_alone():
    cells = primary_cells(_records(), PRIMARY)
    # per-seed means over the two tasks: meta - fixed +1, +2.5, +3; fixed - none +0.5, +0.5, +2
    assert cells["meta − fixed (two terms)"].p == pytest.approx(0.069051, abs=1e-6)
    assert cells["fixed − none (two terms)"].p == pytest.approx(0.183503, abs=1e-6)
    table = primary_table(_records(), PRIMARY)
    # Holm over two: the smaller p doubled (0.138), the larger kept (0.184), whatever other tables hold
    assert "| meta − fixed (two terms) | +2.17 [-0.42, +4.75], 3/3 above, p=0.138 | 0.069 |" in table
    assert "| fixed − none (two terms) | +1.00 [-1.15, +3.15], 3/3 above, p=0.184 | 0.184 |" in table


def test_a_primary_missing_a_side_is_said_so_and_counts_in_the_correction_as_not_rejected():
    primaries = [*PRIMARY, {"scheme": "metanet", "reference": "fixed", "terms": "two"}]
    table = primary_table(_records(primaries), primaries)
    assert "| metanet − fixed (two terms) | not run on every task |" in table
    # the family is the three named before the study ran: 0.069 x 3 = 0.207, then 0.184 x 2 = 0.367
    assert "| primary comparison | mean over tasks (Holm over the 3 primaries) | p before Holm |" in table
    assert "p=0.207" in table and "p=0.367" in table


def test_a_k_term_primary_before_any_k_term_run_is_not_run_yet_and_two_k_term_sets_are_refused():
    k_primary = {"scheme": "meta", "reference": "fixed", "terms": "k"}
    primaries = [*PRIMARY, k_primary]
    # a study part-way, two-term runs only: the K-term comparison waits, the others are tested as before
    table = primary_table(_records(primaries), primaries)
    assert "| meta − fixed (K terms) | not run on every task |" in table
    assert "p=0.207" in table and "p=0.367" in table  # Holm over the three named
    # the K-term runs in: the comparison reads them alone, not the two-term rows
    k_runs = [{**r, "weighting": r["weighting"] + " [label+kd+hidden0]"} for r in _records(primaries)
              if r["choices"]["weighting"] != "none"]
    for r in k_runs:
        if r["choices"]["weighting"] == "meta":
            r["best"] = {**r["best"], "metrics": {**r["best"]["metrics"], "val/headline": r["best"]["metrics"]["val/headline"] + 0.01}}
    cells = primary_cells(_records(primaries) + k_runs, primaries)
    assert cells["meta − fixed (K terms)"].mean == pytest.approx(cells["meta − fixed (two terms)"].mean + 1.0)
    other_set = [{**r, "weighting": r["weighting"].replace("hidden0", "kd1")} for r in k_runs]
    with pytest.raises(RwkdError, match="2 term sets with more than two terms"):
        primary_cells(_records(primaries) + k_runs + other_set, primaries)


def test_a_primary_comparison_takes_verified_pairs_only_and_lists_the_pair_it_left_out():
    records = _records()
    for r in records:
        start = "d0" if (r["task"], r["seed"], r["choices"]["weighting"]) != ("rte", 2, "none") else "d1"
        r["identity"] = {"student_init": start, "split": "s", "batch_order": "b", "teacher_terms": {}}
    cells = primary_cells(records, PRIMARY)
    # rte seed 2's none started elsewhere: fixed - none keeps seeds 1 and 3 (+0.5, +2), meta - fixed all three
    assert cells["fixed − none (two terms)"].n == 2
    assert cells["fixed − none (two terms)"].mean == pytest.approx(1.25)
    assert cells["meta − fixed (two terms)"].n == 3
    table = primary_table(records, PRIMARY)
    assert "- rte seed 2: fixed, alpha chosen on meta split vs none: student_init differs" in table


def test_the_records_primary_list_is_read_checked_and_optional():
    assert read_primaries(_records()) == PRIMARY
    assert read_primaries([{**r, "config": {"study": {"families": FAMILIES}}} for r in _records()]) == []
    with pytest.raises(RwkdError, match="terms: two|k"):
        read_primaries(_records([{"scheme": "meta", "reference": "fixed", "terms": "three"}]))
    mixed = _records()[:2] + _records(PRIMARY[:1])[2:]
    with pytest.raises(RwkdError, match="2 different study.primary lists"):
        read_primaries(mixed)
    twice = [*PRIMARY, {"reference": "none", "scheme": "fixed"}]  # terms: two by default, the same comparison
    with pytest.raises(RwkdError, match=r"names fixed − none \(two terms\) more than once"):
        read_primaries(_records(twice))


def test_power_rows_for_the_primaries_use_their_own_spread_and_at_least_five_seeds():
    from rwkd.report.power import LEVEL, detectable

    table = primary_power_table(_records(), PRIMARY)
    sd = primary_cells(_records(), PRIMARY)["meta − fixed (two terms)"].sd  # of +1, +2.5, +3: 1.04
    assert sd == pytest.approx(1.0408, abs=1e-4)
    assert f"| meta − fixed (two terms) | 3 | 1.04 | {detectable(sd, 3, LEVEL):.2f} | {detectable(sd, 3, LEVEL / 2):.2f} |" in table
    # pinned: sd 1.04 over 3 seeds finds 3.40 alone and 4.81 at p < 0.05/2, and one point needs 11 and 13 seeds
    assert "| meta − fixed (two terms) | 3 | 1.04 | 3.40 | 4.81 | 11 | 13 |" in table
    assert "after Holm over the primaries (p < 0.05/2)" in table
    # a spread this small reaches one point with fewer seeds than five: the table says five
    assert seeds_needed(0.3, LEVEL) == 5
    assert seeds_needed(sd, LEVEL) == max(5, next(n for n in range(2, 100) if detectable(sd, n, LEVEL) <= 1.0))


def test_with_primaries_the_page_marks_every_other_table_exploratory(tmp_path):
    from rwkd.report.command import main

    for i, record in enumerate(_records()):
        (tmp_path / "runs" / str(i)).mkdir(parents=True)
        (tmp_path / "runs" / str(i) / "results.json").write_text(json.dumps(record))
    doc = tmp_path / "page.md"
    assert main([str(tmp_path / "runs"), "--no-plots", "--doc", str(doc)]) == 0
    page = doc.read_text()
    assert "## Primary comparisons" in page and "p=0.138" in page
    assert page.count("**Exploratory**") >= 2  # the paired tables and their power
    assert "seeds needed for 1 point" in page
    # without study.primary the page is as before: no primary section, nothing marked exploratory
    for i, record in enumerate(_records()):
        record["config"]["study"].pop("primary")
        (tmp_path / "runs" / str(i) / "results.json").write_text(json.dumps(record))
    assert main([str(tmp_path / "runs"), "--no-plots", "--doc", str(doc)]) == 0
    assert "Primary comparisons" not in doc.read_text() and "Exploratory" not in doc.read_text()


def test_the_tuned_reference_is_each_tasks_own_choice():
    records = _records()
    for r in records:  # fixed_a75 now wins the meta split on rte, fixed_a25 still on mrpc
        if r["task"] == "rte" and r["choices"]["weighting"].startswith("fixed"):
            meta = 0.7 if r["choices"]["weighting"] == "fixed_a75" else 0.5
            row = {**r["history"][0], "meta/headline": meta}
            r["history"], r["best"] = [row], {"epoch": 0, "metrics": row}
    cells = primary_cells(records, PRIMARY)
    # per seed: mrpc meta - fixed_a25 (+1, +3, +2), rte meta - fixed_a75 (+61, +62, +64); means over the two tasks
    assert cells["meta − fixed (two terms)"].mean == pytest.approx((31 + 32.5 + 33) / 3)
    # fixed - none: mrpc fixed_a25 (+1, 0, +4), rte fixed_a75 (-60, -59, -60)
    assert cells["fixed − none (two terms)"].mean == pytest.approx(((1 - 60) + (0 - 59) + (4 - 60)) / 6)


def test_a_run_without_a_score_leaves_its_pair_out_and_the_page_is_still_drawn(tmp_path):
    from rwkd.report.command import main

    records = _records()
    collapsed = next(r for r in records if (r["task"], r["seed"], r["choices"]["weighting"]) == ("rte", 3, "none"))
    row = {**collapsed["history"][0], "val/headline": float("nan")}
    collapsed["history"], collapsed["best"], collapsed["last"] = [row], {"epoch": 0, "metrics": row}, {"metrics": row}
    cells = primary_cells(records, PRIMARY)
    assert cells["fixed − none (two terms)"].n == 2 and cells["meta − fixed (two terms)"].n == 3
    assert "- rte seed 3: fixed, alpha chosen on meta split vs none: the reference's run's dev headline is not a number" in \
        primary_table(records, PRIMARY)
    for i, record in enumerate(records):
        (tmp_path / "runs" / str(i)).mkdir(parents=True)
        (tmp_path / "runs" / str(i) / "results.json").write_text(json.dumps(record))
    assert main([str(tmp_path / "runs"), "--no-plots", "--doc", str(tmp_path / "page.md")]) == 0
    page = (tmp_path / "page.md").read_text()
    assert "none: the reference's run's dev headline is not a number" in page.split("## Differences paired by seed")[1]


def test_differences_that_do_not_vary_get_no_power_row():
    records = _records()
    for r in records:  # meta now 2 points above the chosen fixed alpha on every task and seed
        if r["choices"]["weighting"] == "meta":
            row = {**r["history"][0], "val/headline": 0.72}
            r["history"], r["best"] = [row], {"epoch": 0, "metrics": row}
    table = primary_power_table(records, PRIMARY)
    assert "meta − fixed" not in table and "| fixed − none (two terms) | 3 |" in table
