"""The GLUE LightningDataModule: tokenised train / meta / dev splits with dynamic padding.

Every sample carries `idx`, its row number in its split file, so anything keyed by sample (teacher
logits, per-sample weights) stays aligned however batches are shuffled or sharded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from rwkd import distributed
from rwkd.data.glue_tsv import Example
from rwkd.data.sources import GlueSource
from rwkd.errors import RwkdError
from rwkd.tasks import TaskSpec, get_task


class TokenizedSplit(Dataset):
    def __init__(self, examples: list[Example], tokenizer, max_len: int):
        self.examples = examples
        enc = tokenizer(
            [e.text_a for e in examples],
            [e.text_b for e in examples] if examples and examples[0].text_b is not None else None,
            truncation=True,
            max_length=max_len,
        )
        self.input_ids = enc["input_ids"]
        self.token_type_ids = enc.get("token_type_ids")

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        item = {"input_ids": self.input_ids[i], "idx": self.examples[i].idx, "labels": self.examples[i].label}
        if self.token_type_ids is not None:
            item["token_type_ids"] = self.token_type_ids[i]
        return item


@dataclass
class PadCollator:
    """Pads each batch to its own longest sequence (dynamic padding)."""

    pad_token_id: int
    regression: bool

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(it["input_ids"]) for it in items)
        n = len(items)
        input_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((n, width), dtype=torch.long)
        has_types = "token_type_ids" in items[0]
        token_type_ids = torch.zeros((n, width), dtype=torch.long) if has_types else None
        for row, it in enumerate(items):
            length = len(it["input_ids"])
            input_ids[row, :length] = torch.tensor(it["input_ids"])
            attention_mask[row, :length] = 1
            if has_types:
                token_type_ids[row, :length] = torch.tensor(it["token_type_ids"])
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": torch.tensor([it["labels"] for it in items], dtype=torch.float if self.regression else torch.long),
            "idx": torch.tensor([it["idx"] for it in items], dtype=torch.long),
        }
        if has_types:
            batch["token_type_ids"] = token_type_ids
        return batch


def carve_meta_split(
    examples: list[Example], meta_size: int | None, max_train_samples: int | None, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, meta): a seeded, disjoint partition of the train file's rows.

    The partition depends only on the data, `max_train_samples`, `meta_size` and `seed`, never on the
    weighting scheme, so every scheme trains its student on exactly the same samples.
    """
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    if max_train_samples is not None:
        if max_train_samples < 2:
            raise RwkdError(f"data.max_train_samples={max_train_samples} is too small; give at least 2")
        order = order[:max_train_samples]
    pool = len(order)
    if meta_size is None:
        meta_size = min(1000, pool // 10)
    if not 0 <= meta_size < pool:
        raise RwkdError(
            f"data.meta_size={meta_size} leaves no training samples; the train pool has {pool} rows, "
            f"so meta_size must be in [0, {pool - 1}]"
        )
    meta_ids = sorted(order[:meta_size])
    train_ids = sorted(order[meta_size:])
    return [examples[i] for i in train_ids], [examples[i] for i in meta_ids]


class GlueDataModule(pl.LightningDataModule):
    def __init__(
        self,
        task: str,
        tokenizer,
        dir: str | None = None,
        max_len: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        meta_size: int | None = None,
        meta_batch_size: int | None = None,
        split_seed: int = 0,
        num_workers: int = 0,
        shuffle: bool = True,
    ):
        super().__init__()
        self.task: TaskSpec = get_task(task)
        self.source = GlueSource(self.task, dir)
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.max_train_samples = max_train_samples
        self.max_eval_samples = max_eval_samples
        self.meta_size = meta_size
        self.meta_batch_size = meta_batch_size or batch_size
        self.split_seed = split_seed
        self.num_workers = num_workers
        self.shuffle = shuffle
        self._meta_passes = 0
        self.collate = PadCollator(tokenizer.pad_token_id, self.task.is_regression)
        self.train_set: TokenizedSplit | None = None
        self.meta_set: TokenizedSplit | None = None
        self.dev_sets: dict[str, TokenizedSplit] = {}

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            train, meta = carve_meta_split(
                self.source.read("train"), self.meta_size, self.max_train_samples, self.split_seed
            )
            self.train_set = TokenizedSplit(train, self.tokenizer, self.max_len)
            self.meta_set = TokenizedSplit(meta, self.tokenizer, self.max_len)
        if not self.dev_sets:
            for split in self.task.dev_splits:
                examples = self.source.read(split)
                if self.max_eval_samples is not None:
                    examples = examples[: self.max_eval_samples]
                self.dev_sets[split] = TokenizedSplit(examples, self.tokenizer, self.max_len)

    def _loader(self, ds: Dataset, batch_size: int, shuffle: bool, shard: str = "pad") -> DataLoader:
        """A loader; under data parallelism, over this process's shard of `ds`.

        The DataModule shards its own loaders (the ddp trainer preset sets use_distributed_sampler=false):
        Lightning's automatic sampler always shuffles training data, and pads dev sets with repeated rows.
        """
        sampler = None
        if distributed.active():
            if shard == "pad":  # equal-sized shards, so every process takes the same number of steps
                sampler = DistributedSampler(ds, shuffle=shuffle, seed=self.split_seed)
            else:  # dev: disjoint shards without repeated rows, so metrics count every row once
                sampler = list(range(dist.get_rank(), len(ds), dist.get_world_size()))
        return DataLoader(ds, batch_size=batch_size, shuffle=shuffle if sampler is None else None, sampler=sampler,
                          collate_fn=self.collate, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=self.shuffle)

    def meta_dataloader(self) -> DataLoader:
        """One pass over the meta split: held out from training, never dev; for the meta-learned schemes.

        Reshuffled on every pass; under data parallelism each process gets its own shard.
        """
        if self.meta_set is None or len(self.meta_set) == 0:
            raise RwkdError("the meta split is empty; set data.meta_size > 0 for a meta-learned weighting")
        loader = self._loader(self.meta_set, self.meta_batch_size, shuffle=self.shuffle)
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(self._meta_passes)
        self._meta_passes += 1
        return loader

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(self.dev_sets[s], self.eval_batch_size, shuffle=False, shard="disjoint")
                for s in self.task.dev_splits]

    def describe(self) -> dict:
        return {
            "source": self.source.describe(),
            "train_samples": len(self.train_set) if self.train_set is not None else None,
            "meta_samples": len(self.meta_set) if self.meta_set is not None else None,
            "dev_samples": {s: len(d) for s, d in self.dev_sets.items()},
            "train_fingerprint": self.source.fingerprint("train"),
        }
