"""`identity` in results.json (rwkd/records/identity.py): the digests that say two runs of a task and seed are a
pair, that they change with what they cover and only with it, and that real runs of two schemes share them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY, run_rwkd
from omegaconf import OmegaConf
from tiny_models import TINY_CONFIG

from rwkd.data.sampling import EpochBatchSampler
from rwkd.models import build_classifier, stable_normal
from rwkd.records import identity

ROOT = Path(__file__).resolve().parents[1]


def _tiny(seed: int):
    return build_classifier("embedded", 2, random_init=True, config_overrides=TINY_CONFIG, seed=seed)


def test_student_init_is_the_same_for_the_same_start_and_changes_with_one_weight():
    a, b = _tiny(1), _tiny(1)
    assert identity.student_init_digest(a) == identity.student_init_digest(b)
    assert len(identity.student_init_digest(a)) == identity.DIGEST_CHARS
    with torch.no_grad():
        b.classifier.weight[0, 0] += 1e-6
    assert identity.student_init_digest(a) != identity.student_init_digest(b)
    assert identity.student_init_digest(a) != identity.student_init_digest(_tiny(2))


def test_student_init_leaves_out_the_projections_of_hidden_state_terms():
    a, b = _tiny(1), _tiny(1)
    b.add_module("projections", torch.nn.ModuleDict({"hidden0": torch.nn.Linear(4, 4)}))
    assert identity.weights_digest(a) != identity.weights_digest(b)
    assert identity.student_init_digest(a, "projections") == identity.student_init_digest(b, "projections")


def test_split_digest_changes_with_one_row_or_its_part():
    base = identity.split_digest([0, 2, 3, 5], [1, 4])
    assert base == identity.split_digest([0, 2, 3, 5], [1, 4])
    assert base != identity.split_digest([0, 2, 3, 6], [1, 4])
    assert base != identity.split_digest([0, 2, 3, 5, 1], [4])


def _order(seed: int, world: int = 1, epochs: int = 2, max_steps=None) -> str:
    samplers = [EpochBatchSampler(10, 3, True, seed, 0, rank, world) for rank in range(world)]
    steps = identity.planned_batches(samplers, epochs, len(samplers[0]), max_steps)
    return identity.batch_order_digest(steps, list(range(100, 110)))


def test_batch_order_is_the_samplers_and_changes_with_the_seed_epochs_and_steps():
    assert _order(0) == _order(0)
    assert _order(0) != _order(1)
    assert _order(0, epochs=2) != _order(0, epochs=3)
    assert _order(0, max_steps=5) != _order(0)
    # the same number of steps as two processes of half the batch: the global batches are other rows
    assert _order(0, world=2) != _order(0)


def test_planned_batches_are_what_the_sampler_hands_out_each_epoch():
    sampler = EpochBatchSampler(10, 3, True, 7, 0, 0, 1)
    drawn = [batch for _ in range(2) for batch in sampler]  # counted passes: epoch 0, then 1
    assert identity.planned_batches([EpochBatchSampler(10, 3, True, 7, 0, 0, 1)], 2, 4, None) == drawn


def test_teacher_outputs_digest_covers_every_term_and_is_none_without_one():
    table = torch.randn(6, 2)
    logits = identity.table_digest(table)
    assert logits == identity.table_digest(table.clone())
    changed = table.clone()
    changed[3, 1] += 1e-4
    assert identity.table_digest(changed) != logits
    assert identity.teacher_outputs_digest({"kd": None}) is None
    both = identity.teacher_outputs_digest({"kd": logits, "hidden0": identity.table_digest(torch.ones(6, 4))})
    assert both != identity.teacher_outputs_digest({"kd": logits})
    assert identity.outputs_digest("abc", None) != identity.outputs_digest("abc", -1)


def test_stable_normal_is_normal_shaped_and_its_own_stream_per_parameter():
    values = stable_normal((200, 50), 0.02, 3, "classifier.weight")
    assert values.dtype == torch.float32 and torch.equal(values, stable_normal((200, 50), 0.02, 3, "classifier.weight"))
    assert abs(float(values.mean())) < 1e-3 and abs(float(values.std()) - 0.02) < 5e-4
    assert float(values.abs().max()) <= 6 * 0.02
    assert not torch.equal(values, stable_normal((200, 50), 0.02, 3, "pooler.dense.weight"))
    assert not torch.equal(values, stable_normal((200, 50), 0.02, 4, "classifier.weight"))


HEAD_SCRIPT = """
import hashlib, torch
from omegaconf import OmegaConf
from rwkd.models import build_classifier
from rwkd.run.assemble import build_student
from rwkd.tasks import get_task
cfg = OmegaConf.create({"seed": 3, "student": {"init": "pretrained", "model": {
    "_target_": "rwkd.models.build_classifier", "name_or_path": "embedded", "layers": [0]}}})
