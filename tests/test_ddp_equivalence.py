"""2 processes x batch b (Lightning DDP over gloo on CPU) against 1 process x batch 2b.

Same samples per step (file order), no dropout, the meta batch split across the processes: the
per-sample weights, the trained student and the dev metrics must agree. Tolerance: 1e-5 absolute on
weights and student parameters (float32 sums taken in another order), 1e-4 on the meta-weight net's
parameters, dev metrics equal to 1e-6.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_rwkd, write_tsv

pytestmark = pytest.mark.slow

# MNLI-format rows made up here: three classes, because with one logit difference (binary tasks,
# regression) both loss terms' gradients are parallel and RW-KD weights barely depend on the meta gradient.
COMMON = ["teacher=tiny", "student=tiny", "task=mnli", "data.max_train_samples=96", "data.meta_size=8",
          "data.max_eval_samples=48", "data.max_len=48", "trainer.max_epochs=2", "data.shuffle=false",
          "+student.model.dropout=0.0", "optim.lr=5e-3", "trainer.enable_progress_bar=false"]


def _console_script() -> str:
    # Lightning's DDP launcher re-runs sys.argv[0]; the console script is what users run
    return str(Path(sys.executable).with_name("rwkd"))


def _weights(run: Path, column: str = "weight") -> dict:
    out = {}
    for f in sorted(run.glob("sample_weights*.parquet")):
        t = pq.read_table(f).to_pydict()
        out.update({(e, i): w for e, i, w in zip(t["epoch"], t["idx"], t[column], strict=True)})
    return out


def _state(run: Path, prefix: str) -> dict:
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def _mnli_folder(root: Path) -> Path:
    import random

    rng = random.Random(0)
    words = "the a cat dog man woman runs sleeps eats park red blue big small quickly never always".split()
    labels = ["entailment", "neutral", "contradiction"]
    header = ["index", "promptID", "pairID", "genre", "s1bp", "s2bp", "s1p", "s2p", "sentence1", "sentence2"]

    def rows(n, extra):
        return [[str(i), "0", "0", "g", "x", "x", "x", "x", " ".join(rng.choices(words, k=rng.randint(3, 12))),
                 " ".join(rng.choices(words, k=rng.randint(2, 8))), *([labels[i % 3]] * extra)] for i in range(n)]

    write_tsv(root / "MNLI" / "train.tsv", [*header, "label1", "gold_label"], rows(96, 2))
    dev_header = [*header, "label1", "label2", "label3", "label4", "label5", "gold_label"]
    write_tsv(root / "MNLI" / "dev_matched.tsv", dev_header, rows(48, 6))
    write_tsv(root / "MNLI" / "dev_mismatched.tsv", dev_header, rows(30, 6))
    return root


@pytest.mark.parametrize("scheme", [
    ["weighting=fixed", "weighting.alpha=0.7"],
    # four terms: a second teacher and a hidden-state term, whose projection DDP trains with the student
    ["weighting=meta", "weighting.virtual_lr=0.01", "terms=two_teachers_hidden"],
    ["weighting=metanet", "weighting.virtual_lr=0.01", "weighting.lr=0.05", "weighting.hidden=8"],
    # the scores in the real step's own forward: its backward reaches the student through dual views (DDP must
    # still reduce those gradients), and g is averaged across processes before that forward
    ["weighting=meta", "weighting.impl=shared", "weighting.virtual_lr=0.01", "terms=two_teachers_hidden"],
    ["weighting=metanet", "weighting.impl=shared", "weighting.virtual_lr=0.01", "weighting.lr=0.05", "weighting.hidden=8"],
])
def test_two_processes_match_one_process_with_twice_the_batch(tmp_path, scheme):
    glue = _mnli_folder(tmp_path / "glue")

    def run(name, extra):
        args = [*COMMON, *scheme, *extra, f"data.dir={glue}", f"hydra.run.dir={name}", "checkpoint.keep_last=true"]
        if "trainer=ddp" in extra:
            proc = run_rwkd(args, cwd=tmp_path, script=_console_script())
        else:  # one process: this one
            proc = run_rwkd(["train", *args], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return tmp_path / name

    one = run("one", ["data.batch_size=16", "data.meta_batch_size=16"])
    two = run("two", ["data.batch_size=8", "data.meta_batch_size=8", "trainer=ddp", "trainer.accelerator=cpu",
                      "trainer.devices=2"])
    assert sorted(p.name for p in two.glob("sample_weights*")) == ["sample_weights.rank0.parquet",
                                                                    "sample_weights.rank1.parquet"]
    w1, w2 = _weights(one), _weights(two)
    assert set(w1) == set(w2) and len(w1) == 2 * 88
    assert max(abs(w1[k] - w2[k]) for k in w1) <= 1e-5
    if "weighting=meta" in scheme:
        assert max(w1.values()) - min(w1.values()) > 0.1  # the weights really vary per sample
        h1, h2 = _weights(one, "weight_hidden0"), _weights(two, "weight_hidden0")
        assert max(abs(h1[k] - h2[k]) for k in h1) <= 1e-5
    if "weighting=metanet" in scheme:  # Phi was updated the same way in every process
        phi1, phi2 = ({k: v for k, v in _state(run_dir, "weighting.").items() if torch.is_tensor(v)}
                      for run_dir in (one, two))
        # 1e-4: Adam divides by sqrt(v), which magnifies float32 noise where Phi's gradient is near 0
        assert phi1 and max((phi1[k] - phi2[k]).abs().max().item() for k in phi1) <= 1e-4
    s1, s2 = _state(one, "student."), _state(two, "student.")
    moved = max((s1[k] - s2[k]).abs().max().item() for k in s1)
    assert moved <= 1e-5
    r1, r2 = (json.loads((run_dir / "results.json").read_text()) for run_dir in (one, two))
    # the two are one run: the same start, rows, global batches and teacher outputs, so a report pairs them
    assert r1["identity"] == r2["identity"] and r1["identity"]["batch_order"]
    h1, h2 = r1["history"], r2["history"]
    for key in ("val/acc", "val_dev_mismatched/acc"):
        assert [h[key] for h in h1] == pytest.approx([h[key] for h in h2], abs=1e-6)


def test_a_sweep_of_ddp_jobs_keeps_each_job_in_its_own_folder(tmp_path):
    proc = run_rwkd(["-m", "teacher=tiny", "student=tiny", "task=rte", "data.max_train_samples=64",
                     "data.max_eval_samples=32", "data.max_len=32", "trainer.max_epochs=1", "weighting=meta",
                     "seed=1,2", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                     "trainer.enable_progress_bar=false", "hydra.sweep.dir=sweep"], cwd=tmp_path,
                    script=_console_script(), timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted((tmp_path / "sweep").iterdir())
    assert [j.name for j in jobs if j.is_dir()] == ["0_rte_meta_seed1", "1_rte_meta_seed2"]
    for job, seed in zip(jobs, (1, 2), strict=False):
        assert json.loads((job / "results.json").read_text())["seed"] == seed
        assert sorted(p.name for p in job.glob("sample_weights*")) == ["sample_weights.rank0.parquet",
                                                                        "sample_weights.rank1.parquet"]
    assert not (tmp_path / "outputs" / "runs").exists()  # no rank wrote into a single-run folder
