"""The GLUE LightningDataModule: tokenised train / meta / dev splits with dynamic padding.

Every sample carries `idx`, its row number in its split file, so anything keyed by sample (teacher
logits, per-sample weights) stays aligned however batches are shuffled or sharded.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from rwkd import distributed
from rwkd.data.glue_tsv import Example
from rwkd.data.label_noise import LabelNoise, corrupt_labels
from rwkd.data.sampling import EpochBatchSampler
from rwkd.data.sources import GlueSource, default_glue_dir
from rwkd.errors import RwkdError
from rwkd.tasks import TaskSpec, get_task


def _encode(examples: list[Example], tokenizer, max_len: int) -> tuple[list, list | None]:
    enc = tokenizer(
        [e.text_a for e in examples],
        [e.text_b for e in examples] if examples and examples[0].text_b is not None else None,
        truncation=True,
        max_length=max_len,
    )
    return enc["input_ids"], enc.get("token_type_ids")


class TokenizedSplit(Dataset):
    """One split's rows tokenized by the student's tokenizer, and, for each live teacher with a tokenizer of its
    own (`views`: name -> tokenizer), by that one too, each with its own truncation: a model only ever reads
    ids from its own vocabulary."""

    def __init__(self, examples: list[Example], tokenizer, max_len: int, views: dict | None = None):
        self.examples = examples
        self.input_ids, self.token_type_ids = _encode(examples, tokenizer, max_len)
        self.views = {name: _encode(examples, tok, max_len) for name, tok in (views or {}).items()}

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        item = {"input_ids": self.input_ids[i], "idx": self.examples[i].idx, "labels": self.examples[i].label}
        if self.token_type_ids is not None:
            item["token_type_ids"] = self.token_type_ids[i]
        if self.views:
            item["teacher_inputs"] = {name: {"input_ids": ids[i], **({"token_type_ids": types[i]} if types else {})}
                                      for name, (ids, types) in self.views.items()}
        return item


def pad_inputs(rows: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """input_ids (and token_type_ids) padded to the longest row, with the attention mask."""
    width = max(len(r["input_ids"]) for r in rows)
    n = len(rows)
    input_ids = torch.full((n, width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    has_types = "token_type_ids" in rows[0]
    token_type_ids = torch.zeros((n, width), dtype=torch.long) if has_types else None
    for row, r in enumerate(rows):
        length = len(r["input_ids"])
        input_ids[row, :length] = torch.tensor(r["input_ids"])
        attention_mask[row, :length] = 1
        if has_types:
            token_type_ids[row, :length] = torch.tensor(r["token_type_ids"])
    padded = {"input_ids": input_ids, "attention_mask": attention_mask}
    if has_types:
        padded["token_type_ids"] = token_type_ids
    return padded


@dataclass
class PadCollator:
    """Pads each batch to its own longest sequence (dynamic padding); each teacher view with its own pad id."""

    pad_token_id: int
    regression: bool
    view_pad_ids: dict | None = None

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        batch = pad_inputs(items, self.pad_token_id)
        if items[0]["labels"] is not None:  # test rows have none (rwkd predict)
            batch["labels"] = torch.tensor([it["labels"] for it in items], dtype=torch.float if self.regression else torch.long)
        batch["idx"] = torch.tensor([it["idx"] for it in items], dtype=torch.long)
        if "teacher_inputs" in items[0]:
            batch["teacher_inputs"] = {name: pad_inputs([it["teacher_inputs"][name] for it in items], pad)
                                       for name, pad in self.view_pad_ids.items()}
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
        order_seed: int = 0,
        eval_meta_split: bool = False,
        group_by_length: bool = False,
        teacher_tokenizers: dict | None = None,
        label_noise: float = 0.0,
        label_noise_seed: int | None = None,
    ):
        super().__init__()
        self.task: TaskSpec = get_task(task)
        # no folder given: $RWKD_GLUE_DIR, else (in a checkout) ../shared/glue beside it, else the hub
        self.source = GlueSource(self.task, dir if dir is not None else default_glue_dir())
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
        self.order_seed = order_seed  # the run seed: the order of training and meta batches
        self.eval_meta_split = eval_meta_split  # validation also scores the meta split, after dev
        self.group_by_length = group_by_length  # batches of similar length: less padding, same seeded resumable order
        # a share of the training labels made wrong (rwkd/data/label_noise.py); the seed: the run's by default
        self.label_noise_p = float(label_noise)
        self.label_noise_seed = order_seed if label_noise_seed is None else int(label_noise_seed)
        self.label_noise: LabelNoise | None = None  # which rows were changed, once set up
        self._train_sampler: EpochBatchSampler | None = None
        self._meta_sampler: EpochBatchSampler | None = None
        self._meta_iter = None
        self._meta_done = 0  # batches of the current meta pass handed out
        self._resume: dict | None = None
        # live teachers that read other tokens than the student: name -> tokenizer (rwkd/teacher/sources.py)
        self.teacher_tokenizers = dict(teacher_tokenizers or {})
        self.collate = PadCollator(tokenizer.pad_token_id, self.task.is_regression,
                                   {name: tok.pad_token_id for name, tok in self.teacher_tokenizers.items()})
        self.train_set: TokenizedSplit | None = None
        self.meta_set: TokenizedSplit | None = None
        self.dev_sets: dict[str, TokenizedSplit] = {}

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            train, meta = carve_meta_split(
                self.source.read("train"), self.meta_size, self.max_train_samples, self.split_seed
            )
            if self.label_noise_p > 0:  # the training part only: the meta split and dev stay clean
                train, self.label_noise = corrupt_labels(train, self.task, self.label_noise_p, self.label_noise_seed)
            self.train_set = self._tokenized(train)
            # data.meta_size=0: no meta split (every train row is trained on); schemes that need one refuse
            self.meta_set = self._tokenized(meta) if meta else None
        if not self.dev_sets:
            for split in self.task.dev_splits:
                examples = self.source.read(split)
                if self.max_eval_samples is not None:
                    examples = examples[: self.max_eval_samples]
                # dev is scored by the student alone: no teacher views
                self.dev_sets[split] = TokenizedSplit(examples, self.tokenizer, self.max_len)

    def _tokenized(self, examples: list[Example]) -> TokenizedSplit:
        return TokenizedSplit(examples, self.tokenizer, self.max_len, self.teacher_tokenizers)

    def retokenized(self, split: TokenizedSplit, tokenizer) -> TokenizedSplit:
        """The same rows read by another model's tokenizer (a teacher's, for its cached outputs)."""
        return TokenizedSplit(split.examples, tokenizer, self.max_len)

    def _batch_loader(self, ds: Dataset, batch_size: int, stream: int, epoch_fn=None) -> tuple[DataLoader, EpochBatchSampler]:
        """A loader over this process's shard of `ds`, in an order fixed by (run seed, stream, pass).

        The DataModule shards its own loaders (the ddp trainer preset sets use_distributed_sampler=false):
        Lightning's automatic sampler always shuffles training data, and pads dev sets with repeated rows.
        """
        rank, world = (dist.get_rank(), dist.get_world_size()) if distributed.active() else (0, 1)
        sampler = self.sampler_for(ds, batch_size, stream, rank, world, epoch_fn)
        # a loader's own generator: creating its iterator must not draw from the global RNG (dropout's)
        loader = DataLoader(ds, batch_sampler=sampler, collate_fn=self.collate, num_workers=self.num_workers,
                            generator=torch.Generator().manual_seed(self.order_seed))
        return loader, sampler

    def sampler_for(self, ds: Dataset, batch_size: int, stream: int, rank: int, world: int,
                    epoch_fn=None) -> EpochBatchSampler:
        """The batch sampler of process `rank` of `world` over `ds`: the one its loader draws from (also what a
        run's identity plans its batch order with, rwkd/run/run_identity.py)."""
        lengths = [len(ids) for ids in ds.input_ids] if self.group_by_length else None
        return EpochBatchSampler(len(ds), batch_size, self.shuffle, self.order_seed, stream, rank, world, epoch_fn,
                                 lengths=lengths)

    def train_dataloader(self) -> DataLoader:
        loader, self._train_sampler = self._batch_loader(self.train_set, self.batch_size, stream=0,
                                                         epoch_fn=self._current_epoch)
        if self._resume is not None:
            self._train_sampler.start_at(**self._resume["train"])
        return loader

    def _current_epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else (self._train_sampler.next_pass
                                                                             if self._train_sampler else 0)

    def next_meta_batch(self) -> dict[str, torch.Tensor]:
        """The next batch of the meta split: held out from training, never dev; for meta-learned schemes.

        Cycles through the split, in a new order on every pass; under data parallelism each process
        draws from its own shard.
        """
        if self.meta_set is None:
            raise RwkdError("the meta split is empty; set data.meta_size > 0 for a meta-learned weighting")
        if self._meta_sampler is None:
            self._meta_loader, self._meta_sampler = self._batch_loader(self.meta_set, self.meta_batch_size, stream=1)
            if self._resume is not None and "meta" in self._resume:
                self._meta_sampler.start_at(**self._resume["meta"])
                self._meta_done = self._meta_sampler.skipped(self._meta_sampler.next_pass)
        while True:
            if self._meta_iter is None:
                self._meta_pass = self._meta_sampler.next_pass
                self._meta_iter = iter(self._meta_loader)
            try:
                batch = next(self._meta_iter)
                self._meta_done += 1
                return batch
            except StopIteration:
                self._meta_iter, self._meta_done = None, 0

    def meta_batches_per_pass(self) -> int:
        world = dist.get_world_size() if distributed.active() else 1
        return math.ceil(math.ceil(len(self.meta_set) / world) / self.meta_batch_size)

    # ---- where the data stands, for resuming ---------------------------------------------------
    def state_dict(self) -> dict:
        """The training position: epoch and batches done in it (from the loop), and the meta position."""
        state = {}
        trainer = self.trainer
        if trainer is not None and self._train_sampler is not None:
            done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
            state["train"] = {"pass_": trainer.current_epoch, "batches_done": done}
        if self._meta_sampler is not None:
            current = self._meta_pass if self._meta_iter is not None else self._meta_sampler.next_pass
            state["meta"] = {"pass_": current, "batches_done": self._meta_done}
        return state

    def load_state_dict(self, state: dict) -> None:
        self._resume = state or None

    def val_dataloader(self) -> list[DataLoader]:
        """Dev loaders; under data parallelism disjoint shards without repeated rows, so metrics count every
        row once."""
        loaders = []
        scored = [self.dev_sets[s] for s in self.task.dev_splits]
        if self.eval_meta_split and self.meta_set is not None:
            scored.append(self.meta_set)
        for ds in scored:
            sampler = list(range(dist.get_rank(), len(ds), dist.get_world_size())) if distributed.active() else None
            loaders.append(DataLoader(ds, batch_size=self.eval_batch_size, sampler=sampler, collate_fn=self.collate,
                                      num_workers=self.num_workers))
        return loaders

    def describe(self) -> dict:
        return {
            "source": self.source.describe(),
            "train_samples": len(self.train_set) if self.train_set is not None else None,
            "meta_samples": len(self.meta_set) if self.meta_set is not None else None,
            "dev_samples": {s: len(d) for s, d in self.dev_sets.items()},
            "train_fingerprint": self.source.fingerprint("train"),
            # clean runs' records keep their old shape
            **({"label_noise": self.label_noise.record()} if self.label_noise is not None else {}),
        }
