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


def _padded_tokens(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def _lengths(n: int, seed: int = 0) -> list[int]:
    import random

    rng = random.Random(seed)
    return [rng.randint(5, 128) for _ in range(n)]


def test_length_grouped_order_is_a_seeded_permutation_with_less_padding():
    lengths = _lengths(1000)
    plain = _passes(EpochBatchSampler(1000, 16, shuffle=True, seed=1), 2)
    grouped = _passes(EpochBatchSampler(1000, 16, shuffle=True, seed=1, lengths=lengths), 2)
    again = _passes(EpochBatchSampler(1000, 16, shuffle=True, seed=1, lengths=lengths), 2)
    assert grouped == again and grouped[0] != grouped[1]
    for p in grouped:
        assert sorted(i for b in p for i in b) == list(range(1000))
        assert [len(b) for b in p] == [16] * 62 + [8]  # same batch sizes; the one short batch last
    # uniform lengths in 5..128: plain batches pad almost everything to ~128, grouped ones to their own band
    assert _padded_tokens(grouped[0], lengths) < 0.75 * _padded_tokens(plain[0], lengths)
    # still a random draw: the longest batch is not always first, and other seeds give other batches
    firsts = {max(lengths[i] for i in _passes(EpochBatchSampler(1000, 16, True, seed=s, lengths=lengths), 1)[0][0])
              for s in range(5)}
    assert len(firsts) > 1
    other = _passes(EpochBatchSampler(1000, 16, shuffle=True, seed=2, lengths=lengths), 1)[0]
    assert {frozenset(b) for b in other} != {frozenset(b) for b in grouped[0]}


def test_length_grouped_order_resumes_part_way():
    lengths = _lengths(300, seed=3)
    full = _passes(EpochBatchSampler(300, 8, shuffle=True, seed=4, lengths=lengths), 2)
    resumed = EpochBatchSampler(300, 8, shuffle=True, seed=4, lengths=lengths)
    resumed.start_at(1, 10)
    assert list(iter(resumed)) == full[1][10:]


def test_length_grouping_needs_one_length_per_sample():
    import pytest

    with pytest.raises(ValueError, match="3 lengths given for 4 samples"):
        EpochBatchSampler(4, 2, shuffle=True, seed=0, lengths=[1, 2, 3])
