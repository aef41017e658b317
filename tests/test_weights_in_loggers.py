"""The per-sample weights where researchers look: a histogram per validation in each of the run's loggers (each kind
its way: rwkd/training/logger_media.py), the report's weight figures as images at the end, and those figures as
small multiples by family (rwkd/weight_figures.py) that fit one screen."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, run_rwkd

from rwkd.records.weight_summary import summarise_log
from rwkd.training.logger_media import QUANTILES, log_histogram, log_image, summary_row, takes_images
from rwkd.weight_figures import DPI, PANELS_PER_ROW, VIEWS, family_of, term_weights_figure, weights_figure

SMALL = [a for a in TINY if not a.startswith("logger=")]
MAX_WIDTH = 1600  # pixels: one screen


def _ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-3000:]}"
    return proc


def _tensorboard_values(folder: Path) -> list[tuple[int, str, str, object]]:
    """(step, tag, kind, value) of every summary value in the folder's event files: TFRecords of Event protos."""
    from tensorboardX.proto import event_pb2

    found = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])  # after length and its CRC
            at += 12 + length + 4  # and the data's CRC
            found += [(event.step, v.tag, v.WhichOneof("value"), getattr(v, v.WhichOneof("value"))) for v in event.summary.value]
    return found


def _wandb_summary_updates(run_file: Path) -> dict[str, str]:
    """{key: JSON value} of every summary update in an offline run's .wandb file: LevelDB-log records (7-byte file
    header, 32 KiB blocks, each record chunk behind a 7-byte header) of wandb's Record protos."""
    from wandb.proto import wandb_internal_pb2

    data, at, chunk, updates = run_file.read_bytes(), 7, b"", {}
    while at + 7 <= len(data):
        if 32768 - at % 32768 < 7:  # a block's tail too short for a header is padding
            at += 32768 - at % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[at:at + 7])
        chunk += data[at + 7:at + 7 + length]
        at += 7 + length
        if kind in (1, 4):  # a whole record, or the last chunk of one
            record = wandb_internal_pb2.Record.FromString(chunk)
            chunk = b""
            if record.WhichOneof("record_type") == "summary":
                updates |= {item.key or "/".join(item.nested_key): item.value_json for item in record.summary.update}
    return updates


@pytest.mark.slow
def test_tensorboard_gets_a_histogram_per_term_at_each_validation_and_the_figures_at_the_end(tmp_path):
    _ok(run_rwkd(["train", "task=rte", *SMALL, "logger=tensorboard", "weighting=heuristic", "terms=hidden",
                  "hydra.run.dir=runs/tb"], cwd=tmp_path))
    values = _tensorboard_values(tmp_path / "runs" / "tb" / "tensorboard")
    histograms = {}
    for step, tag, kind, value in values:
        if kind == "histo":
            histograms.setdefault(tag, []).append((step, value))
    assert sorted(histograms) == ["weights/hidden0", "weights/kd", "weights/label", "weights/w"]
    train_rows = json.loads((tmp_path / "runs" / "tb" / "results.json").read_text())["data"]["train_samples"]
    for tag, per_validation in histograms.items():
        assert len(per_validation) == 2, tag  # trainer.max_epochs=2: one validation each
        assert per_validation[0][0] < per_validation[1][0]
        assert all(h.num == train_rows and 0.0 <= h.min <= h.max <= 1.0 for _, h in per_validation), tag
    images = {tag: value for _, tag, kind, value in values if kind == "image"}
    assert sorted(images) == ["weights/plot", "weights/terms_plot"]
    assert all(100 < image.width <= MAX_WIDTH and image.encoded_image_string[:4] == b"\x89PNG" for image in images.values())


@pytest.mark.slow
def test_offline_wandb_gets_a_wandb_histogram_and_the_figure(tmp_path):
    _ok(run_rwkd(["train", "task=rte", *SMALL, "logger=wandb", "weighting=heuristic", "hydra.run.dir=runs/wb"],
                 cwd=tmp_path, env={"WANDB_MODE": "offline"}))
    (run,) = (tmp_path / "runs" / "wb" / "wandb").glob("offline-run-*")
    updates = _wandb_summary_updates(next(run.glob("run-*.wandb")))
    assert json.loads(updates["weights/w/_type"]) == "histogram"
    assert sum(json.loads(updates["weights/w/values"])) > 0
    assert not any(k.startswith("weights/label") for k in updates)  # two terms: the one weight w
    assert json.loads(updates["weights/plot/_type"]).startswith("images")
    assert 100 < json.loads(updates["weights/plot/width"]) <= MAX_WIDTH
    assert list((run / "files" / "media" / "images" / "weights").glob("plot_*.png"))


