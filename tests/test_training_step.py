"""The manual-optimization step, run in process with Lightning on tiny models and real RTE rows."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from rwkd import losses
from rwkd.data.datamodule import GlueDataModule
from rwkd.errors import RwkdError
from rwkd.models import build_classifier, load_tokenizer, model_inputs
from rwkd.tasks import get_task
from rwkd.training.module import DistillationModule
from rwkd.training.teacher_finetuning import TeacherFineTuning
from rwkd.weighting.fixed import FixedWeight
from rwkd.weighting.meta import RWKD
from rwkd.weighting.metanet import MetaWeightNet
from rwkd.weighting.none import NoKD

SMALL = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("embedded")


def _datamodule(glue_dir, tokenizer):
    return GlueDataModule("rte", tokenizer, dir=str(glue_dir), max_len=48, batch_size=8, max_train_samples=80,
                          meta_size=16, max_eval_samples=16)


def _fit(glue_dir, tokenizer, weighting, teacher=True, steps=3, precision="32-true", module_class=DistillationModule,
         **optim_args):
    pl.seed_everything(0, verbose=False)
    teacher_model = build_classifier("embedded", 2, random_init=True, config_overrides=SMALL, seed=1) if teacher else None
    student = build_classifier("embedded", 2, random_init=True, config_overrides=SMALL, seed=2)
    module = module_class(student, weighting, get_task("rte"), teacher=teacher_model,
                                optim={"lr": 1e-3, **optim_args})
    trainer = pl.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, precision=precision)
    trainer.fit(module, datamodule=_datamodule(glue_dir, tokenizer))
    return module, trainer


def test_fixed_alpha_zero_equals_no_kd_exactly(glue_dir, tokenizer):
    plain, _ = _fit(glue_dir, tokenizer, NoKD(), teacher=False)
    fixed0, _ = _fit(glue_dir, tokenizer, FixedWeight(0.0), teacher=True)
    a, b = plain.student.state_dict(), fixed0.student.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    moved = build_classifier("embedded", 2, random_init=True, config_overrides=SMALL, seed=2).state_dict()
    assert not all(torch.equal(a[k], moved[k]) for k in a)  # and training did change the student


def test_teacher_finetuning_trains_as_the_label_only_student_does(glue_dir, tokenizer):
    # The teacher once fine-tuned as a DistillationModule with NoKD; its own module must take the same steps,
    # so that teachers cached before the split stay what a new fine-tuning would give.
    plain, _ = _fit(glue_dir, tokenizer, NoKD(), teacher=False)
    pl.seed_everything(0, verbose=False)
    model = build_classifier("embedded", 2, random_init=True, config_overrides=SMALL, seed=2)
    module = TeacherFineTuning(model, get_task("rte"), optim={"lr": 1e-3})
    trainer = pl.Trainer(accelerator="cpu", max_steps=3, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0)
    trainer.fit(module, datamodule=_datamodule(glue_dir, tokenizer))
    a, b = plain.student.state_dict(), module.teacher.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [k for k in module.state_dict() if not k.startswith("metrics")] == [f"teacher.{k}" for k in b]
    assert len(module.step_seconds) == 3 and module.train_samples_seen == 24


def test_meta_batches_come_from_the_meta_split_only(glue_dir, tokenizer):
    seen = []
    original = DistillationModule._next_meta_batch

    def spy(self):
        batch, logits = original(self)
        seen.append(batch)
        return batch, logits

    DistillationModule._next_meta_batch = spy
    try:
        module, trainer = _fit(glue_dir, tokenizer, RWKD(virtual_lr=1e-3), steps=4)
    finally:
        DistillationModule._next_meta_batch = original
    dm = trainer.datamodule
    meta_tokens = {e.idx: ids for e, ids in zip(dm.meta_set.examples, dm.meta_set.input_ids, strict=True)}
    train_ids = {e.idx for e in dm.train_set.examples}
    assert len(seen) == 4  # one meta batch per step
    for batch in seen:
        for row, i in enumerate(batch["idx"].tolist()):
            assert i in meta_tokens and i not in train_ids
            n = int(batch["attention_mask"][row].sum())
            # same tokens as the train-file row with that id: a dev row with a colliding id would differ
            assert batch["input_ids"][row, :n].tolist() == meta_tokens[i]


def test_metanet_parameters_and_optimizer_state_are_checkpointed(glue_dir, tokenizer, tmp_path):
    module, trainer = _fit(glue_dir, tokenizer, MetaWeightNet(hidden=4), steps=2)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert any(k.startswith("weighting.net.") for k in ckpt["state_dict"])
    assert len(ckpt["optimizer_states"]) == 1  # the student's; Phi's travels with the scheme
    phi_optimizer = ckpt["state_dict"]["weighting._extra_state"]["optimizer"]
    assert phi_optimizer["state"]  # Adam moments of Phi
    # the scheme's own steps are not counted as training steps: had Lightning counted them, max_steps=2
    # would have ended training after one real step
    assert module.train_samples_seen == 2 * 8 and len(module.step_seconds) == 2
    phi_steps = [s["step"] for s in phi_optimizer["state"].values()]
    assert phi_steps and all(int(s) == 2 for s in phi_steps)  # Phi took one step per training step


@pytest.mark.parametrize("weighting", [FixedWeight(0.5), RWKD(), RWKD(impl="shared")], ids=["fixed", "meta", "meta-shared"])
def test_mixed_precision_with_gradient_clipping_trains(glue_dir, tokenizer, weighting):
    # trainer=gpu is bf16-mixed: Lightning refuses to clip a fused AdamW's gradients there, which first
    # showed on a GPU; the same check runs on the CPU, so this pins the fix without one
    module, trainer = _fit(glue_dir, tokenizer, weighting, precision="bf16-mixed", grad_clip=1.0)
    assert trainer.global_step == 3
    assert not trainer.optimizers[0].defaults["fused"]
    moved = build_classifier("embedded", 2, random_init=True, config_overrides=SMALL, seed=2).state_dict()
    after = module.student.state_dict()
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
    assert not all(torch.equal(after[k], moved[k]) for k in after)


def test_full_precision_keeps_the_fused_optimizer(glue_dir, tokenizer):
    _, trainer = _fit(glue_dir, tokenizer, NoKD(), teacher=False, steps=1)
    assert trainer.optimizers[0].defaults["fused"]


def test_fused_adamw_asked_for_under_mixed_precision_is_a_clear_error(glue_dir, tokenizer):
    with pytest.raises(RwkdError, match=r"optim.fused_adamw=true cannot run with trainer.precision=bf16-mixed"):
        _fit(glue_dir, tokenizer, NoKD(), teacher=False, steps=1, precision="bf16-mixed", fused_adamw=True)


class StepBeforeKTerms(DistillationModule):
    """The training step as written before K terms existed: w from `weights`, loss = mix(label, kd, w)."""

    def training_step(self, batch: dict, batch_idx: int):
        outputs = self.student(**model_inputs(batch))
        teacher_logits = self.teacher_logits(batch)
        s = self._signals(batch, outputs, teacher_logits, ())
        s.meta = self._meta_context(batch, teacher_logits, ())
        self.weighting.update(s)
        loss = losses.mix(s.label_loss, s.kd_loss, self.weighting.weights(s).detach())
        self.apply_update(loss)
        self.count_step(batch)
        return loss.detach()


@pytest.mark.parametrize("make", [lambda: FixedWeight(0.3), lambda: RWKD(virtual_lr=0.05),
                                  lambda: MetaWeightNet(hidden=8, virtual_lr=0.05)], ids=["fixed", "meta", "metanet"])
def test_a_two_term_step_is_bit_for_bit_the_step_before_k_terms(glue_dir, tokenizer, make):
    now, _ = _fit(glue_dir, tokenizer, make())
    before, _ = _fit(glue_dir, tokenizer, make(), module_class=StepBeforeKTerms)
    a, b = now.student.state_dict(), before.student.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
