"""`rwkd recipe`: trials are ranked on the held-out meta split, never on dev, and the page lists them all."""

from __future__ import annotations

import json

from omegaconf import OmegaConf

from rwkd.recipe.page import main
from rwkd.recipe.search import load_trials, summary
from rwkd.run.budget import check_budget


def _student(folder, lr: str, dev: list[float], meta: list[float], minutes: float, teacher_sha: str | None = None,
             teacher_path: str | None = None) -> None:
    history = [{"epoch": e, "val/headline": d, "val/acc": d, "meta/headline": m} for e, (d, m) in enumerate(zip(dev, meta, strict=True))]
    record = {"task": "mrpc", "weighting": "none", "seed": 1, "overrides": ["experiment=recipe_student", "task=mrpc",
                                                                            f"optim.lr={lr}"],
              "history": history, "timing": {"wall_seconds": 60 * minutes},
              "majority": {"val/headline": 0.748}, "hardware": {"cpu": "test cpu", "cpu_count": 2, "torch_threads": 2},
              "choices": {"teacher": "minilm", "student": "minilm"},
              "teacher": {"weights_sha256": teacher_sha, "path": teacher_path} if teacher_sha else None}
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(record))


def _teacher(folder, lr: str, selected: dict, sha: str | None = None, path: str | None = None) -> None:
    folder.mkdir(parents=True)
    (folder / "teacher_trial.json").write_text(json.dumps({
        "task": "mrpc", "role": "teacher", "overrides": ["task=mrpc", f"teacher.finetune.lr={lr}"], "weights_sha256": sha,
        "path": path,
        "selected": selected, "fine_tune_seconds": 600.0, "choices": {"teacher": "minilm", "student": "minilm"}}))


def test_the_meta_split_decides_even_where_dev_disagrees(tmp_path):
    # lr 1e-4: the better dev score; lr 3e-4: the better meta score (at epoch 1, where its dev is lower)
    _student(tmp_path / "student" / "a", "1e-4", dev=[0.80, 0.82], meta=[0.70, 0.71], minutes=4)
    _student(tmp_path / "student" / "b", "3e-4", dev=[0.75, 0.70], meta=[0.72, 0.74], minutes=5)
    _teacher(tmp_path / "teacher" / "a", "5e-5", {"epoch": 2, "val/headline": 0.90, "meta/headline": 0.80})
    _teacher(tmp_path / "teacher" / "b", "1e-4", {"epoch": 1, "val/headline": 0.85, "meta/headline": 0.81})
    trials, _, _ = load_trials([str(tmp_path)])
    chosen = summary(trials)["mrpc"]
    assert chosen["student"].params == {"optim.lr": "3e-4"}
    assert (chosen["student"].epoch, round(chosen["student"].meta, 6), round(chosen["student"].dev["headline"], 6)) \
        == (1, 74.0, 70.0)  # dev reported at the epoch the meta split chose
    assert chosen["teacher"].params == {"teacher.finetune.lr": "1e-4"}

    doc = tmp_path / "recipe.md"
    assert main([str(tmp_path), "--doc", str(doc)]) == 0
    page = doc.read_text()
    assert "| mrpc | student | optim.lr=3e-4 | 74.00 | 70.00 | 74.80 | 2 | 9 |" in page
    assert "| mrpc | teacher | teacher.finetune.lr=1e-4 | 81.00 | 85.00 |" in page
    assert page.count("**chosen**") == 2
    assert "All trials together: 29 minutes" in page

    assert main([str(tmp_path), "--doc", str(doc), "--write-conf", str(tmp_path / "conf")]) == 0
    written = OmegaConf.load(tmp_path / "conf" / "mrpc_minilm_minilm.yaml")
    assert OmegaConf.to_container(written) == {"optim": {"lr": 3e-4}, "teacher": {"finetune": {"lr": 1e-4}}}


