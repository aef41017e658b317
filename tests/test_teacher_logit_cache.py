"""The teacher-logit cache: aligned with the live teacher under shuffling, invalidated by a teacher or
data change, and never used when its bytes do not match its recorded hash."""

from __future__ import annotations

import pytest
import torch

from rwkd.data.datamodule import GlueDataModule
from rwkd.errors import RwkdError
from rwkd.models import build_classifier, load_tokenizer
from rwkd.teacher.cache import TeacherLogitCache, cached_teacher
from rwkd.training.teacher_signal import CachedTeacher, LiveTeacher

SMALL = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)


@pytest.fixture(scope="module")
def datamodule(glue_dir):
    dm = GlueDataModule("mrpc", load_tokenizer("embedded"), dir=str(glue_dir), max_len=48, batch_size=16,
                        max_train_samples=120, meta_size=20)
    dm.setup("fit")
    return dm


def _teacher(seed=1):
    return build_classifier("embedded", 2, random_init=True, config_overrides=SMALL, seed=seed).eval()


def _cache(model, dm, root, fingerprint="data-v1"):
    return cached_teacher(model, [("train", dm.train_set), ("train", dm.meta_set)], task="mrpc", cache_root=root,
                          tokenization={"tokenizer": "embedded", "max_len": 48}, pad_token_id=0, num_labels=2,
                          fingerprints={"train": fingerprint})


def test_cached_logits_match_the_live_teacher_on_shuffled_and_meta_batches(datamodule, tmp_path):
    model = _teacher()
    cached, live = _cache(model, datamodule, tmp_path), LiveTeacher(model)
    torch.manual_seed(3)
    batches = list(datamodule.train_dataloader())[:3] + [datamodule.next_meta_batch() for _ in range(datamodule.meta_batches_per_pass())]
    for batch in batches:
        torch.testing.assert_close(cached(batch), live(batch), rtol=1e-4, atol=1e-5)
    # sanity: a position-keyed lookup would be wrong, so rows really differ between samples
    assert not torch.allclose(cached(batches[0])[0], cached(batches[0])[1])


def test_second_use_reads_the_file_and_a_teacher_or_data_change_makes_a_new_one(datamodule, tmp_path, capsys):
    model = _teacher()
    _cache(model, datamodule, tmp_path)
    files = sorted(tmp_path.glob("*.parquet"))
    assert len(files) == 2
    capsys.readouterr()
    _cache(model, datamodule, tmp_path)
    assert "computing teacher logits" not in capsys.readouterr().out
    _cache(_teacher(seed=2), datamodule, tmp_path)
    assert len(list(tmp_path.glob("*.parquet"))) == 4
    _cache(model, datamodule, tmp_path, fingerprint="data-v2")
    assert len(list(tmp_path.glob("*.parquet"))) == 6


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_cache_is_detected_and_rebuilt(datamodule, tmp_path, capsys, damage):
    model = _teacher()
    good = _cache(model, datamodule, tmp_path).table.clone()
    target = sorted(tmp_path.glob("*.parquet"))[0]
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    target.write_bytes(bytes(data))
    capsys.readouterr()
    rebuilt = _cache(model, datamodule, tmp_path)
    err = capsys.readouterr().err
    assert "does not match its record" in err and str(target) in err
    torch.testing.assert_close(rebuilt.table, good, equal_nan=True)


def test_stale_record_key_is_not_trusted(tmp_path):
    cache = TeacherLogitCache(tmp_path, {"task": "rte", "split": "train", "teacher": "a"})
    cache.save({0: [0.1, 0.2], 3: [1.0, -1.0]}, 2)
    assert cache.load(2).shape == (4, 2)
    other = TeacherLogitCache(tmp_path, {"task": "rte", "split": "train", "teacher": "a"})
    other.path, other.record_path = cache.path, cache.record_path
    other.key = {"task": "rte", "split": "train", "teacher": "b"}
    assert other.load(2) is None


def test_lookup_of_a_sample_the_cache_does_not_hold_fails_loudly():
    table = torch.full((4, 2), float("nan"))
    table[1] = torch.tensor([1.0, 2.0])
    cached = CachedTeacher(table)
    assert cached({"idx": torch.tensor([1])}).tolist() == [[1.0, 2.0]]
    with pytest.raises(RwkdError, match=r"no entry for sample ids \[2\]"):
        cached({"idx": torch.tensor([1, 2])})


def test_cached_cls_states_match_the_live_teacher_and_have_their_own_file(datamodule, tmp_path):
    model = _teacher()
    logits = _cache(model, datamodule, tmp_path)
    states = cached_teacher(model, [("train", datamodule.train_set), ("train", datamodule.meta_set)], task="mrpc",
                            cache_root=tmp_path, tokenization={"tokenizer": "embedded", "max_len": 48}, pad_token_id=0,
                            num_labels=SMALL["hidden_size"], fingerprints={"train": "data-v1"}, layer=1)
    assert len(list(tmp_path.glob("*.parquet"))) == 4  # the states do not overwrite the logits
    live = LiveTeacher(model, layer=1)
    torch.manual_seed(4)
    for batch in list(datamodule.train_dataloader())[:2] + [datamodule.next_meta_batch()]:
        assert states(batch).shape == (batch["idx"].shape[0], SMALL["hidden_size"])
        torch.testing.assert_close(states(batch), live(batch), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(logits(batch), LiveTeacher(model)(batch), rtol=1e-4, atol=1e-5)
