"""What RW-KD's raw scores look like, and how many samples the delta floor decides.

    python benchmarks/meta_scores.py [--task rte] [--batches 8] [--seed 1] [--json out.json]

RW-KD (docs/method.md §3) turns the scores u^label, u^kd into w = max(u^kd, d) / (max(u^label, d) + max(u^kd, d)).
A weight of exactly 0.5 means both scores are at or below the floor d; the scores carry the factor
eta / n (virtual lr over batch size), so a sample can land there either because neither term's gradient
agrees with the meta gradient (both scores <= 0) or because the agreement is positive but smaller than the
floor. This script tells the two apart on real rows: the first study's configuration (experiment=study_glue_v1, its
fine-tuned teacher, found or fine-tuned as a study job would), the student at its initial weights, the first
`--batches` training batches of the seed's shuffle, each scored against the next meta batch by the exact
first-order step. It then recomputes the weights as if eta were larger (the scores scale with eta) to show
how much of the 0.5 mass is the floor.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch


def _compose(task: str, seed: int):
    from rwkd.cli import compose_train

    return compose_train(["experiment=study_glue_v1", f"task={task}", "weighting=meta", f"seed={seed}"])


def collect_scores(task: str, seed: int, batches: int):
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from rwkd.models import load_tokenizer
    from rwkd.run.assemble import build_datamodule, student_tokenizer_name, task_of
    from rwkd.teacher.finetune import ensure_teacher
    from rwkd.teacher.sources import output_source, teacher_slots
    from rwkd.weighting.meta import fast_scores
    from rwkd.weighting.meta_context import MetaContext

    cfg = _compose(task, seed)
    spec = task_of(cfg)
    scheme = instantiate(cfg.weighting)
    tokenizer = load_tokenizer(student_tokenizer_name(cfg))
    slot = teacher_slots(cfg)[0]  # the teacher reads its own tokens
    slot.teacher = ensure_teacher(slot.cfg, slot.tokenizer)
    pl.seed_everything(seed, workers=True, verbose=False)
    student = instantiate(cfg.student.model, num_labels=spec.num_labels, seed=seed)
    dm = build_datamodule(cfg, tokenizer)
    source = output_source(slot, dm)

    u_label, u_kd = [], []
    for i, batch in enumerate(dm.train_dataloader()):
        if i == batches:
            break
        meta = dm.next_meta_batch()
        ctx = MetaContext(student=student, batch=batch, teacher_logits=source(batch), regression=spec.is_regression,
                          kd_temperature=cfg.kd.temperature, kd_kind=cfg.kd.loss,
                          meta_batch=meta, meta_teacher_logits=source(meta))
        a, b = fast_scores(ctx, scheme.virtual_lr, scheme.meta_loss)
        u_label.append(a)
        u_kd.append(b)
    return cfg, scheme, torch.cat(u_label), torch.cat(u_kd)


def summarise(u_label: torch.Tensor, u_kd: torch.Tensor, virtual_lr: float, delta: float) -> dict:
    from rwkd.weighting.meta import normalise_terms

    n = u_label.numel()
    both_nonpositive = ((u_label <= 0) & (u_kd <= 0)).float().mean().item()
    at_floor = ((u_label <= delta) & (u_kd <= delta)).float().mean().item()
    scales = {}
    for factor in (1.0, 1e2, 1e4, 1e6):
        w = normalise_terms(torch.stack([u_label * factor, u_kd * factor]), delta)[1]  # the teacher term's weight
        scales[f"{virtual_lr * factor:g}"] = {
            "share_exactly_0.5": (w == 0.5).float().mean().item(),
            "share_below_0.025": (w < 0.025).float().mean().item(),
            "share_above_0.975": (w > 0.975).float().mean().item(),
            "mean_weight": w.mean().item(),
        }
    positive = torch.cat([u_label[u_label > 0], u_kd[u_kd > 0]])
    return {
        "samples": n,
        "share_both_scores_nonpositive": both_nonpositive,
        "share_both_scores_at_or_below_delta": at_floor,
        "positive_score_quantiles": {f"q{q}": positive.quantile(q / 100).item() for q in (10, 50, 90)}
        if positive.numel() else None,
        "weights_by_virtual_lr": scales,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="rte")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--json", help="also write the summary here")
    args = parser.parse_args(argv)
    cfg, scheme, u_label, u_kd = collect_scores(args.task, args.seed, args.batches)
    report = {"task": args.task, "seed": args.seed, "batches": args.batches, "batch_size": cfg.data.batch_size,
              "virtual_lr": scheme.virtual_lr, "delta": scheme.delta,
              **summarise(u_label, u_kd, scheme.virtual_lr, scheme.delta)}
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
