"""The DataModule: meta split carved from train only, padding, and sample ids that survive shuffling."""

from __future__ import annotations

import pytest
import torch

from rwkd.data.datamodule import GlueDataModule, carve_meta_split
from rwkd.data.glue_tsv import read_split
from rwkd.errors import RwkdError
from rwkd.models import load_tokenizer
from rwkd.tasks import get_task


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("embedded")


@pytest.fixture(scope="module")
def rte(glue_dir, tokenizer):
    dm = GlueDataModule("rte", tokenizer, dir=str(glue_dir), max_len=64, batch_size=8)
    dm.setup("fit")
    return dm


def test_meta_split_is_disjoint_from_training_and_sized_by_default(rte, glue_dir):
    rows = len(read_split(glue_dir, get_task("rte"), "train"))  # 2490 in the real file
    train_ids = {e.idx for e in rte.train_set.examples}
    meta_ids = {e.idx for e in rte.meta_set.examples}
    assert not train_ids & meta_ids
    assert len(meta_ids) == min(1000, rows // 10)
    assert train_ids | meta_ids == set(range(rows))


def test_meta_batches_hold_train_rows_and_never_dev_rows(rte, glue_dir):
    train_rows = read_split(glue_dir, get_task("rte"), "train")
    dev_pairs = {(e.text_a, e.text_b) for e in read_split(glue_dir, get_task("rte"), "dev")}
    meta_ids = {e.idx for e in rte.meta_set.examples}
    seen = set()
    for _ in range(rte.meta_batches_per_pass()):
        batch = rte.next_meta_batch()
        for i in batch["idx"].tolist():
            assert i in meta_ids
            assert (train_rows[i].text_a, train_rows[i].text_b) not in dev_pairs
            seen.add(i)
    assert seen == meta_ids


def test_split_depends_on_split_seed_not_on_run_seed(glue_dir, tokenizer):
    import random

    def meta_ids(split_seed: int, run_seed: int) -> list[int]:
        random.seed(run_seed)  # the global RNGs a run seeds must not move the partition
        torch.manual_seed(run_seed)
        dm = GlueDataModule("rte", tokenizer, dir=str(glue_dir), max_len=32, batch_size=8, split_seed=split_seed,
                            order_seed=run_seed)
        dm.setup("fit")
        return [e.idx for e in dm.meta_set.examples]

    assert meta_ids(0, run_seed=1) == meta_ids(0, run_seed=2)
    assert meta_ids(0, run_seed=1) != meta_ids(1, run_seed=1)
    from rwkd.data.glue_tsv import Example

    rows = [Example(i, str(i), None, i % 2) for i in range(500)]
    train, meta = carve_meta_split(rows, 20, 100, seed=0)
    assert len(train) == 80 and len(meta) == 20
    with pytest.raises(RwkdError, match=r"meta_size=600 leaves no training samples"):
        carve_meta_split(rows, 600, None, seed=0)


def test_shuffled_batches_keep_sample_ids_aligned_with_their_tokens(rte, tokenizer):
    by_idx = {e.idx: e for e in rte.train_set.examples}
    torch.manual_seed(0)
    batch = next(iter(rte.train_dataloader()))
    assert batch["input_ids"].shape[1] == int(batch["attention_mask"].sum(1).max())  # dynamic padding
    for row, i in enumerate(batch["idx"].tolist()):
        expected = tokenizer(by_idx[i].text_a, by_idx[i].text_b, truncation=True, max_length=64)["input_ids"]
        n = int(batch["attention_mask"][row].sum())
        assert batch["input_ids"][row, :n].tolist() == expected
        assert int(batch["labels"][row]) == by_idx[i].label


def test_regression_labels_are_float(glue_dir, tokenizer):
    dm = GlueDataModule("stsb", tokenizer, dir=str(glue_dir), max_len=32, max_train_samples=50)
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()[0]))
    assert batch["labels"].dtype == torch.float32
    assert len(dm.train_set) + len(dm.meta_set) == 50


def test_group_by_length_pads_less_and_trains_on_the_same_rows(glue_dir, tokenizer):
    def epoch(group: bool) -> tuple[list[int], int, list[int]]:
        dm = GlueDataModule("mrpc", tokenizer, dir=str(glue_dir), max_len=128, batch_size=32, order_seed=3,
                            max_train_samples=1600, group_by_length=group)
        dm.setup("fit")
        batches = list(dm.train_dataloader())
        padded = sum(b["input_ids"].numel() for b in batches)
        meta = [dm.next_meta_batch()["input_ids"].numel() for _ in range(dm.meta_batches_per_pass())]
        return sorted(i for b in batches for i in b["idx"].tolist()), padded, meta

    plain_ids, plain_tokens, plain_meta = epoch(False)
    grouped_ids, grouped_tokens, grouped_meta = epoch(True)
    assert grouped_ids == plain_ids  # the same rows, once each
    assert grouped_tokens < 0.85 * plain_tokens
    assert sum(grouped_meta) < sum(plain_meta)  # the meta stream is grouped too
