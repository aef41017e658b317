"""`rwkd report` chooses each family's variant (the fixed alpha among them) on the meta split, never on dev."""

from __future__ import annotations

from rwkd.report.summary import summarise
from rwkd.report.tables import markdown
from rwkd.study.tuning import TUNED, choose_variants


def _run(task: str, alpha: float, seed: int, dev: float, meta: list[float]) -> dict:
    history = [{"epoch": e, "val/headline": dev, "meta/headline": m} for e, m in enumerate(meta)]
    best = {"epoch": 0, "step": 1, "metrics": {"val/headline": dev}}
    return {"task": task, "weighting": f"fixed(alpha={alpha:g})", "seed": seed, "history": history,
            "best": best, "last": best}


def test_alpha_with_the_best_meta_score_is_chosen_even_if_dev_disagrees():
    results = [
        # alpha 0.25 is best on dev, alpha 0.75 on the meta split: the meta split decides
        *[_run("mrpc", 0.25, s, dev=0.80, meta=[0.60, 0.62]) for s in (1, 2, 3)],
        *[_run("mrpc", 0.75, s, dev=0.70, meta=[0.61, 0.66]) for s in (1, 2, 3)],
        *[_run("rte", 0.25, s, dev=0.55, meta=[0.58]) for s in (1, 2)],
        *[_run("rte", 0.75, s, dev=0.60, meta=[0.52]) for s in (1, 2)],
    ]
    chosen = choose_variants(results)
    assert chosen["mrpc"][TUNED]["scheme"] == "fixed(alpha=0.75)" and abs(chosen["mrpc"][TUNED]["meta_headline"] - 66.0) < 1e-9
    assert chosen["rte"][TUNED]["scheme"] == "fixed(alpha=0.25)"
    summary = summarise(results)
    assert abs(summary["table"]["mrpc"][TUNED]["best"]["mean"] - 70.0) < 1e-9  # the dev score of the chosen alpha
    assert abs(summary["table"]["rte"][TUNED]["best"]["mean"] - 55.0) < 1e-9
    assert "fixed(alpha=0.75)" in markdown(summary, [])


def test_runs_without_meta_scores_take_no_part():
    results = [_run("mrpc", a, 1, dev=0.7, meta=[]) for a in (0.25, 0.75)]
    assert choose_variants(results) == {}
    assert TUNED not in summarise(results)["table"]["mrpc"]


def test_results_page_holds_the_exact_table_commands_timings_and_reading(tmp_path, capsys):
    import json

    from rwkd.records.reading import find_results
    from rwkd.report.command import main as report_main

    for i, (alpha, seed) in enumerate([(0.25, 1), (0.25, 2), (0.75, 1), (0.75, 2)]):
        r = _run("mrpc", alpha, seed, dev=0.7 + 0.01 * i, meta=[0.6 + 0.01 * i])
        r.update(command=f"rwkd train -m experiment=study_glue (job {i})", git_commit="abc123",
                 hardware={"cpu": "test cpu", "cpu_count": 2}, versions={"torch": "2.13.0"},
                 timing={"fit_seconds": 999.0, "median_step_seconds": 0.5 + 0.1 * i, "steps": 240})
        folder = tmp_path / "results" / f"job{i}"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(r))
    (tmp_path / "docs" / "plots").mkdir(parents=True)
    (tmp_path / "docs" / "plots" / "weights_mrpc.png").write_bytes(b"png")
    (tmp_path / "reading.md").write_text("Meta does not win here.")
    doc = tmp_path / "docs" / "results.md"
    assert report_main([str(tmp_path / "results"), "--no-plots", "--doc", str(doc), "--plots-dir",
                        str(tmp_path / "docs" / "plots"), "--reading", str(tmp_path / "reading.md")]) == 0
    page = doc.read_text()
    from rwkd.records.epochs import at_chosen_epoch

    table = markdown(summarise(at_chosen_epoch(find_results([str(tmp_path / "results")])[0], "meta")), [])
    assert table.rstrip() in page  # what `rwkd report results/...` prints, verbatim
    assert table.rstrip() in capsys.readouterr().out
    assert "rwkd train -m experiment=study_glue (job 3)" in page and "abc123" in page
    assert "- hardware: test cpu, 2 CPU cores" in page
    assert "Complete: all 2 defined task x scheme cells (the 1 task and 2 schemes found: mrpc) have 2 seeds." in page
    # 240 steps x 0.5 s and 0.6 s: the median step time, not the (paused) wall clock
    assert "| fixed(alpha=0.25) | 2.2 min (n=2) |" in page
    assert "![weights_mrpc](plots/weights_mrpc.png)" in page
    assert page.rstrip().endswith("Meta does not win here.")