def test_a_scalar_logger_gets_a_histogram_as_a_summary_row_and_no_image(tmp_path):
    from pytorch_lightning.loggers import CSVLogger

    logger = CSVLogger(tmp_path, name="csv", version="")
    values = np.linspace(0.0, 1.0, 101)
    log_histogram(logger, "weights/w", values, step=7)
    log_image(logger, "weights/plot", np.zeros((4, 4, 3), np.uint8), step=7)  # passed over
    assert not takes_images(logger)
    (row,) = list(csv.DictReader((tmp_path / "csv" / "metrics.csv").open()))
    assert int(row["step"]) == 7
    expected = {"mean": 0.5, "min": 0.0, "max": 1.0, "std": values.std(), **{f"p{q}": q / 100 for q in QUANTILES}}
    assert {k: float(v) for k, v in row.items() if k.startswith("weights/")} == pytest.approx(
        {f"weights/w/{k}": v for k, v in expected.items()})
    assert summary_row("t", values).keys() == {f"t/{k}" for k in expected}


def _summary(rng, terms: tuple[str, ...] = ()) -> dict:
    n, epochs = 120, 3
    columns = {"epoch": np.repeat(np.arange(epochs), n // epochs), "step": np.arange(n) // 8, "weight": rng.random(n),
               "teacher_confidence": rng.random(n), "teacher_correct": (rng.random(n) > 0.3).astype(float)}
    shares = rng.dirichlet(np.ones(len(terms)), size=n) if terms else None
    columns |= {f"weight_{t}": shares[:, i] for i, t in enumerate(terms)}
    return summarise_log(columns)


SCHEMES = ["heuristic(loss_ratio)", "heuristic(teacher_correct)", "annealed(linear, 0.9->0.1)", "fixed(alpha=0.5)",
           "meta(rwkd, meta_loss=label, impl=fast)", "metanet(label_loss+kd_loss, meta_loss=label, impl=fast, lr=0.0001)",
           "metanet(term_losses, meta_loss=label, impl=fast) [label+kd+kd1+hidden0]"]


def test_schemes_fall_into_the_four_families():
    assert [family_of(s) for s in SCHEMES] == ["heuristic", "heuristic", "annealed", "fixed", "meta-learned",
                                               "meta-learned", "meta-learned"]


def _pixels(fig) -> tuple[float, float]:
    return fig.get_figwidth() * DPI, fig.get_figheight() * DPI


def test_the_weights_figure_has_a_row_per_family_its_legend_beside_the_data_and_fits_a_screen(tmp_path):
    rng = np.random.default_rng(0)
    fig = weights_figure("mrpc", {s: (_summary(rng), 5) for s in SCHEMES})
    width, height = _pixels(fig)
    assert width <= MAX_WIDTH and height <= 1300
    fig.savefig(tmp_path / "w.png")  # lays the figure out
    data = [ax for ax in fig.axes if ax.get_label() in VIEWS]
    assert len(data) == 3 * 4  # four families, three views each
    columns = {round(ax.get_position().x0, 3) for ax in data}
    assert len(columns) == 3
    rows = {round(ax.get_position().y0, 3): ax.get_title().split(":")[0] for ax in data}
    assert list(rows.values()) == ["fixed", "annealed", "heuristic", "meta-learned"]  # top to bottom
    legends = [ax for ax in fig.axes if ax.get_label() == "legend"]
    assert len(legends) == 4 and all(ax.get_legend() is not None for ax in legends)
    right_of_data = max(ax.get_position().x1 for ax in data)
    assert all(ax.get_position().x0 >= right_of_data for ax in legends)  # no legend over the data
    assert all(ax.get_legend() is None for ax in data)
    meta = [ax for ax in data if ax.get_title().startswith("meta-learned") and ax.get_label() == "mean per epoch"][0]
    assert len({line.get_color() for line in meta.lines}) == 3  # a colour of its own for each scheme of the family


def test_the_terms_figure_has_at_most_three_panels_a_row_and_fits_a_screen(tmp_path):
    rng = np.random.default_rng(1)
    terms = ("label", "kd", "kd1", "hidden0")
    suffix = " [label+kd+kd1+hidden0]"
    schemes = {f"fixed(alpha={a}){suffix}": (_summary(rng, terms), 1) for a in (0.25, 0.5, 0.75)}
    schemes |= {f"heuristic(confidence_aware, alpha=0.5){suffix}": (_summary(rng, terms), 5)}
    schemes |= {f"{s}{suffix}": (_summary(rng, terms), 5) for s in
                ["meta(rwkd, meta_loss=label, impl=fast)", "meta(rwkd, meta_loss=mix, impl=fast)",
                 "metanet(term_losses, meta_loss=label, impl=fast)", "metanet(term_losses, meta_loss=mix, impl=fast)"]}
    fig = term_weights_figure("mrpc", schemes)
    width, height = _pixels(fig)
    assert width <= MAX_WIDTH and height <= 1400
    fig.savefig(tmp_path / "t.png")
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == len(schemes)
    assert len({round(ax.get_position().x0, 3) for ax in panels}) == PANELS_PER_ROW
    assert len({round(ax.get_position().y0, 3) for ax in panels}) == 4  # fixed, heuristic, meta-learned on two rows
    assert all(suffix not in ax.get_title() and ax.get_legend() is None for ax in panels)  # the suffix: in the title
    assert suffix.strip() in fig.get_suptitle()
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(terms)
