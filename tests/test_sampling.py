"""The batch order: fixed by (seed, pass), resumable part-way, sharded like DistributedSampler."""

from __future__ import annotations

from rwkd.data.sampling import EpochBatchSampler


def _passes(sampler: EpochBatchSampler, n: int) -> list[list[list[int]]]:
    return [list(iter(sampler)) for _ in range(n)]


def test_order_depends_on_seed_and_pass_only():
    a = _passes(EpochBatchSampler(50, 8, shuffle=True, seed=1), 3)
    b = _passes(EpochBatchSampler(50, 8, shuffle=True, seed=1), 3)
    c = _passes(EpochBatchSampler(50, 8, shuffle=True, seed=2), 3)
    assert a == b and a != c
    assert a[0] != a[1]  # a new order every pass
    assert all(sorted(i for batch in p for i in batch) == list(range(50)) for p in a)
    meta = _passes(EpochBatchSampler(50, 8, shuffle=True, seed=1, stream=1), 1)
    assert meta[0] != a[0]  # the meta split's stream is not the training stream


def test_resumed_pass_continues_where_the_checkpoint_left_off():
    full = _passes(EpochBatchSampler(50, 8, shuffle=True, seed=3), 3)
    resumed = EpochBatchSampler(50, 8, shuffle=True, seed=3)
    resumed.start_at(1, 4)  # epoch 1, four batches already trained on
    assert len(resumed) == 7  # Lightning counts the whole epoch
    assert list(iter(resumed)) == full[1][4:]
    assert list(iter(resumed)) == full[2]
    finished = EpochBatchSampler(50, 8, shuffle=True, seed=3)
    finished.start_at(0, 7)  # a checkpoint after the epoch's last batch: the next epoch starts whole
    assert list(iter(finished)) == full[1]


def test_epoch_comes_from_the_trainer_after_a_resumed_pass():
    epoch = {"now": 5}
    sampler = EpochBatchSampler(20, 4, shuffle=True, seed=0, epoch_fn=lambda: epoch["now"])
    sampler.start_at(2, 1)  # the first iterator is the resumed pass, whatever the trainer says yet
    assert list(iter(sampler)) == _pass(2)[1:]
    assert list(iter(sampler)) == _pass(5)


def _pass(p: int) -> list[list[int]]:
    sampler = EpochBatchSampler(20, 4, shuffle=True, seed=0)
    sampler.start_at(p, 0)
    return list(iter(sampler))


def test_shards_of_two_processes_cover_one_process_batches():
    one = list(iter(EpochBatchSampler(40, 8, shuffle=True, seed=1)))
    per_rank = [list(iter(EpochBatchSampler(40, 4, shuffle=True, seed=1, rank=r, world_size=2))) for r in range(2)]
    for step, batch in enumerate(one):
        assert sorted(batch) == sorted(per_rank[0][step] + per_rank[1][step])
    odd = [EpochBatchSampler(41, 4, shuffle=False, seed=0, rank=r, world_size=2) for r in range(2)]
    assert len(odd[0]) == len(odd[1])  # padded by wrapping: both processes take the same number of steps