def test_timing_table_compares_median_step_times_with_none_on_the_same_task():
    from rwkd.report.document import _timing_table

    def job(scheme, task, median, steps=300, fit=None):
        return {"weighting": scheme, "task": task,
                "timing": {"median_step_seconds": median, "steps": steps, "fit_seconds": fit}}

    table = _timing_table([job("none", "mrpc", 0.5), job("none", "mrpc", 0.7),
                           job("meta", "mrpc", 1.5, fit=5000.0),  # a paused job: its wall clock is ignored
                           job("meta", "rte", 2.0), job("fixed", "rte", None, fit=120.0)])
    assert "| meta | 7.5 min, step 2.50x none (n=1) | 10.0 min (n=1) |" in table
    assert "| none | 3.0 min, step 1.00x none (n=2) |  |" in table
    assert "| fixed |  | 2.0 min (n=1) |" in table  # no step times recorded: the fit's wall clock


def test_only_schemes_that_weigh_samples_differently_within_a_step_count_as_per_sample():
    from rwkd.records.weight_summary import summarise_log, varies_per_sample

    def log(weight):
        return {"epoch": [0, 0, 0, 0], "step": [1, 1, 2, 2], "weight": weight, "teacher_correct": [1.0] * 4,
                "teacher_confidence": [0.5] * 4}

    assert not varies_per_sample(summarise_log(log([0.9, 0.9, 0.8, 0.8])))  # annealed: one weight per step
    assert varies_per_sample(summarise_log(log([0.9, 0.9, 0.8, 0.3])))  # heuristic


def test_paired_differences_subtract_the_same_seed_of_the_reference():
    from rwkd.report.paired_tables import paired_table

    def job(scheme, seed, dev, meta=()):
        r = _run("mrpc", 0.5, seed, dev=dev, meta=list(meta))
        r["weighting"] = scheme
        return r

    results = [job("none", 1, 0.70), job("none", 2, 0.60), job("none", 3, 0.65),
               job("meta", 1, 0.71), job("meta", 2, 0.62), job("meta", 3, 0.64),
               *[job("fixed(alpha=0.5)", s, 0.66, meta=[0.7]) for s in (1, 2, 3)],
               *[job("fixed(alpha=0.25)", s, 0.50, meta=[0.6]) for s in (1, 2, 3)]]
    against_none = paired_table(results, "none")
    # differences +1, +2, -1: mean +0.67, sample std 1.53, 95% half-width t(0.975, 2) * 1.53 / sqrt(3) = 3.79,
    # above on 2 of 3 seeds; raw p 0.53, Holm-adjusted over the table's two comparisons (meta, the tuned alpha); one task: no mean column
    assert "| meta | +0.67 [-3.13, +4.46], 2/3 above, p=1.000 |  |" in against_none
    against_tuned = paired_table(results, TUNED)  # alpha 0.5 wins on the meta split
    assert "| meta | -0.33 [-12.07, +11.41], 1/3 above, p=1.000 |  |" in against_tuned  # +5, -4, -2
    # the alphas are one row, the chosen one's runs: no comparison of a variant against its own family
    assert "fixed(alpha=" not in against_tuned
    assert "| fixed, alpha chosen on meta split | +1.00 [-11.42, +13.42], 2/3 above, p=1.000 |  |" in against_none  # -4, +6, +1


def test_a_page_generated_mid_study_names_the_short_and_empty_cells():
    from rwkd.report.document import _coverage

    results = [*[_run("mrpc", a, s, dev=0.7, meta=[0.6]) for a in (0.25, 0.75) for s in (1, 2, 3)],
               *[_run("rte", 0.25, s, dev=0.6, meta=[0.5]) for s in (1, 2)]]
    assert _coverage(results, set()) == (
        "Incomplete: 2 of 4 defined task x scheme cells (the 2 tasks and 2 schemes found: mrpc, rte) have 3 seeds; "
        "short or empty: fixed(alpha=0.25) on rte (n=2); fixed(alpha=0.75) on rte (n=0).")
    # a study that plans five seeds is short after three, though every cell found has as many (the alpha not
    # chosen is done with the seeds it was tuned on)
    mrpc = [r for r in results if r["task"] == "mrpc"]
    assert _coverage(mrpc, set(), seeds_planned=5) == (
        "Incomplete: 1 of 2 defined task x scheme cells (the 1 task and 2 schemes found: mrpc) have 5 seeds; "
        "short or empty: fixed(alpha=0.25) on mrpc (n=3). 1 variant not chosen on the meta split ran on the tuning "
        "seeds only (see Variants chosen on the meta split).")
    assert _coverage(mrpc, set(), seeds_planned=3).startswith("Complete: all 2 defined")


