"""Weight summaries: golden values on a hand-made log, pooling equals summarising the rows together, and
the file the training log writes holds the sums of the rows it was given."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rwkd.records.weight_summary import SUMMARY, mean_std, pool, summarise_log, varies_per_sample
from rwkd.report.weight_summary import load_run
from rwkd.training.weight_log import SampleWeightLog

NAN = float("nan")


def _log(epoch, step, weight, correct, confidence) -> dict:
    n = len(weight)
    return {"epoch": epoch, "step": step, "idx": list(range(n)), "weight": weight, "label_loss": [1.0] * n,
            "kd_loss": [1.0] * n, "teacher_correct": correct, "teacher_confidence": confidence}


LOG = _log(epoch=[0, 0, 0, 1, 1], step=[0, 0, 1, 2, 2], weight=[0.11, 0.31, 0.51, 0.99, 1.0],
           correct=[1.0, 0.0, 1.0, 1.0, 0.0], confidence=[0.05, 0.95, 1.0, 0.55, NAN])


def test_golden_values_of_one_log():
    s = summarise_log(LOG)
    assert s["rows"] == 5
    assert s["max_spread_within_step"] == pytest.approx(0.2) and varies_per_sample(s)
    hist = s["weight_histogram"]
    assert len(hist) == 40 and sum(hist) == 5
    assert hist[4] == 1 and hist[12] == 1 and hist[20] == 1 and hist[39] == 2  # 1.0 falls in the last bin
    assert s["per_epoch"]["epoch"] == [0, 1] and s["per_epoch"]["rows"] == [3, 2]
    mean, std = mean_std(s["per_epoch"])
    assert mean == pytest.approx([0.31, 0.995])
    assert std == pytest.approx([torch.tensor([0.11, 0.31, 0.51], dtype=torch.float64).std(unbiased=False).item(), 0.005])
    conf = s["by_teacher_confidence"]
    assert conf["rows"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]  # NaN confidence is left out; 1.0 joins the top bin
    assert mean_std(conf)[0][9] == pytest.approx(0.41) and mean_std(conf)[0][1] != mean_std(conf)[0][1]  # NaN
    assert s["by_teacher_correct"]["right"]["rows"] == [3]
    assert mean_std(s["by_teacher_correct"]["wrong"])[0] == pytest.approx([0.655])


def test_one_weight_per_step_does_not_count_as_varying():
    fixed = _log(epoch=[0, 0, 1, 1], step=[0, 0, 1, 1], weight=[0.5, 0.5, 0.25, 0.25], correct=[1.0] * 4,
                 confidence=[0.9] * 4)
    assert not varies_per_sample(summarise_log(fixed))


def test_pooling_two_runs_equals_summarising_their_rows_together():
    other = _log(epoch=[1, 2, 2], step=[5, 9, 9], weight=[0.2, 0.7, 0.0], correct=[0.0, 1.0, 1.0],
                 confidence=[0.3, 0.31, 0.99])
    together = {k: LOG[k] + other[k] for k in LOG}
    pooled, direct = pool([summarise_log(LOG), summarise_log(other)]), summarise_log(together)
    assert pooled.keys() == direct.keys()
    assert pooled["rows"] == direct["rows"] and pooled["weight_histogram"] == direct["weight_histogram"]
    for group in (pooled["per_epoch"], pooled["by_teacher_confidence"], *pooled["by_teacher_correct"].values()):
        assert group["rows"] == pytest.approx([int(r) for r in group["rows"]])  # counts stay whole numbers
    for key in ("per_epoch", "by_teacher_confidence"):
        for field in ("rows", "weight_sum", "weight_sq_sum"):
            assert pooled[key][field] == pytest.approx(direct[key][field]), (key, field)
    assert pooled["per_epoch"]["epoch"] == [0, 1, 2] and pooled["per_epoch"]["rows"] == [3, 3, 2]
    assert mean_std(pooled["by_teacher_correct"]["wrong"])[0] == pytest.approx([(0.31 + 1.0 + 0.2) / 3])


def test_the_training_log_writes_a_summary_of_the_rows_it_was_given(tmp_path):
    log = SampleWeightLog(tmp_path / "sample_weights.parquet")
    gen = torch.Generator().manual_seed(0)
    given = []
    for step in range(4):
        weight, correct = torch.rand(8, generator=gen), (torch.rand(8, generator=gen) > 0.3).float()
        log.add(epoch=step // 2, step=step, idx=torch.arange(8) + 8 * step, weight=weight,
                label_loss=torch.rand(8, generator=gen), kd_loss=torch.rand(8, generator=gen),
                teacher_correct=correct, teacher_confidence=torch.rand(8, generator=gen))
        given.append((step // 2, weight.double(), correct.bool()))
    log.write()
    written = json.loads((tmp_path / SUMMARY).read_text())
    # the expectations are sums over the tensors handed to the log, not the summary function run again
    assert written["rows"] == 32 and sum(written["weight_histogram"]) == 32
    assert written["per_epoch"]["epoch"] == [0, 1] and written["per_epoch"]["rows"] == [16, 16]
    for epoch in (0, 1):
        weights = torch.cat([w for e, w, _ in given if e == epoch])
        assert written["per_epoch"]["weight_sum"][epoch] == pytest.approx(weights.sum().item(), rel=1e-6)
        assert written["per_epoch"]["weight_sq_sum"][epoch] == pytest.approx((weights ** 2).sum().item(), rel=1e-6)
    wrong = torch.cat([w[~c] for _, w, c in given])
    assert written["by_teacher_correct"]["wrong"]["rows"] == [wrong.numel()]
    assert written["by_teacher_correct"]["wrong"]["weight_sum"][0] == pytest.approx(wrong.sum().item(), rel=1e-6)
    assert load_run(tmp_path) == pool([written])
    log.write(rank=0, world_size=2)  # DDP shards get their own summaries, and a run pools its shards
    log.write(rank=1, world_size=2)
    assert (tmp_path / "weight_summary.rank1.json").is_file()
    assert load_run(tmp_path)["rows"] == 64  # the shards only: the single-process file beside them is not added


def test_a_run_without_summaries_is_summarised_from_its_log(tmp_path):
    log = SampleWeightLog(tmp_path / "sample_weights.parquet")
    log.add(epoch=0, step=0, idx=torch.arange(3), weight=torch.tensor([0.2, 0.4, 0.6]), label_loss=torch.ones(3))
    log.write()
    (tmp_path / SUMMARY).unlink()  # as in runs from before summaries were written
    summary = load_run(tmp_path)
    assert summary["rows"] == 3 and summary["by_teacher_confidence"]["rows"] == [0] * 10  # no teacher: NaN
    assert load_run(tmp_path / "nothing") is None


def test_a_log_resumed_from_before_a_column_existed_pads_it_and_counts_only_the_rows_that_have_it(tmp_path):
    # the checkpoint of a run started by an rwkd that did not log `floored_terms` yet; the resumed steps log it
    import pyarrow.parquet as pq

    before = SampleWeightLog(tmp_path / "sample_weights.parquet")
    before.add(epoch=0, step=0, idx=torch.arange(4), weight=torch.full((4,), 0.5), label_loss=torch.ones(4),
               extra={"old_only": torch.ones(4)})
    log = SampleWeightLog(tmp_path / "sample_weights.parquet")
    log.load_state_dict(before.state_dict())
    log.add(epoch=1, step=1, idx=torch.arange(3), weight=torch.full((3,), 0.5), label_loss=torch.ones(3),
            extra={"floored_terms": torch.tensor([0.0, 2.0, 2.0])})
    log.write()
    table = pq.read_table(tmp_path / "sample_weights.parquet").to_pydict()
    assert table["floored_terms"][4:] == [0.0, 2.0, 2.0] and all(math.isnan(v) for v in table["floored_terms"][:4])
    assert table["old_only"][:4] == [1.0] * 4 and all(math.isnan(v) for v in table["old_only"][4:])
    summary = json.loads((tmp_path / SUMMARY).read_text())
    assert summary["rows"] == 7 and summary["floored_terms"] == [1, 0, 2]


def test_a_checkpointed_log_whose_column_began_part_way_is_padded_where_it_is_restored(tmp_path):
    # what a run resumed across versions checkpoints: 4 rows without `floored_terms`, then 2 with it
    import pyarrow.parquet as pq

    state = {"epoch": torch.zeros(6, dtype=torch.int32), "step": torch.arange(6), "idx": torch.arange(6),
             "weight": torch.full((6,), 0.5), "label_loss": torch.ones(6), "kd_loss": torch.ones(6),
             "teacher_correct": torch.ones(6), "teacher_confidence": torch.ones(6),
             "floored_terms": torch.tensor([1.0, 0.0])}
    log = SampleWeightLog(tmp_path / "sample_weights.parquet")
    log.load_state_dict(state)
    log.write()
    table = pq.read_table(tmp_path / "sample_weights.parquet").to_pydict()
    assert table["floored_terms"][4:] == [1.0, 0.0] and all(math.isnan(v) for v in table["floored_terms"][:4])
