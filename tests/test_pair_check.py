"""The report's paired tables pair only identical runs (rwkd/report/pair_check.py): by `identity` where both records
have it, else by what v1/v2 records hold; a pair that differs is left out and listed under its table."""

from __future__ import annotations

import copy

from rwkd.report.pair_check import pair_difference
from rwkd.report.paired_tables import more_terms_table, paired_table

SAME = {"student_init": "a" * 16, "split": "b" * 16, "batch_order": "c" * 16}


def _record(scheme: str, seed: int, score: float, task: str = "rte", **extra) -> dict:
    return {"task": task, "weighting": scheme, "seed": seed, "best": {"metrics": {"val/headline": score}},
            "history": [], **extra}


def _with_identity(scheme: str, seed: int, score: float, teacher_terms=None, **digests) -> dict:
    terms = {"kd": "d" * 16} if teacher_terms is None else teacher_terms
    return _record(scheme, seed, score, identity={**SAME, "teacher_outputs": "e" * 16 if terms else None,
                                                  "teacher_terms": terms, **digests})


def test_a_pair_whose_start_differs_is_left_out_and_listed_under_the_table():
    results = []
    for seed in (1, 2, 3):
        results.append(_with_identity("none", seed, 0.60, teacher_terms={}))
        start = {"student_init": "f" * 16} if seed == 2 else {}
        results.append(_with_identity("fixed(alpha=0.5)", seed, 0.60 + 0.01 * seed, **start))
    table = paired_table(results, "none")
    # seeds 1 and 3 only: +1 and +3 points; seed 2's +2 would leave the mean at +2 all the same, so check n
    assert "| fixed(alpha=0.5) | +2.00 [" in table and ", 2/2 above" in table
    assert "Left out of this table: 1 pair(s)" in table
    assert "- rte seed 2: fixed(alpha=0.5) vs none: student_init differs" in table


def test_identical_pairs_are_all_kept_and_nothing_is_listed():
    results = [_with_identity("none", s, 0.6, teacher_terms={}) for s in (1, 2)]
    results += [_with_identity("fixed(alpha=0.5)", s, 0.62, teacher_terms={"kd": "d" * 16}) for s in (1, 2)]
    table = paired_table(results, "none")
    assert "2/2 above" in table and "Left out" not in table


def test_teacher_outputs_are_compared_on_the_terms_both_runs_distil():
    two = _with_identity("fixed(alpha=0.5)", 1, 0.6)
    more = _with_identity("fixed(alpha=0.5) [label+kd+kd1+hidden0]", 1, 0.6,
                          teacher_terms={"kd": "d" * 16, "kd1": "1" * 16, "hidden0": "2" * 16})
    assert pair_difference(more, two) is None  # more terms, the shared one the same
    other = copy.deepcopy(more)
    other["identity"]["teacher_terms"]["kd"] = "9" * 16
    assert pair_difference(other, two) == "teacher_outputs differ (term kd)"
    assert "Left out of this table: 1 pair(s)" in more_terms_table([two, other])


def test_each_digest_is_checked():
    a = _with_identity("x", 1, 0.5)
    for key in ("split", "batch_order", "student_init"):
        b = copy.deepcopy(a)
        b["identity"][key] = "0" * 16
        assert pair_difference(a, b) == f"{key} differs"


def test_runs_pair_only_with_the_same_training_labels():
    clean = _with_identity("none", 1, 0.5)
    noisy = {**_with_identity("meta", 1, 0.5), "data": {"label_noise": {"p": 0.3, "seed": 1, "digest": "a" * 16}}}
    assert pair_difference(noisy, copy.deepcopy(noisy)) is None
    assert pair_difference(noisy, clean) == "training labels differ (one run's are noisy, the other's clean)"
    other = copy.deepcopy(noisy)
    other["data"]["label_noise"].update(p=0.1, seed=7, digest="b" * 16)  # the split digest cannot see labels
    assert pair_difference(noisy, other) == "training labels differ (label_noise digest)"


# ---- v2 records: no identity -----------------------------------------------------------------------------------
# shaped like results/study_glue/terms2/rte/*/seed2: the student copies the teacher's layers (student.init=teacher);
# `none` ran on the Intel machine with the rebuilt teacher (same scores, other weights), fixed_a75 on the AMD one

SCORES = {"epoch": 2, "step": 213, "val/acc": 0.5559566617012024, "val/headline": 0.5559566617012024,
          "meta/acc": 0.6104417443275452, "meta/headline": 0.6104417443275452}
AMD, INTEL = "6a1bdd4cd93a956c5b9042744ab61195e8d6c80405f62637604e551d24ee5357", \
    "2896798ed3136110399b82f8ee4c66a47ce185260788f1f87ddca7934eead50c"


def _v2(task: str, scheme: str, seed: int, score: float, weights: str, cpu: str, logits: str = "cached") -> dict:
    teacher = {"path": f"/work/main/outputs/teachers/{task}/minilm-l6-9eca95e10364/model", "origin": "cache",
               "dev_metrics": SCORES, "weights_sha256": weights, "logits": logits}
    config = {"data": {"max_train_samples": None, "meta_size": None, "split_seed": 0, "batch_size": 32, "max_len": 128},
              "student": {"name": "minilm-layers0-1-2-3", "init": "teacher",
                          "model": {"_target_": "rwkd.models.build_classifier", "name_or_path": "embedded",
                                    "layers": [0, 1, 2, 3]}}}
    return _record(scheme, seed, score, task=task, teacher=teacher, more_teachers=[], config=config,
                   student={"name": "minilm-layers0-1-2-3", "parameters": 19165058},
                   data={"train_fingerprint": "41e3a9b063433392", "train_samples": 2241, "meta_samples": 249},
                   hardware={"cpu": cpu, "cpu_count": 2})


