"""`rwkd report --select-on`: which epoch of each record the tables read (rwkd/records/epochs.py)."""

from __future__ import annotations

import json

import pytest

from rwkd.errors import RwkdError
from rwkd.records.epochs import at_chosen_epoch, chosen_entry
from rwkd.report.paired_tables import paired_table
from rwkd.report.summary import summarise
from rwkd.report.tables import markdown

# meta peaks at epoch 1 (tied with epoch 3: the earliest counts), dev at epoch 2; the record kept epoch 2 (dev)
HISTORY = [(0.50, 0.40), (0.60, 0.70), (0.70, 0.65), (0.55, 0.70)]  # (dev, meta) per epoch


def _record(scheme="none", seed=1, history=HISTORY, kept=2, task="mrpc"):
    rows = [{"epoch": e, "step": 10 * (e + 1), "val/headline": dev, "meta/headline": meta}
            for e, (dev, meta) in enumerate(history)]
    return {"task": task, "weighting": scheme, "seed": seed, "history": rows,
            "best": {"epoch": kept, "step": 0, "metrics": dict(rows[kept])}, "last": {"metrics": dict(rows[-1])}}


@pytest.mark.parametrize("mode, epoch", [("meta", 1), ("dev", 2), ("last", 3), ("record", 2)])
def test_each_mode_picks_its_epoch(mode, epoch):
    assert chosen_entry(_record(), mode)["epoch"] == epoch


def test_a_nan_epoch_is_never_chosen_unless_every_one_is():
    nan = float("nan")
    assert chosen_entry(_record(history=[(0.5, nan), (0.6, 0.3), (0.7, 0.2)], kept=1), "meta")["epoch"] == 1
    assert chosen_entry(_record(history=[(0.5, 0.3), (0.6, nan)], kept=0), "meta")["epoch"] == 0
    assert chosen_entry(_record(history=[(0.5, nan), (0.6, nan)], kept=0), "meta")["epoch"] == 0


def test_the_records_stay_as_they_were():
    record = _record()
    kept = json.dumps(record)
    [viewed] = at_chosen_epoch([record], "meta")
    assert viewed["best"]["metrics"]["val/headline"] == 0.60 and json.dumps(record) == kept


def test_meta_and_dev_choices_can_turn_a_paired_difference_around():
    # the scheme's meta split prefers epoch 1, where it is behind `none` on dev; at its best dev epoch it leads
    scheme = [(0.50, 0.40), (0.62, 0.80), (0.75, 0.60)]
    none = [(0.50, 0.40), (0.66, 0.70), (0.68, 0.60)]
    results = [_record("meta", s, scheme, kept=2) for s in (1, 2)] + [_record("none", s, none, kept=2) for s in (1, 2)]
    on_dev = paired_table(at_chosen_epoch(results, "dev"), "none")
    on_meta = paired_table(at_chosen_epoch(results, "meta"), "none")
    assert "| meta | +7.00 [+7.00, +7.00], 2/2 above |" in on_dev
    assert "| meta | -4.00 [-4.00, -4.00], 0/2 above |" in on_meta
    assert paired_table(at_chosen_epoch(results, "record"), "none") == on_dev  # these records kept the dev epoch


def test_every_table_names_what_chose_its_epoch():
    results = [_record()]
    assert "### Dev headline x 100, epoch chosen on the meta split (held-out train rows); dev only scores: mean ± std" \
        in markdown(summarise(at_chosen_epoch(results, "meta")), [])
    assert "| none | 60.00 (n=1) |" in markdown(summarise(at_chosen_epoch(results, "meta")), [])
    assert "dev both chooses and scores" in markdown(summarise(at_chosen_epoch(results, "dev")), [])
    assert "records without best.selected_on chose it on dev" in markdown(summarise(results), [])


def test_a_record_without_meta_scores_is_one_line_naming_it_and_the_way_out(tmp_path):
    from rwkd.report.command import main

    record = _record()
    for row in record["history"]:
        del row["meta/headline"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps(record))
    with pytest.raises(RwkdError) as error:
        main([str(tmp_path), "--no-plots"])
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "run") in message and "--select-on record" in message
    assert main([str(tmp_path), "--no-plots", "--select-on", "record"]) == 0
    with pytest.raises(SystemExit):  # argparse names the accepted choices
        main([str(tmp_path), "--select-on", "best"])