def test_a_run_that_did_not_score_the_meta_split_is_refused(tmp_path):
    import pytest

    from rwkd.errors import RwkdError

    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"task": "mrpc", "history": [{"epoch": 0, "val/headline": 0.8}],
                                                     "timing": {"wall_seconds": 1}}))
    with pytest.raises(RwkdError, match="did not score the meta split"):
        load_trials([str(tmp_path)])


def test_a_student_over_the_layer_epoch_budget_is_not_applicable():
    import pytest

    from rwkd.errors import NotApplicable

    def cfg(layers, epochs):
        return OmegaConf.create({"task": {"name": "stsb"}, "trainer": {"max_epochs": epochs},
                                 "student": {"model": {"layers": layers}}, "recipe_search": {"max_layer_epochs": 12}})

    check_budget(cfg([0, 1, 2, 3], 3), "none")  # 12: at the budget, runs
    check_budget(cfg([0, 1], 6), "none")
    with pytest.raises(NotApplicable, match="4 layers x 6 epochs = 24 layer-epochs > recipe_search.max_layer_epochs=12"):
        check_budget(cfg([0, 1, 2, 3], 6), "none")
    check_budget(OmegaConf.create({"trainer": {"max_epochs": 99}, "student": {"model": {"layers": [0]}}}), "none")


def test_the_defaults_keep_the_train_subset_the_search_ran_on(tmp_path):
    from rwkd.recipe.page import recipe_config
    from rwkd.recipe.search import Trial

    def trial(role, record):
        return Trial(role, "sst2", {"optim.lr": "3e-4"} if role == "student" else {"teacher.finetune.lr": "1e-4"},
                     80.0, 0, {}, 1.0, record)

    chosen = {"teacher": trial("teacher", {"data": {"max_train_samples": 8000}}),
              "student": trial("student", {"config": {"data": {"max_train_samples": 8000}}})}
    written = OmegaConf.create(recipe_config("sst2", chosen, "x"))
    assert written.data.max_train_samples == 8000 and written.optim.lr == 3e-4
    chosen["student"] = trial("student", {"config": {"data": {"max_train_samples": None}}})
    chosen["teacher"] = trial("teacher", {"data": {"max_train_samples": None}})
    assert "data" not in OmegaConf.create(recipe_config("mrpc", chosen, "x"))


def test_the_student_must_leave_the_teacher_a_gap_on_the_meta_split(tmp_path):
    # teacher at 81 on the meta split: a student at 80 would leave nothing to distil; 77 is the best that
    # stays 3 points below. With a gap of 0.5 the 80 wins; with no eligible student the best is taken.
    _teacher(tmp_path / "teacher" / "a", "1e-4", {"epoch": 1, "val/headline": 0.85, "meta/headline": 0.81})
    for lr, meta in (("1e-4", 0.80), ("2e-4", 0.77), ("3e-4", 0.70)):
        _student(tmp_path / "student" / lr, lr, dev=[0.7], meta=[meta], minutes=1)
    trials, _, _ = load_trials([str(tmp_path)])
    assert summary(trials)["mrpc"]["student"].params == {"optim.lr": "2e-4"}
    assert summary(trials, gap=0.5)["mrpc"]["student"].params == {"optim.lr": "1e-4"}
    assert summary(trials, gap=20)["mrpc"]["student"].params == {"optim.lr": "1e-4"}
    doc = tmp_path / "recipe.md"
    main([str(tmp_path), "--doc", str(doc)])
    assert "1 student trial(s) scored within 3 points of the teacher (81.00)" in doc.read_text()
    main([str(tmp_path), "--doc", str(doc), "--teacher-gap", "20"])
    assert "No student trial stayed 20 points below the teacher" in doc.read_text()


