"""student.init=finetuned: the student is cut from student.source, its own backbone fine-tuned on the task by the
teacher stage under the very cache key and folder that teacher config has, made once and reused after."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from conftest import TINY, run_rwkd
from omegaconf import OmegaConf
from tiny_models import TINY_CONFIG

from rwkd.cli import compose_train
from rwkd.config.settings import check_settings
from rwkd.errors import RwkdError
from rwkd.models import build_classifier
from rwkd.run.assemble import build_student
from rwkd.run.run_identity import start_digest
from rwkd.tasks import get_task
from rwkd.teacher.finetune import Teacher, teacher_dir, teacher_key
from rwkd.teacher.student_source import source_settings

FROM_SOURCE = ["student.init=finetuned", "+teacher@student.source=tiny", "student.model.random_init=false",
               "student.model.config_overrides=null", "+student.model.layers=[0]"]


def test_the_student_is_the_sources_first_layers_and_head(tmp_path):
    source = build_classifier("embedded", 2, random_init=True, config_overrides={**TINY_CONFIG, "num_hidden_layers": 3},
                              seed=0)
    source.save_pretrained(tmp_path / "source")
    cfg = OmegaConf.create({"seed": 3, "student": {"init": "finetuned", "model": {
        "_target_": "rwkd.models.build_classifier", "name_or_path": "embedded", "layers": [0, 1]}}})
    student = build_student(cfg, get_task("rte"), None, Teacher(None, str(tmp_path / "source"), {}, "cache"))
    s_layers, t_layers = student.bert.encoder.layer, source.bert.encoder.layer
    assert len(s_layers) == 2
    for s_layer, t_layer in zip(s_layers, t_layers[:2], strict=True):
        for (name, a), (_, b) in zip(s_layer.state_dict().items(), t_layer.state_dict().items(), strict=True):
            assert torch.equal(a, b), name
    assert torch.equal(student.classifier.weight, source.classifier.weight)  # its head: none drawn
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, source.bert.embeddings.word_embeddings.weight)


@pytest.mark.parametrize("task", ["mrpc", "rte", "stsb", "cola", "sst2"])
def test_the_mpnet_check_finds_the_v2_studys_minilm_teacher_folder(task):
    """The source of experiment=recipe_check_mpnet_ft has the key (so the folder) of the v2 study's MiniLM teacher."""
    study = compose_train(["experiment=study_glue", f"task={task}"])
    check = compose_train(["experiment=recipe_check_mpnet_ft", f"task={task}"])
    assert check.teacher.name == "mpnet-base" and check.student.init == "finetuned"
    source = source_settings(check)
    assert teacher_key(source, "train", "dev") == teacher_key(study, "train", "dev")
    assert teacher_dir(source, teacher_key(source, "train", "dev")) == teacher_dir(study, teacher_key(study, "train", "dev"))
    # a sanity check that the key can tell: another fine-tuning is another folder
    source.teacher.finetune.lr = 2e-4
    assert teacher_key(source, "train", "dev") != teacher_key(study, "train", "dev")


def test_the_source_key_is_the_teacher_key_of_the_same_teacher_config():
    teacher = compose_train(["task=rte", *TINY])
    source = source_settings(compose_train(["task=rte", *TINY, *FROM_SOURCE]))
    assert teacher_key(source, "a", "b") == teacher_key(teacher, "a", "b")
    assert teacher_dir(source, teacher_key(source, "a", "b")) == teacher_dir(teacher, teacher_key(teacher, "a", "b"))


