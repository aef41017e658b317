"""student.init=teacher: the student starts from the fine-tuned teacher's layers and head (patient KD)."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from tiny_models import TINY_CONFIG

from rwkd.errors import RwkdError
from rwkd.models import build_classifier
from rwkd.run.assemble import build_student
from rwkd.tasks import get_task
from rwkd.teacher.finetune import Teacher


def _cfg(init: str, **model) -> OmegaConf:
    return OmegaConf.create({"seed": 3, "student": {"init": init, "model": {
        "_target_": "rwkd.models.build_classifier", "name_or_path": "embedded", **model}}})


def test_the_student_copies_the_chosen_teacher_layers_and_head(tmp_path):
    teacher = build_classifier("embedded", 2, random_init=True, config_overrides={**TINY_CONFIG, "num_hidden_layers": 3},
                               seed=0)
    teacher.save_pretrained(tmp_path / "teacher")
    student = build_student(_cfg("teacher", layers=[2, 0]), get_task("rte"),
                            Teacher(teacher, str(tmp_path / "teacher"), {}, "cache"))
    t_layers, s_layers = teacher.bert.encoder.layer, student.bert.encoder.layer
    assert len(s_layers) == 2
    for s_layer, t_layer in ((s_layers[0], t_layers[2]), (s_layers[1], t_layers[0])):
        for (name, a), (_, b) in zip(s_layer.state_dict().items(), t_layer.state_dict().items(), strict=True):
            assert torch.equal(a, b), name
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight)


def test_a_random_student_from_the_teacher_is_refused():
    # an unknown student.init is the settings' rule (tests/test_settings.py), checked before any run is built
    with pytest.raises(RwkdError, match="cannot be combined with student.model.random_init=true"):
        build_student(_cfg("teacher", random_init=True), get_task("rte"), None)
