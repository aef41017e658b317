"""A study's finished records into its committed folder (rwkd/study/collect.py, `make study-results`): finished jobs
with what their record is read with, undefined ones, never a running job's half-written files."""

from __future__ import annotations

import pytest

from rwkd.errors import RwkdError
from rwkd.study.collect import collect, main


def _job(sweep, path: str, *files: str) -> None:
    job = sweep / path
    job.mkdir(parents=True)
    for name in files:
        (job / name).write_text(f'{{"file": "{name}"}}')


def test_finished_and_undefined_jobs_are_copied_and_a_running_job_waits(tmp_path):
    sweep, records = tmp_path / "out", tmp_path / "results"
    _job(sweep, "terms2/mrpc/meta/seed1", "results.json", "weight_summary.json", "weight_summary_terms.json",
         "last.ckpt", "sample_weights.parquet")
    _job(sweep, "terms2/mrpc/none/seed1", "results.json", "label_noise.json")
    _job(sweep, "terms2/stsb/heuristic_entropy/seed1", "not_applicable.json")
    _job(sweep, "terms2/mrpc/metanet/seed1", "weight_summary.json", "last.ckpt")  # still training
    copied = collect(sweep, records)
    assert sorted(map(str, copied)) == [
        "terms2/mrpc/meta/seed1/results.json", "terms2/mrpc/meta/seed1/weight_summary.json",
        "terms2/mrpc/meta/seed1/weight_summary_terms.json", "terms2/mrpc/none/seed1/label_noise.json",
        "terms2/mrpc/none/seed1/results.json", "terms2/stsb/heuristic_entropy/seed1/not_applicable.json"]
    assert all((records / p).read_text() == (sweep / p).read_text() for p in copied)
    assert not (records / "terms2/mrpc/metanet").exists() and not (records / "terms2/mrpc/meta/seed1/last.ckpt").exists()
    # a later collection brings the job that has finished since, and rewrites what changed
    (sweep / "terms2/mrpc/metanet/seed1/results.json").write_text("{}")
    (sweep / "terms2/mrpc/meta/seed1/weight_summary.json").write_text('{"again": 1}')
    assert main([str(sweep), str(records)]) == 0
    assert (records / "terms2/mrpc/metanet/seed1/results.json").is_file()
    assert (records / "terms2/mrpc/meta/seed1/weight_summary.json").read_text() == '{"again": 1}'


def test_a_copy_that_fails_stops_the_collection_with_the_file_named(tmp_path):
    sweep, records = tmp_path / "out", tmp_path / "results"
    _job(sweep, "terms2/rte/none/seed2", "results.json")
    (records / "terms2/rte/none/seed2/results.json").mkdir(parents=True)  # a folder where the file goes
    with pytest.raises(RwkdError, match=r"none/seed2/results.json could not be copied to .*results.json: Is a directory"):
        collect(sweep, records)
    with pytest.raises(RwkdError, match="is not a folder; accepted: a study's sweep folder"):
        collect(tmp_path / "missing", records)