def _other_vocabulary(folder: Path) -> str:
    from transformers import BertTokenizer

    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize(("extra", "message"), [
    (["student.model.random_init=true"], "student.init=finetuned copies student.source's (fine-tuned on the task) layers, "
                                         "so it cannot be combined with student.model.random_init=true"),
    (["~teacher@student.source"], "student.init=finetuned starts the student from student.source fine-tuned on the task, "
                                  "and student.source=None is no teacher config"),
    (["student.source.outputs=results/teacher_outputs"], "student.source.outputs=results/teacher_outputs holds outputs"),
    (["student.source.model.name_or_path=OTHER"], "student.source reads the tokens of OTHER, and the student"),
    (["student.model.layers=[0,5]"], "student.model.layers=[0, 5] is not a non-empty list of layer indices of the 2-layer"),
    (["student.source.finetune.epochs=0"], "student.source.finetune.epochs=0 is outside [1, inf)"),
])
def test_what_cannot_work_is_refused_in_one_line_before_any_work(tmp_path, extra, message):
    extra = [e.replace("OTHER", _other_vocabulary(tmp_path / "vocab")) if "OTHER" in e else e for e in extra]
    message = message.replace("OTHER", str(tmp_path / "vocab"))
    with pytest.raises(RwkdError) as err:
        check_settings(compose_train(["task=rte", *TINY, *FROM_SOURCE, *extra]))
    assert message in str(err.value) and "\n" not in str(err.value)


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny teacher's outputs written by `rwkd teacher` (its own fine-tuning cached under out/), then two runs
    distilling those outputs into a student cut from the tiny source, which their teacher stage keeps under fresh/,
    and `rwkd teacher` with the same settings between them."""
    root = tmp_path_factory.mktemp("student_source")
    written = _ok(run_rwkd(["teacher", "task=rte", *TINY, f"paths.outputs={root}/out"], cwd=root))
    outputs = re.search(r"teacher outputs in (\S+) \(id", written.stdout).group(1)
    args = ["task=rte", *TINY, *FROM_SOURCE, "weighting=fixed", f"teacher.outputs={outputs}", f"paths.outputs={root}/fresh"]
    first = _ok(run_rwkd(["train", *args, f"hydra.run.dir={root}/first"], cwd=root))
    teacher = _ok(run_rwkd(["teacher", *args, f"hydra.run.dir={root}/teacher"], cwd=root))
    second = _ok(run_rwkd(["train", *args, "seed=2", f"hydra.run.dir={root}/second"], cwd=root))
    return {"root": root, "first": first, "teacher": teacher, "second": second}


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_the_source_is_fine_tuned_once_in_the_teachers_own_folder_and_reused(runs):
    root = runs["root"]
    made = sorted((root / "fresh" / "teachers" / "rte").glob("tiny-bert-*"))
    # the same folder name as the tiny teacher's own: one cache key for one teacher config
    assert [p.name for p in made] == [p.name for p in (root / "out" / "teachers" / "rte").glob("tiny-bert-*")]
    assert runs["first"].stdout.count("rwkd: fine-tuning the teacher tiny-bert") == 1
    for later in ("teacher", "second"):
        assert "rwkd: fine-tuning the teacher" not in runs[later].stdout
        assert f"reusing the fine-tuned teacher in {made[0]}" in runs[later].stdout
    assert "distilling the teacher outputs" in runs["first"].stdout  # the run's teacher: its outputs, no model


def test_results_record_the_source_and_the_start_is_its_first_layer(runs):
    root = runs["root"]
    folder = next((root / "fresh" / "teachers" / "rte").glob("tiny-bert-*"))
    made = json.loads((folder / "teacher.json").read_text())
    for name, seed in (("first", 1), ("second", 2)):
        r = _results(root / name)
        source = r["student"]["source"]
        assert source["folder"] == str(folder) and source["key"] == made["key"]
        assert source["weights_sha256"] == made["weights_sha256"] and source["dev_metrics"] == made["dev_metrics"]
        assert "meta/headline" in source["dev_metrics"] and source["origin"] in ("fine-tuned", "cache")
        assert r["teacher"]["origin"] == "outputs" and r["teacher"]["logits"] == "cached"
        start = build_classifier(str(folder / "model"), 2, layers=[0], seed=seed, stable_fresh_init=True)
        assert r["identity"]["student_init"] == start_digest(start)