def test_settings_the_sweep_fixed_go_into_the_recipe_but_run_controls_do_not(tmp_path):
    from rwkd.recipe.page import recipe_config

    sweep = tmp_path / "student"
    _student(sweep / "a", "1e-4", dev=[0.7], meta=[0.7], minutes=1)
    record = json.loads((sweep / "a" / "results.json").read_text())
    record["overrides"] = ["optim.lr=1e-4", "student.init=teacher", "paths.outputs=/x", "teacher=tiny",
                           "trainer.enable_progress_bar=false", "recipe_search.max_layer_epochs=12", "task=mrpc"]
    (sweep / "a" / "results.json").write_text(json.dumps(record))
    (sweep / "multirun.yaml").write_text("hydra:\n  sweeper:\n    params:\n      optim.lr: 1e-4,3e-4\n"
                                         "  overrides:\n    task: [task=mrpc, student.init=teacher]\n")
    trials, _, _ = load_trials([str(tmp_path)])
    assert trials[0].params == {"optim.lr": "1e-4"}  # the swept key names the trial in the tables
    assert trials[0].settings == {"optim.lr": "1e-4", "student.init": "teacher"}
    written = OmegaConf.create(recipe_config("mrpc", {"student": trials[0]}, "x"))
    assert OmegaConf.to_container(written) == {"optim": {"lr": 1e-4}, "student": {"init": "teacher"}}


def test_a_student_trial_of_an_earlier_teacher_cannot_be_chosen(tmp_path):
    # the teacher search was extended and a new teacher won: students that copied or distilled the old one
    # say nothing about the new recipe
    _teacher(tmp_path / "teacher" / "old", "1e-4", {"epoch": 1, "val/headline": 0.80, "meta/headline": 0.80}, sha="old")
    _teacher(tmp_path / "teacher" / "new", "5e-5", {"epoch": 2, "val/headline": 0.84, "meta/headline": 0.86}, sha="new")
    _student(tmp_path / "student" / "a", "1e-4", dev=[0.7], meta=[0.76], minutes=1, teacher_sha="old")
    _student(tmp_path / "student" / "b", "3e-4", dev=[0.7], meta=[0.72], minutes=1, teacher_sha="new")
    _student(tmp_path / "student" / "c", "2e-4", dev=[0.7], meta=[0.70], minutes=1)  # pretrained init: no teacher
    trials, _, _ = load_trials([str(tmp_path)])
    assert summary(trials)["mrpc"]["student"].params == {"optim.lr": "3e-4"}
    doc = tmp_path / "recipe.md"
    main([str(tmp_path), "--doc", str(doc)])
    assert "1 student trial(s) were made with another teacher than the chosen one and were not eligible" in doc.read_text()


def test_the_same_fine_tuning_run_again_elsewhere_is_the_same_teacher(tmp_path):
    # a fresh checkout fine-tunes the chosen teacher again for the student stage: same cache folder (same
    # settings and data), other bytes; its students are the chosen teacher's, an earlier teacher's are not
    _teacher(tmp_path / "teacher" / "old", "1e-4", {"epoch": 1, "val/headline": 0.80, "meta/headline": 0.80}, sha="a",
             path="/m1/outputs/teachers/mrpc/minilm-l6-111/model")
    _teacher(tmp_path / "teacher" / "new", "5e-5", {"epoch": 2, "val/headline": 0.84, "meta/headline": 0.86}, sha="b",
             path="/m1/outputs/teachers/mrpc/minilm-l6-222/model")
    _student(tmp_path / "student" / "a", "1e-4", dev=[0.7], meta=[0.76], minutes=1, teacher_sha="c",
             teacher_path="/m2/outputs/teachers/mrpc/minilm-l6-111/model")
    _student(tmp_path / "student" / "b", "3e-4", dev=[0.7], meta=[0.72], minutes=1, teacher_sha="d",
             teacher_path="/m2/outputs/teachers/mrpc/minilm-l6-222/model")
    trials, _, _ = load_trials([str(tmp_path)])
    assert summary(trials)["mrpc"]["student"].params == {"optim.lr": "3e-4"}


