"""Batch orders that depend only on (seed, epoch, rank) and can start part-way through an epoch.

A resumed run must see the same batches, in the same order, as a run that was never stopped. So a
pass's order is drawn from its own generator seeded by (seed, pass), never from the global RNG, and
`start_at` skips the batches a checkpoint says were already trained on, without loading them.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Sampler


class EpochBatchSampler(Sampler[list[int]]):
    """Index batches of one process's shard, one pass (epoch) per `iter()`.

    The pass number comes from `epoch_fn` at `iter()` time (for training: the trainer's epoch; Lightning
    builds the first iterator before it calls `set_epoch`); without one, passes are counted. The first
    `iter()` after `start_at` is the resumed pass: Lightning builds it before restoring its own epoch.

    Under data parallelism the permutation is padded (by wrapping) to a multiple of the world size and
    rank r takes every world-size-th index from r, like DistributedSampler: every process takes the
    same number of steps, and a global batch of `world_size * batch_size` covers the same samples as one
    process with the larger batch.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, stream: int = 0, rank: int = 0,
                 world_size: int = 1, epoch_fn=None, lengths: list[int] | None = None):
        if n <= 0:
            raise ValueError("cannot sample batches from an empty split")
        if lengths is not None and len(lengths) != n:
            raise ValueError(f"{len(lengths)} lengths given for {n} samples")
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.lengths = lengths  # given: batches of similar length (less padding), see group_by_length
        self.seed, self.stream = seed, stream  # stream: independent orders for the train and meta splits
        self.rank, self.world_size = rank, world_size
        self.epoch_fn = epoch_fn
        self.next_pass = 0
        self._resume_at = (-1, 0)  # (pass, batches of it already trained on), set when resuming
        self._resume_pending = False

    def start_at(self, pass_: int, batches_done: int) -> None:
        """Pass `pass_` starts after its first `batches_done` batches; counted passes go on from there."""
        if batches_done >= len(self):  # that pass was finished: go on with the next one
            pass_, batches_done = pass_ + 1, 0
        self.next_pass, self._resume_at = pass_, (pass_, batches_done)
        self._resume_pending = True

    def skipped(self, pass_: int) -> int:
        return self._resume_at[1] if pass_ == self._resume_at[0] else 0

    def shard(self, epoch: int) -> list[int]:
        if self.shuffle:
            # hashing a tuple of ints is the same in every process (only str hashes are salted)
            g = torch.Generator().manual_seed(hash((self.seed, self.stream, epoch)) & 0x7FFF_FFFF_FFFF_FFFF)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.world_size > 1:
            total = math.ceil(self.n / self.world_size) * self.world_size
            order = (order * math.ceil(total / self.n))[:total]
            order = order[self.rank::self.world_size]
        if self.lengths is not None and self.shuffle:
            order = group_by_length(order, self.lengths, self.batch_size, g)
        return order

    def __iter__(self):
        if self._resume_pending or self.epoch_fn is None:
            pass_ = self.next_pass
        else:
            pass_ = self.epoch_fn()
        self._resume_pending = False
        self.next_pass = pass_ + 1
        order = self.shard(pass_)
        return iter([order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(self.skipped(pass_), len(self))])

    def __len__(self) -> int:
        # the full pass, also when resuming: Lightning counts the skipped batches as done already
        return math.ceil(math.ceil(self.n / self.world_size) / self.batch_size)


# samples sorted together: large enough that most batches hold similar lengths, small enough that a
# batch is still a random draw from the data rather than one length band of it
MEGABATCH_BATCHES = 50


def group_by_length(order: list[int], lengths: list[int], batch_size: int, generator: torch.Generator) -> list[int]:
    """`order` rearranged so that each batch holds samples of similar length, still seeded and random.

    As Hugging Face's length-grouped sampler: the shuffled order is cut into megabatches of
    MEGABATCH_BATCHES batches, each sorted by length (longest first) and cut into batches; then the
    batches are shuffled, so that the long ones do not all come at the start of an epoch. The last
    batch (the only one that may be short) stays last, so batch boundaries stay where they were.
    """
    size = batch_size * MEGABATCH_BATCHES
    batches = []
    for start in range(0, len(order), size):
        mega = sorted(order[start:start + size], key=lambda i: -lengths[i])
        batches += [mega[b:b + batch_size] for b in range(0, len(mega), batch_size)]
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    perm = torch.randperm(len(batches), generator=generator).tolist()
    return [i for b in [batches[p] for p in perm] + tail for i in b]