stable = build_student(cfg, get_task("rte"), None).classifier.weight
plain = build_classifier("embedded", 2, layers=[0], seed=3).classifier.weight
cfg.student.stable_head = False
as_before = build_student(cfg, get_task("rte"), None).classifier.weight
h = lambda t: hashlib.sha256(t.detach().numpy().tobytes()).hexdigest()
print(h(stable), h(plain), h(as_before))
"""


def test_the_students_fresh_head_is_the_same_bits_whatever_cpu_code_path_torch_takes():
    """ATen's CPU capability picks the normal_ kernel: its DEFAULT (scalar) and AVX2 paths draw other bits from one
    seed, as CPUs with and without AVX2 would; the student's head (stable_normal) is the same on both."""
    heads = {}
    for capability in ("default", "avx2"):
        env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-c", HEAD_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        heads[capability] = proc.stdout.split()
    assert heads["default"][0] == heads["avx2"][0]
    assert heads["default"][1] != heads["avx2"][1]  # torch's own draw: what the stable one replaces
    # student.stable_head=false is torch's draw, as records written before the setting were made
    assert all(head[2] == head[1] != head[0] for head in heads.values())


# ---- real runs ----------------------------------------------------------------------------------------------

def _identity(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())["identity"]


@pytest.fixture(scope="module")
def scheme_runs(tmp_path_factory) -> Path:
    """Tiny RTE runs of three schemes, seed 5, one teacher (fine-tuned by the first KD run, cached for the next)."""
    tmp = tmp_path_factory.mktemp("identity")
    for scheme in ("none", "fixed_a50", "heuristic_confidence"):
        proc = run_rwkd(["train", "task=rte", *TINY, "trainer.max_epochs=1", f"weighting={scheme}", "seed=5",
                         "checkpoint.keep_last=true", f"paths.teachers={tmp / 'teachers'}",
                         f"hydra.run.dir={tmp / scheme}"], cwd=tmp)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp


@pytest.mark.slow
def test_two_schemes_of_one_seed_share_start_split_order_and_teacher_outputs(scheme_runs):
    none, fixed, heuristic = (_identity(scheme_runs / s) for s in ("none", "fixed_a50", "heuristic_confidence"))
    for key in ("student_init", "split", "batch_order"):
        assert none[key] == fixed[key] == heuristic[key], key
        assert len(none[key]) == identity.DIGEST_CHARS
    assert none["teacher_outputs"] is None and none["teacher_terms"] == {}
    assert fixed["teacher_outputs"] == heuristic["teacher_outputs"] is not None
    assert set(fixed["teacher_terms"]) == {"kd"}


@pytest.mark.slow
def test_another_seed_changes_the_start_and_the_order_not_the_split(scheme_runs):
    tmp = scheme_runs
    proc = run_rwkd(["train", "task=rte", *TINY, "trainer.max_epochs=1", "weighting=none", "seed=6",
                     f"paths.teachers={tmp / 'teachers'}", f"hydra.run.dir={tmp / 'seed6'}"], cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    five, six = _identity(tmp / "none"), _identity(tmp / "seed6")
    assert five["split"] == six["split"]  # data.split_seed, not the run seed, carves the meta split
    assert five["student_init"] != six["student_init"] and five["batch_order"] != six["batch_order"]


@pytest.mark.slow
def test_a_resumed_run_records_the_start_its_checkpoint_carries_not_the_weights_it_resumed(scheme_runs):
    tmp = scheme_runs
    last = tmp / "fixed_a50" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    original = checkpoint["rwkd"][identity.STUDENT_INIT]
    assert original == _identity(tmp / "fixed_a50")["student_init"]
    # the tiny student as the run built it (conf/student/tiny.yaml, seed 5): its start is the recorded one
    overrides = dict(OmegaConf.load(ROOT / "conf" / "student" / "tiny.yaml").model.config_overrides)
    model = build_classifier("embedded", 2, random_init=True, config_overrides=overrides, seed=5)
    assert identity.student_init_digest(model) == original
    model.load_state_dict({k[len("student."):]: v for k, v in checkpoint["state_dict"].items()
                           if k.startswith("student.")})
    assert identity.student_init_digest(model) != original  # the weights resumed from are not the start
    # a marker in place of the start's digest: the resumed run must report what the checkpoint says
    checkpoint["rwkd"][identity.STUDENT_INIT] = "feedfacefeedface"
    torch.save(checkpoint, tmp / "marked.ckpt")
    proc = run_rwkd(["train", "task=rte", *TINY, "trainer.max_epochs=1", "weighting=fixed_a50", "seed=5",
                     f"ckpt_path={tmp / 'marked.ckpt'}", f"paths.teachers={tmp / 'teachers'}",
                     f"hydra.run.dir={tmp / 'resumed'}"], cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _identity(tmp / "resumed")["student_init"] == "feedfacefeedface"