def test_an_undefined_combination_is_na_in_every_table_and_does_not_make_the_study_incomplete():
    from rwkd.report.document import _coverage
    from rwkd.report.paired_tables import paired_table

    def job(task, scheme, seed, dev):
        r = _run(task, 0.5, seed, dev=dev, meta=[])
        r["weighting"] = scheme
        return r

    results = [job(t, s, seed, 0.6) for t in ("mrpc", "stsb") for s in ("none", "heuristic(student_entropy)")
               for seed in (1, 2) if (t, s) != ("stsb", "heuristic(student_entropy)")]
    na = [{"task": "stsb", "weighting": "heuristic(student_entropy)", "reason": "not defined for regression"}] * 2
    text = markdown(summarise(results, na), [])
    assert "| heuristic(student_entropy) | 60.00 ± 0.00 (n=2) | n/a |  |" in text  # no GLUE average
    assert "| none | 60.00 ± 0.00 (n=2) | 60.00 ± 0.00 (n=2) | 60.00 |" in text
    assert text.count("n/a: heuristic(student_entropy) on stsb, not run: not defined for regression") == 1
    undefined = {("stsb", "heuristic(student_entropy)")}
    assert _coverage(results, undefined) == (
        "Complete: all 3 defined task x scheme cells (the 2 tasks and 2 schemes found: mrpc, stsb) have 2 seeds. "
        "Not applicable, so not run: heuristic(student_entropy) on stsb (see the note under the table).")
    assert "| heuristic(student_entropy) | +0.00 [+0.00, +0.00], 0/2 above | n/a |  |" in paired_table(results, "none", undefined)


