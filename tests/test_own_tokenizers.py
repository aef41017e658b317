"""Teacher and student with different tokenizers: each model only ever reads ids of its own vocabulary.

The second tokenizer is a character-level WordPiece with 69 entries, and its tiny teacher has exactly that
vocabulary, so a student id (BERT's 30,522) reaching the teacher's embedding would fail outright; the spies
below also compare every row each model sees with what its own tokenizer makes of that sample's text.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
import torch
from conftest import TINY, run_rwkd

from rwkd.data.datamodule import GlueDataModule
from rwkd.models import build_classifier, load_tokenizer, model_inputs
from rwkd.teacher.cache import cached_teacher
from rwkd.training.teacher_signal import LiveTeacher

CHARS = list(string.ascii_lowercase + string.digits)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS, *[f"##{c}" for c in CHARS[:30]]]


def write_char_model(folder: Path) -> Path:
    """A tokenizer folder (and tiny BERT config) whose ids mean something else than BERT's."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True,
                                                              "model_max_length": 512}))
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": len(VOCAB), "hidden_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 128,
        "type_vocab_size": 2, "pad_token_id": 0}))
    return folder


@pytest.fixture(scope="module")
def char_model(tmp_path_factory) -> Path:
    return write_char_model(tmp_path_factory.mktemp("char_model"))


class Spy(torch.nn.Module):
    """Records the input_ids a model is called with."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []
        self.config = model.config

    def forward(self, **inputs):
        self.seen.append(inputs["input_ids"].clone())
        return self.model(**inputs)


def _expected_rows(dm, tokenizer, idx: torch.Tensor) -> list[list[int]]:
    by_idx = {e.idx: e for e in dm.train_set.examples + dm.meta_set.examples}
    return [tokenizer(by_idx[i].text_a, by_idx[i].text_b, truncation=True, max_length=dm.max_len)["input_ids"]
            for i in idx.tolist()]


def _unpadded(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    return [row[m.bool()].tolist() for row, m in zip(ids, mask, strict=True)]


def test_a_live_teacher_reads_its_own_ids_and_the_student_its_own(glue_dir, char_model):
    student_tok, teacher_tok = load_tokenizer("embedded"), load_tokenizer(str(char_model))
    dm = GlueDataModule("mrpc", student_tok, dir=str(glue_dir), max_len=40, batch_size=8, max_train_samples=60,
                        meta_size=12, teacher_tokenizers={str(char_model): teacher_tok})
    dm.setup("fit")
    teacher = Spy(build_classifier(str(char_model), 2, random_init=True, seed=0))
    live = LiveTeacher(teacher, view=str(char_model))
    batches = list(dm.train_dataloader())[:2] + [dm.next_meta_batch()]
    for batch in batches:
        live(batch)
        seen = teacher.seen[-1]
        view = batch["teacher_inputs"][str(char_model)]
        assert int(seen.max()) < len(VOCAB)
        assert _unpadded(seen, view["attention_mask"]) == _expected_rows(dm, teacher_tok, batch["idx"])
        student_rows = _unpadded(model_inputs(batch)["input_ids"], batch["attention_mask"])
        assert student_rows == _expected_rows(dm, student_tok, batch["idx"])
        assert student_rows != _unpadded(seen, view["attention_mask"])  # the two really differ
    # without its view the teacher refuses instead of reading the student's ids
    with pytest.raises(Exception, match="no ids of the teacher's tokenizer"):
        LiveTeacher(teacher, view="another-tokenizer")(batches[0])


def test_cached_outputs_are_computed_on_the_teachers_own_tokens(glue_dir, char_model, tmp_path):
    student_tok, teacher_tok = load_tokenizer("embedded"), load_tokenizer(str(char_model))
    dm = GlueDataModule("mrpc", student_tok, dir=str(glue_dir), max_len=40, batch_size=8, max_train_samples=60,
                        meta_size=12, teacher_tokenizers={str(char_model): teacher_tok})
    dm.setup("fit")
    model = build_classifier(str(char_model), 2, random_init=True, seed=0).eval()
    splits = [("train", dm.retokenized(s, teacher_tok)) for s in (dm.train_set, dm.meta_set)]
    cached = cached_teacher(model, splits, task="mrpc", cache_root=tmp_path,
                            tokenization={"tokenizer": str(char_model), "max_len": 40},
                            pad_token_id=teacher_tok.pad_token_id, num_labels=2, fingerprints={"train": "v1"})
    live = LiveTeacher(model, view=str(char_model))
    for batch in list(dm.train_dataloader())[:2] + [dm.next_meta_batch()]:
        torch.testing.assert_close(cached(batch), live(batch), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("cache", ["true", "false"])
def test_a_run_distils_a_teacher_with_another_vocabulary(tmp_path, char_model, cache):
    """End to end: the teacher (69-entry vocabulary) is fine-tuned and distilled on its own ids, with a second
    teacher and a hidden-state term on the same footing; the student is exported with its own tokenizer."""
    result = run_rwkd(["train", "task=mrpc", *TINY, f"teacher.model.name_or_path={char_model}", f"teacher.cache_logits={cache}",
                       "weighting=meta", "+kd.teachers=[{finetune: {seed: 1}}]",
                       "+kd.hidden=[{student_layer: -1, teacher_layer: -1, teacher: 1}]",
                       f"paths.outputs={tmp_path}/out", "hydra.run.dir=" + str(tmp_path / "run")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["teacher"]["logits"] == ("cached" if cache == "true" else "live")
    assert results["config"]["data"]["tokenizer"] is None  # nothing forced: each model's own
    exported = load_tokenizer(str(tmp_path / "run" / "best_hf"))
    assert len(exported) == len(load_tokenizer("embedded")) != len(VOCAB)
    for what in ("best_hf", "checkpoints/best.ckpt"):  # eval reads the student's tokens back
        scored = run_rwkd(["eval", f"ckpt={tmp_path / 'run' / what}"], cwd=tmp_path)
        assert scored.returncode == 0, scored.stderr[-3000:]
        printed = float(re.search(r"val/headline\s+([0-9.]+)", scored.stdout).group(1))
        assert printed == pytest.approx(results["best"]["metrics"]["val/headline"], abs=5e-5)


def test_a_tokenizer_forced_on_the_student_must_fit_its_vocabulary(tmp_path, char_model):
    from conftest import run_rwkd_here

    result = run_rwkd_here(["train", *TINY, "+student.model.config_overrides.vocab_size=69",
                            "data.tokenizer=embedded"], cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "data.tokenizer=embedded makes ids up to 30521, past the student's 69-entry" in lines[0]