def test_v2_fallback_flags_the_rte_seeds_that_distilled_two_builds_of_the_teacher():
    results = [_v2("rte", "none", 1, 0.60, AMD, "AMD EPYC", logits="unused"),
               _v2("rte", "fixed(alpha=0.75)", 1, 0.62, AMD, "AMD EPYC")]
    for seed in (2, 3, 4, 5):
        results += [_v2("rte", "none", seed, 0.60, INTEL, "Intel(R) Xeon(R) Processor", logits="unused"),
                    _v2("rte", "fixed(alpha=0.75)", seed, 0.62, AMD, "AMD EPYC")]
    table = paired_table(results, "none")
    assert "1/1 above" in table
    assert "Left out of this table: 4 pair(s)" in table
    for seed in (2, 3, 4, 5):
        assert (f"- rte seed {seed}: fixed(alpha=0.75) vs none: teacher weights_sha256 differs "
                f"({AMD[:12]} vs {INTEL[:12]})") in table


def test_v2_fallback_keeps_pairs_that_differ_only_in_where_and_how_the_teacher_was_found():
    # the same teacher weights found in the cache by one run and fine-tuned by another, on another CPU, with a
    # student that does not start from the teacher and a `none` run that recorded no teacher at all
    a = _v2("mrpc", "fixed(alpha=0.5)", 1, 0.8, AMD, "AMD EPYC")
    b = _v2("mrpc", "heuristic(teacher_confidence)", 1, 0.8, AMD, "Intel(R) Xeon(R) Processor")
    b["teacher"] |= {"origin": "fine-tuned", "fine_tune_seconds": 1000.0}
    none = _v2("mrpc", "none", 1, 0.8, AMD, "AMD EPYC")
    none["teacher"] = None
    assert pair_difference(a, b) is None and pair_difference(none, a) is None


def test_v2_fallback_flags_other_data_or_another_student():
    a = _v2("sst2", "none", 1, 0.8, AMD, "AMD EPYC")
    b = copy.deepcopy(a)
    b["data"]["train_fingerprint"] = "0" * 16
    assert pair_difference(a, b) == "data.train_fingerprint differs"
    c = copy.deepcopy(a)
    c["config"]["student"]["model"]["layers"] = [0, 1]
    assert pair_difference(a, c) == "student differs"
    d = copy.deepcopy(a)
    d["config"]["data"]["split_seed"] = 1
    assert pair_difference(a, d) == "data.split_seed differs"


def test_a_record_from_before_stable_head_pairs_with_a_run_that_keeps_torchs_head_draw_only():
    # the 6-layer MPNet check: its first records predate student.stable_head (torch's draw, as stable_head=false)
    before = _v2("cola", "none", 1, 0.3, AMD, "Intel(R) Xeon(R) Processor")
    kept, stable = copy.deepcopy(before), copy.deepcopy(before)
    kept["config"]["student"]["stable_head"] = False
    stable["config"]["student"]["stable_head"] = True
    assert pair_difference(before, kept) is None
    assert pair_difference(before, stable) == "student differs"


def _from_written_outputs(tmp_path, name: str, outputs_id: str, logits_sha: str, seed: int = 1) -> dict:
    """A run that distilled the teacher-outputs folder `name` (its record written there), by its identity."""
    import json

    from rwkd.records.identity import outputs_digest

    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "outputs.json").write_text(json.dumps({"id": outputs_id, "files": {"logits.parquet": logits_sha}}))
    record = _with_identity(f"fixed({name})", seed, 0.6, teacher_terms={"kd": outputs_digest(outputs_id, None)})
    record.update(teacher={"origin": "outputs", "outputs_id": outputs_id, "path": "/elsewhere/" + name},
                  config={"teacher": {"outputs": str(folder)}})
    return record


def test_two_outputs_folders_with_the_same_logits_file_give_the_kd_term_the_same_numbers(tmp_path):
    """A K-term run reads the teacher's outputs with hidden states beside the logits: another folder id, the same
    logits file. Its kd term pairs with a two-term run's by that file's SHA-256, and only where the folder found is
    the one the run recorded."""
    logits_only = _from_written_outputs(tmp_path, "logits", "1" * 64, "a" * 64)
    with_states = _from_written_outputs(tmp_path, "states", "2" * 64, "a" * 64)
    assert logits_only["identity"]["teacher_terms"] != with_states["identity"]["teacher_terms"]
    assert pair_difference(logits_only, with_states) is None
    other_logits = _from_written_outputs(tmp_path, "other", "3" * 64, "b" * 64)
    assert pair_difference(logits_only, other_logits) == "teacher_outputs differ (term kd)"
    # the folder now holds other outputs than the run read (another id): the recorded digests decide
    moved = copy.deepcopy(with_states)
    moved["teacher"]["outputs_id"] = "4" * 64
    assert pair_difference(logits_only, moved) == "teacher_outputs differ (term kd)"
    # no folder to read: the recorded digests decide
    gone = copy.deepcopy(with_states)
    gone["config"]["teacher"]["outputs"] = str(tmp_path / "nowhere")
    assert pair_difference(logits_only, gone) == "teacher_outputs differ (term kd)"