def test_a_record_of_not_applicable_is_dropped_where_the_cell_has_results(tmp_path):
    import json

    from rwkd.records.reading import find_results

    for name, record in (("ran", {**_run("mrpc", 0.5, 1, dev=0.6, meta=[]), "weighting": "meta"}),
                         ("old", {"task": "mrpc", "weighting": "meta", "reason": "an old record"}),
                         ("na", {"task": "stsb", "weighting": "meta", "reason": "undefined"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / ("results.json" if name == "ran" else "not_applicable.json")).write_text(json.dumps(record))
    _, _, not_applicable = find_results([str(tmp_path)])
    assert [r["task"] for r in not_applicable] == ["stsb"]


def test_every_table_has_the_majority_row_from_the_records_or_the_dev_labels(real_glue_dir):
    # mrpc records carry the majority answer; rte's do not, so it is counted from the dev file the runs name;
    # stsb (regression) has no majority answer
    mrpc = {**_run("mrpc", 0.5, 1, dev=0.8, meta=[0.7]), "majority": {"val/headline": 0.7480}}
    rte = {**_run("rte", 0.5, 1, dev=0.6, meta=[0.6]), "data": {"dir": str(real_glue_dir)}}
    stsb = {**_run("stsb", 0.5, 1, dev=0.8, meta=[0.7]), "data": {"dir": str(real_glue_dir)}}
    text = markdown(summarise([mrpc, rte, stsb]), [])
    rows = [line for line in text.splitlines() if line.startswith("| majority answer |")]
    assert len(rows) == 2  # best-epoch and last-epoch tables
    assert rows[0] == "| majority answer | 74.80 | 52.71 | n/a |  |"  # RTE dev: 146 of 277 not_entailment


def _variant(task, weighting, choice, seed, dev, meta, families):
    r = _run(task, 0.5, seed, dev=dev, meta=meta)
    r.update(weighting=weighting, choices={"weighting": choice}, config={"study": {"families": families}})
    return r


def test_every_named_family_is_tuned_on_the_seeds_its_variants_share_and_becomes_one_row():
    from rwkd.report.document import choices_table
    from rwkd.report.paired_tables import paired_table

    families = {"fixed": ["fixed_a25", "fixed_a75"], "meta": ["meta", "meta_mix"]}
    results = [
        *[_variant("mrpc", "none", "none", s, 0.60, [0.5], families) for s in (1, 2, 3)],
        *[_variant("mrpc", "fixed(alpha=0.25)", "fixed_a25", s, 0.70, [0.60], families) for s in (1, 2, 3)],
        *[_variant("mrpc", "fixed(alpha=0.75)", "fixed_a75", s, 0.64, [0.62], families) for s in (1, 2, 3)],
        # meta with meta_loss=mix has seeds 1-2 only: label is judged on those too, where mix is better on the
        # meta split, although label's third seed scores higher still
        *[_variant("mrpc", "meta(label)", "meta", s, 0.90, [0.55 if s < 3 else 0.99], families) for s in (1, 2, 3)],
        *[_variant("mrpc", "meta(mix)", "meta_mix", s, 0.66, [0.57], families) for s in (1, 2)],
        # a scheme outside every family keeps its own row; a K-term run of a family's variant is its own family
        *[_variant("mrpc", "heuristic(teacher_correct)", "heuristic_correct", s, 0.61, [0.5], families) for s in (1, 2, 3)],
        *[_variant("mrpc", "meta(label) [label+kd+hidden0]", "meta", s, 0.68, [0.5], families) for s in (1, 2, 3)],
    ]
    chosen = choose_variants(results)["mrpc"]
    assert chosen[TUNED]["scheme"] == "fixed(alpha=0.75)" and chosen[TUNED]["seeds"] == [1, 2, 3]
    row = "meta, variant chosen on meta split"
    assert abs(chosen[row].pop("meta_headline") - 57.0) < 1e-9
    assert chosen[row] == {"scheme": "meta(mix)", "candidates": ["meta(label)", "meta(mix)"], "seeds": [1, 2], "family": "meta"}
    assert set(chosen) == {TUNED, row}  # the K-term meta run has no second variant to choose against
    table = markdown(summarise(results), [])
    assert f"| {row} | 66.00 ± 0.00 (n=2, meta(mix)) |" in table
    against_none = paired_table(results, "none")
    assert f"| {row} | +6.00 [+6.00, +6.00], 2/2 above |  |" in against_none
    assert "| meta(label) |" not in against_none and "| meta(label) [label+kd+hidden0] | +8.00" in against_none
    assert "| heuristic(teacher_correct) | +1.00" in against_none
    assert "| mrpc | meta, variant chosen on meta split | meta(mix) | 57.00 | 1,2 | meta(label) |" in choices_table(results)


def test_cost_table_adds_up_cpu_hours_per_scheme_and_in_all():
    from rwkd.report.cost import cost_table

    def job(scheme, cpu):
        return {"weighting": scheme, "timing": {} if cpu is None else {"cpu_seconds": cpu}}

    table = cost_table([job("none", 3600), job("none", 1800), job("meta", 7200), job("meta", None)])
    assert "| none | 2 | 1.50 | 0.75 |" in table and "| meta | 1 | 2.00 | 2.00 |" in table
    assert "| all | 3 | 3.50 | |" in table and "1 run recorded no CPU time and is not counted." in table
    assert "teacher stage" not in table
    assert cost_table([job("none", None)]) is None
    resumed_whole = {**job("meta", 600), "resumed_from": "last.ckpt"}
    resumed_whole["timing"]["processes"] = 2
    resumed_old = {**job("meta", 600), "resumed_from": "last.ckpt"}
    assert "resumed run" not in cost_table([resumed_whole, job("none", 60)])
    assert "1 resumed run recorded only the CPU time of the process that finished it" in cost_table([resumed_old])


def test_cost_table_charges_the_teacher_stage_to_itself_and_counts_each_teacher_once():
    from rwkd.report.cost import cost_table

    def job(scheme, cpu, stage=None, origin="cache", sha="t1", fine_tune=None):
        teacher = {"origin": origin, "weights_sha256": sha}
        if fine_tune is not None:
            teacher["fine_tune_cpu_seconds"] = fine_tune
        timing = {"cpu_seconds": cpu} | ({} if stage is None else {"teacher_stage_cpu_seconds": stage})
        return {"weighting": scheme, "timing": timing, "teacher": teacher}

    first = job("none", 3600 + 1800, stage=1800, origin="fine-tuned", fine_tune=1700)
    later = [job("none", 3600, stage=0.0, fine_tune=1700), job("meta", 7200, stage=0.0, fine_tune=1700)]
    table = cost_table([first, *later])
    assert "| none | 2 | 2.00 | 1.00 |" in table and "| meta | 1 | 2.00 | 2.00 |" in table
    assert "| teacher stage: fine-tuning or loading the teachers, filling their caches | 1 | 0.50 | |" in table
    assert "| all | 3 | 4.50 | |" in table  # the whole CPU time, each second counted once
    assert "The runs used 1 fine-tuned teacher; fine-tuning it cost 0.47 CPU-hours by the teachers' own records" in table
    assert "before the teacher stage was timed apart" not in table
    # a run from before the split that fine-tuned its teacher keeps the fine-tuning in its row, and says so
    old = job("none", 5400, origin="fine-tuned", sha="t2")
    table = cost_table([old, job("meta", 7200, stage=0.0)])
    assert "| none | 1 | 1.50 | 1.50 |" in table and "| teacher stage:" not in table
    assert "1 run fine-tuned a teacher before the teacher stage was timed apart: that fine-tuning is in its " \
           "scheme's row." in table
    assert "The runs used 2 fine-tuned teachers; their records do not carry what fine-tuning them cost." in table
    mixed = cost_table([job("none", 60, stage=0.0, fine_tune=3600), job("none", 60, stage=0.0, sha="t2")])
    assert "fine-tuning 1 of them cost 1.00 CPU-hours by the teachers' own records, whichever command did it " \
           "(the other 1: not carried by their runs' records)" in mixed


def test_the_teachers_table_counts_each_set_of_weights_and_flags_a_task_whose_runs_mixed_two():
    from rwkd.report.teachers import teachers_table

    def job(task, sha, dev, more=None):
        teacher = {"path": f"/t/{task}/minilm-abc/model", "weights_sha256": sha,
                   "dev_metrics": {"val/headline": dev, "meta/headline": dev + 0.01}, "fine_tune_cpu_seconds": 600}
        return {"task": task, "weighting": "none", "seed": 1, "teacher": teacher,
                "more_teachers": [] if more is None else [{"path": "/t/2", "weights_sha256": more, "dev_metrics": {}}],
                "best": {"metrics": {"val/headline": 0.5}}, "last": {"metrics": {"val/headline": 0.5}}}

    same = teachers_table([job("mrpc", "a" * 64, 0.8), job("mrpc", "a" * 64, 0.8, more="c" * 64)])
    assert "| mrpc | teacher | aaaaaaaaaaaa | 80.00 | 81.00 | 10.0 | 2 |" in same
    assert "| mrpc | teacher 2 (kd.teachers[0]) | cccccccccccc |  |  |  | 1 |" in same
    assert "Mixed teachers" not in same and "Every task's runs distilled one teacher" in same
    # fine-tuned again elsewhere: the same folder name, other weights
    mixed = teachers_table([job("mrpc", "a" * 64, 0.8), job("mrpc", "b" * 64, 0.78), job("rte", "d" * 64, 0.6)])
    assert "| mrpc | teacher | bbbbbbbbbbbb | 78.00 | 79.00 | 10.0 | 1 |" in mixed
    assert "**Mixed teachers**: the runs of mrpc (teacher: 2 different weights) did not all distil" in mixed
    assert "Rebuilt teachers" not in mixed
    assert teachers_table([{"task": "mrpc", "weighting": "none"}]) is None
    # rebuilt on another kind of CPU with the same epoch and scores: said apart from a different teacher
    amd, intel = job("rte", "a" * 64, 0.6), job("rte", "b" * 64, 0.6)
    amd["hardware"], intel["hardware"] = {"cpu": "AMD EPYC"}, {"cpu": "Intel Xeon"}
    rebuilt = teachers_table([amd, dict(amd), intel])
    assert "**Rebuilt teachers**: the runs of rte (teacher: aaaaaaaaaaaa on AMD EPYC, 2 runs; bbbbbbbbbbbb on Intel " \
           "Xeon, 1 runs) distilled builds of one teacher" in rebuilt
    assert "Mixed teachers" not in rebuilt and "Every task's runs distilled one teacher" not in rebuilt
    # the teacher row of the results table is the mean over the distinct teachers, not over folder names
    assert summarise([job("mrpc", "a" * 64, 0.8), job("mrpc", "b" * 64, 0.7)])["teacher"]["mrpc"] == 75.0


def test_a_job_clock_keeps_the_teacher_stage_apart_across_processes():
    from rwkd.records.provenance import JobClock

    clock = JobClock()
    with clock.teacher_stage():
        sum(i * i for i in range(300_000))  # some CPU time inside the stage
    spent = clock.elapsed()
    assert 0 < spent["teacher_stage_cpu_seconds"] <= spent["cpu_seconds"] and spent["processes"] == 1
    resumed = JobClock()
    resumed.resume_from(spent)
    again = resumed.elapsed()
    assert again["teacher_stage_cpu_seconds"] == spent["teacher_stage_cpu_seconds"] and again["processes"] == 2
    # resumed from a checkpoint written before the stage was timed apart: the split is unknown, so not given
    older = JobClock()
    older.resume_from({k: spent[k] for k in ("wall_seconds", "cpu_seconds", "processes")})
    with older.teacher_stage():
        pass
    assert "teacher_stage_cpu_seconds" not in older.elapsed()


def test_after_the_tuning_seeds_a_study_runs_only_the_chosen_variants_and_the_page_counts_them_complete():
    from rwkd.report.document import _coverage
    from rwkd.study.tuning import weightings_to_run

    families = {"fixed": ["fixed_a25", "fixed_a75"]}
    tuning = [
        *[_variant("mrpc", "none", "none", s, 0.60, [0.5], families) for s in (1, 2)],
        *[_variant("mrpc", "fixed(alpha=0.25)", "fixed_a25", s, 0.70, [0.60], families) for s in (1, 2)],
        *[_variant("mrpc", "fixed(alpha=0.75)", "fixed_a75", s, 0.64, [0.62], families) for s in (1, 2)],
        *[_variant("rte", "fixed(alpha=0.25)", "fixed_a25", s, 0.6, [0.7], families) for s in (1, 2)],
        *[_variant("rte", "fixed(alpha=0.75)", "fixed_a75", s, 0.6, [0.6], families) for s in (1, 2)],
    ]
    assert weightings_to_run(tuning, "mrpc") == ["none", "fixed_a75"]  # alpha 0.75 wins on the meta split
    assert weightings_to_run(tuning, "rte") == ["fixed_a25"]
    later = [*[_variant("mrpc", "none", "none", s, 0.6, [0.5], families) for s in (3, 4)],
             *[_variant("mrpc", "fixed(alpha=0.75)", "fixed_a75", s, 0.6, [0.5], families) for s in (3, 4)]]
    # rte's chosen alpha still needs its later seeds, and its `none` was never run; its unchosen alpha is done
    assert _coverage(tuning + later, set()) == (
        "Incomplete: 4 of 6 defined task x scheme cells (the 2 tasks and 3 schemes found: mrpc, rte) have 4 seeds; "
        "short or empty: fixed(alpha=0.25) on rte (n=2); none on rte (n=0). 2 variants not chosen on the meta split "
        "ran on the tuning seeds only (see Variants chosen on the meta split).")
    mrpc_only = [r for r in tuning + later if r["task"] == "mrpc"]
    assert _coverage(mrpc_only, set()) == (
        "Complete: all 3 defined task x scheme cells (the 1 task and 3 schemes found: mrpc) have 4 seeds (the variants "
        "not chosen: their tuning seeds). 1 variant not chosen on the meta split ran on the tuning seeds only (see "
        "Variants chosen on the meta split).")


def test_the_tuning_command_prints_a_sweep_value_and_refuses_an_unknown_task(tmp_path, capsys):
    import json

    import pytest

    from rwkd.errors import RwkdError
    from rwkd.study.tuning import main

    families = {"fixed": ["fixed_a25", "fixed_a75"]}
    for i, (label, name, meta) in enumerate([("fixed(alpha=0.25)", "fixed_a25", 0.5), ("fixed(alpha=0.75)", "fixed_a75", 0.7),
                                             ("none", "none", 0.1)]):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "results.json").write_text(json.dumps(_variant("cola", label, name, 1, 0.5, [meta], families)))
    assert main([str(tmp_path), "--task", "cola"]) == 0
    assert capsys.readouterr().out == "fixed_a75,none\n"
    with pytest.raises(RwkdError, match="no run of task rte"):
        main([str(tmp_path), "--task", "rte"])
    with pytest.raises(RwkdError, match="name no primary comparison"):  # these records name none
        main([str(tmp_path), "--task", "cola", "--primary"])


def test_seeds_beyond_the_plan_run_only_the_rows_the_primary_comparisons_name():
    from rwkd.study.tuning import primary_rows_only, weightings_to_run

    families = {"fixed": ["fixed_a25", "fixed_a75"], "meta": ["meta", "meta_mix"]}
    primary = [{"scheme": "meta", "reference": "fixed", "terms": "two"}, {"scheme": "fixed", "reference": "none", "terms": "two"},
               {"scheme": "meta", "reference": "fixed", "terms": "k"}]
    runs = [_variant("mrpc", label, name, 1, 0.6, [meta], families)
            for label, name, meta in [("none", "none", 0.5), ("fixed(alpha=0.25)", "fixed_a25", 0.6),
                                      ("fixed(alpha=0.75)", "fixed_a75", 0.7), ("meta(label)", "meta", 0.6),
                                      ("meta(mix)", "meta_mix", 0.5), ("heuristic(teacher_correct)", "heuristic_correct", 0.6)]]
    for r in runs:
        r["config"]["study"]["primary"] = primary
    names = weightings_to_run(runs, "mrpc")
    assert names == ["none", "fixed_a75", "meta", "heuristic_correct"]
    assert primary_rows_only(runs, names) == ["none", "fixed_a75", "meta"]
    # the K-term folder: only meta - fixed is a K-term primary, so `none` is not run there
    k_runs = [{**r, "weighting": r["weighting"] + " [label+kd+hidden0]"} for r in runs]
    assert primary_rows_only(k_runs, names) == ["fixed_a75", "meta"]


def test_the_choice_waits_for_a_tuning_job_another_lane_is_training_and_not_for_later_seeds(tmp_path, capsys):
    import json
    import threading
    import time

    from rwkd.locks import job_lock
    from rwkd.study.tuning import main

    sweep = tmp_path / "terms2"
    families = {"fixed": ["fixed_a25", "fixed_a75"]}
    tuning_job, later_job = sweep / "rte" / "fixed_a75" / "seed1", sweep / "rte" / "none" / "seed2"
    for name, label, meta in [("fixed_a25", "fixed(alpha=0.25)", 0.5), ("none", "none", 0.1)]:
        (sweep / "rte" / name / "seed1").mkdir(parents=True)
        (sweep / "rte" / name / "seed1" / "results.json").write_text(
            json.dumps(_variant("rte", label, name, 1, 0.5, [meta], families)))
    held, done = threading.Barrier(3, timeout=30), threading.Event()
    errors = []  # a lane's failure fails the test here: in its thread it would only warn, and the others would wait

    def guarded(lane):
        def run():
            try:
                lane()
            except BaseException as err:  # noqa: BLE001 - handed to the test's own thread
                errors.append(err)
                held.abort()
        return run

    def tuning_lane():  # records the better variant just before it lets go of the job
        with job_lock(tuning_job) as holder:
            assert holder is None
            held.wait()
            time.sleep(0.5)
            (tuning_job / "results.json").write_text(
                json.dumps(_variant("rte", "fixed(alpha=0.75)", "fixed_a75", 1, 0.5, [0.7], families)))

    def later_lane():  # a later seed's job stays in training until the choice is made
        with job_lock(later_job) as holder:
            assert holder is None
            held.wait()
            done.wait(timeout=30)

    lanes = [threading.Thread(target=guarded(tuning_lane)), threading.Thread(target=guarded(later_lane))]
    for lane in lanes:
        lane.start()
    try:
        held.wait()
    except threading.BrokenBarrierError:
        pass
    assert not errors, errors
    chooser = threading.Thread(target=main, args=([str(sweep), "--task", "rte", "--wait-seeds", "1"],))
    chooser.start()
    chooser.join(timeout=20)
    finished_before_the_later_job = not chooser.is_alive()
    done.set()
    for lane in lanes:
        lane.join()
    assert not errors, errors
    assert finished_before_the_later_job
    out, err = capsys.readouterr()
    assert sorted(out.strip().split(",")) == ["fixed_a75", "none"]  # the sweep value alone: waiting goes to stderr
    assert "rwkd: waiting for pid" in err and "fixed_a75/seed1" in err


def test_a_scheme_run_with_more_terms_is_paired_with_the_same_scheme_with_two():
    from rwkd.report.paired_tables import more_terms_table

    families = {"fixed": ["fixed_a25", "fixed_a75"], "metanet": ["metanet", "metanet_lr1e-4"]}
    k = " [label+kd+kd1]"
    results = [
        *[_variant("mrpc", "meta(label)", "meta", s, 0.70, [0.5], families) for s in (1, 2)],
        *[_variant("mrpc", "metanet(label_loss+kd_loss)", "metanet", s, 0.55, [0.4], families) for s in (1, 2)],
        *[_variant("mrpc", "metanet(label_loss+kd_loss, lr=1e-4)", "metanet_lr1e-4", s, 0.57, [0.6], families)
          for s in (1, 2)],
        *[_variant("mrpc", "metanet(term_losses)" + k, "metanet_terms", s, 0.60, [0.5], families) for s in (1, 2)],
        *[_variant("mrpc", "meta(label)" + k, "meta", s, 0.70 + 0.01 * s, [0.5], families) for s in (1, 2)],
        *[_variant("mrpc", "fixed(alpha=0.25)", "fixed_a25", s, 0.60, [0.6], families) for s in (1, 2)],
        *[_variant("mrpc", "fixed(alpha=0.75)", "fixed_a75", s, 0.50, [0.5], families) for s in (1, 2)],
        *[_variant("mrpc", "fixed(alpha=0.25)" + k, "fixed_a25", s, 0.61, [0.5], families) for s in (1, 2)],
        *[_variant("mrpc", "fixed(alpha=0.75)" + k, "fixed_a75", s, 0.66, [0.7], families) for s in (1, 2)],
        *[_variant("mrpc", "heuristic(confidence_aware, alpha=0.5)" + k, "heuristic_ca_mkd", s, 0.6, [0.5], families)
          for s in (1, 2)],
    ]
    table = more_terms_table(results)
    assert f"| meta(label){k} | +1.50 [-4.85, +7.85], 2/2 above, p=" in table  # +1, +2
    # the tuned rows are paired with each other: alpha 0.75 with three terms (66) against 0.25 with two (60)
    assert f"| {TUNED}{k} | +6.00 [+6.00, +6.00], 2/2 above |" in table
    assert "fixed(alpha=" not in table and "confidence_aware" not in table  # no two-term run of its own
    # metanet's K-term form is a label of its own: paired with two-term metanet's chosen variant (lr 1e-4, 57)
    assert f"| metanet(term_losses){k} | +3.00 [+3.00, +3.00], 2/2 above |" in table
    assert more_terms_table([r for r in results if not r["weighting"].endswith(k)]) is None


def test_no_variant_is_chosen_while_a_tuning_job_has_no_record_and_later_seeds_never_choose(tmp_path, capsys):
    import json

    import pytest

    from rwkd.errors import RwkdError
    from rwkd.study.tuning import main

    families = {"fixed": ["fixed_a25", "fixed_a75"]}
    sweep = tmp_path / "terms2"

    def record(name, label, seed, meta):
        (sweep / "rte" / name / f"seed{seed}").mkdir(parents=True, exist_ok=True)
        (sweep / "rte" / name / f"seed{seed}" / "results.json").write_text(
            json.dumps(_variant("rte", label, name, seed, 0.5, meta, families)))

    record("fixed_a25", "fixed(alpha=0.25)", 1, [0.6])
    record("none", "none", 1, [0.1])
    (sweep / "rte" / "fixed_a75" / "seed1").mkdir(parents=True)  # the other lane's job, lost before its record
    args = [str(sweep), "--task", "rte", "--wait-seeds", "1", "--weightings", "none,fixed_a25,fixed_a75"]
    with pytest.raises(RwkdError, match=r"rte: the tuning jobs fixed_a75/seed1 have no record, so no variant can be "
                                        r"chosen yet"):
        main(args)
    # as the lanes call it: one line and a non-zero exit, nothing on stdout for the sweep to read as its rows
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-m", "rwkd.study.tuning", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": root})
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith("rwkd: rte: the tuning jobs fixed_a75/seed1 have no record") and \
        proc.stderr.count("\n") == 1
    record("fixed_a75", "fixed(alpha=0.75)", 1, [0.7])
    # a later seed that ran alpha 0.25 (and scored well on the meta split) has no say in the choice
    record("fixed_a25", "fixed(alpha=0.25)", 2, [0.9])
    assert main(args) == 0
    assert sorted(capsys.readouterr().out.strip().split(",")) == ["fixed_a75", "none"]


def test_a_nan_meta_score_never_wins_a_family():
    import pytest

    from rwkd.study.tuning import choose_variants

    families = {"fixed": ["fixed_a25", "fixed_a50"]}
    runs = [_variant("stsb", "fixed(alpha=0.25)", "fixed_a25", 1, 0.5, [float("nan"), 0.1], families),
            _variant("stsb", "fixed(alpha=0.5)", "fixed_a50", 1, 0.5, [0.8], families)]
    for order in (runs, runs[::-1]):
        chosen = choose_variants(order)["stsb"]["fixed, alpha chosen on meta split"]
        assert chosen["scheme"] == "fixed(alpha=0.5)" and chosen["meta_headline"] == pytest.approx(80.0)