def test_a_new_teacher_without_student_trials_yet_is_shown_and_writes_only_the_teacher(tmp_path):
    # the wider teacher search chose a new teacher; the student stage for it has not run
    _teacher(tmp_path / "teacher" / "old", "1e-4", {"epoch": 1, "val/headline": 0.80, "meta/headline": 0.80}, sha="old")
    _teacher(tmp_path / "teacher" / "new", "5e-5", {"epoch": 2, "val/headline": 0.84, "meta/headline": 0.86}, sha="new")
    _student(tmp_path / "student" / "a", "1e-4", dev=[0.7], meta=[0.76], minutes=1, teacher_sha="old")
    doc = tmp_path / "recipe.md"
    assert main([str(tmp_path), "--doc", str(doc), "--write-conf", str(tmp_path / "conf")]) == 0
    text = doc.read_text()
    assert "| mrpc | student | none yet: run the student stage for the chosen teacher |" in text
    assert text.count("**chosen**") == 1  # the teacher only
    written = OmegaConf.load(tmp_path / "conf" / "mrpc_minilm_minilm.yaml")
    assert written.teacher.finetune.lr == 5e-5 and "optim" not in written


def test_a_sweep_continued_with_other_fixed_values_keeps_them_as_trial_settings(tmp_path):
    # the teacher search ran lr in {1e-4, 2e-4} at 3 epochs; later one more trial ran with lr and epochs fixed
    # on the command line (lr 5e-5, 6 epochs), and its multirun.yaml replaced the first: epochs still tells
    # the trials apart, and the space lists every value tried
    folder = tmp_path / "mrpc" / "teacher"
    for lr, epochs, meta in (("0.0001", 3, 0.80), ("0.0002", 3, 0.79), ("5e-5", 6, 0.83)):
        (folder / f"lr{lr}_ep{epochs}").mkdir(parents=True)
        (folder / f"lr{lr}_ep{epochs}" / "teacher_trial.json").write_text(json.dumps({
            "task": "mrpc", "role": "teacher", "selected": {"epoch": 1, "val/headline": 0.8, "meta/headline": meta},
            "overrides": ["task=mrpc", f"teacher.finetune.lr={lr}", f"teacher.finetune.epochs={epochs}"],
            "choices": {"teacher": "minilm", "student": "minilm"}}))
    (folder / "multirun.yaml").write_text(
        "hydra:\n  sweeper:\n    params:\n      teacher.finetune.lr: 5e-5,1e-4,2e-4\n      teacher.finetune.epochs: 3,6\n"
        "  overrides:\n    task:\n    - teacher.finetune.lr=5e-5\n    - teacher.finetune.epochs=6\ntask:\n  name: mrpc\n")
    trials, plans, _ = load_trials([str(tmp_path)])
    assert sorted(t.params["teacher.finetune.epochs"] for t in trials) == ["3", "3", "6"]
    assert summary(trials)["mrpc"]["teacher"].params == {"teacher.finetune.lr": "5e-5", "teacher.finetune.epochs": "6"}
    assert plans[0]["params"] == {"teacher.finetune.lr": "5e-5,0.0001,0.0002", "teacher.finetune.epochs": "6,3"}


def test_a_chosen_teacher_with_committed_outputs_is_distilled_from_them_by_default(tmp_path):
    from rwkd.recipe.page import recipe_config
    from rwkd.recipe.search import Trial

    committed = tmp_path / "teacher_outputs" / "mrpc" / "mpnet-base-abc"
    record = {"outputs": {"folder": "/elsewhere/outputs/teacher_outputs/mrpc/mpnet-base-abc", "id": "f00"}}
    chosen = {"teacher": Trial("teacher", "mrpc", {"teacher.finetune.lr": "2e-5"}, 86.0, 2, {}, 1.0, record)}
    # outputs not committed (yet): the defaults fine-tune the teacher
    assert "outputs" not in OmegaConf.create(recipe_config("mrpc", chosen, "x", str(tmp_path / "teacher_outputs"))).teacher
    committed.mkdir(parents=True)
    (committed / "outputs.json").write_text("{}")
    written = OmegaConf.create(recipe_config("mrpc", chosen, "x", str(tmp_path / "teacher_outputs")))
    assert written.teacher.outputs == str(committed) and written.teacher.finetune.lr == 2e-5
    assert "outputs" not in OmegaConf.create(recipe_config("mrpc", chosen, "x")).teacher  # not asked for
