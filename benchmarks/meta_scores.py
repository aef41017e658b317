"""What RW-KD's raw scores look like, how many samples the delta floor decides, and how far each option that
changes the scores moves them from the exact dropout-free scores.

    python benchmarks/meta_scores.py [--task rte] [--batches 8] [--seed 1] [--json out.json]
    python benchmarks/meta_scores.py --task mrpc --experiment none --meta-batch-sizes 16 8 4 --json out.json

RW-KD (docs/method.md §3) turns the scores u^label, u^kd into w = max(u^kd, d) / (max(u^label, d) + max(u^kd, d)).
A weight of exactly 0.5 means both scores are at or below the floor d; the scores carry the factor
eta / n (virtual lr over batch size), so a sample can land there either because neither term's gradient
agrees with the meta gradient (both scores <= 0) or because the agreement is positive but smaller than the
floor. The first part tells the two apart on real rows: the configuration of `--experiment` (default: the first
study, study_glue_v1; `none`: the task's default run) with its fine-tuned teacher (found, or fine-tuned as a
job would; `--override paths.outputs=...` points at another teacher store), the student at its initial weights
(or a trained student's, `--student-weights`), the first `--batches` training batches of the seed's shuffle, each scored against the next meta batch (of
data.meta_batch_size rows) by the exact first-order step, `impl=fast`. It then recomputes the weights as if
eta were larger (the scores scale with eta) to show how much of the 0.5 mass is the floor.

The second part, `agreement`: every option that changes the scores, against those exact scores of the same
batch, per term: the Spearman rank correlation over the batch's samples (mean and minimum over batches), the
share of scores with the same sign, and the mean absolute change of the teacher term's weight w.
- `shared`: impl=shared, the scores of the step actually taken (train mode, a dropout draw as a step makes);
- `meta_batch_M`: impl=fast with only the first M rows of the meta batch (data.meta_batch_size=M);
- `shared_meta_batch_M`: both;
- `score_layers_N`: impl=fast with weighting.score_layers=N, the exact scores of a virtual step that moves only
  the head and the last N layers (rwkd/weighting/score_scope.py); `shared_score_layers_N`: the same with impl=shared;
- `another_meta_batch`: impl=fast with a second full meta batch (the next one): how far the exact scores move
  with the meta rows drawn, the yardstick for the options above;
- `metanet_shared`: the meta-weight net's impl=shared against its exact impl=fast, at its initial Phi and from
  the same inputs: the cosine of Phi's two gradients (g at theta with the step's dropout, against g at theta_hat
  without dropout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import torch


def _compose(task: str, seed: int, experiment: str, overrides: list[str]):
    from rwkd.cli import compose_train

    first = [] if experiment == "none" else [f"experiment={experiment}"]
    return compose_train([*first, f"task={task}", "weighting=meta", f"seed={seed}", *overrides])


def shared_tangents(ctx, meta_loss: str) -> torch.Tensor:
    """<g, grad l_i^k> [2, n] as a training step with impl=shared takes them: g on the meta batch, then the training
    forward in train mode (dropout drawn from the global RNG, as a step draws it) carrying g as its tangent."""
    from torch.autograd import forward_ad
    from torch.func import functional_call

    from rwkd.models import model_inputs
    from rwkd.weighting.meta_context import eval_mode, meta_gradient, tangent_forward

    direction = meta_gradient(ctx, meta_loss)
    with eval_mode(ctx.student):  # restores the mode it found; train() inside it is this pass's own
        ctx.student.train()
        with tangent_forward(ctx.student, direction) as params:
            logits = functional_call(ctx.student, params, (), model_inputs(ctx.batch)).logits
            terms = torch.stack(ctx.loss_terms(logits, ctx.batch["labels"], ctx.teacher_logits))
            return forward_ad.unpack_dual(terms).tangent.detach()


def shared_scores(ctx, virtual_lr: float, meta_loss: str) -> torch.Tensor:
    from rwkd.weighting.meta import scores_from_tangents

    return scores_from_tangents(shared_tangents(ctx, meta_loss), virtual_lr)


def _head(batch: dict, rows: int) -> dict:
    return {k: v[:rows] for k, v in batch.items()}


def metanet_agreement(ctx, meta_loss: str, virtual_lr: float) -> dict:
    """The default meta-weight net at its initial Phi: the cosine of impl=shared's Phi gradient (g at theta, the
    step's dropout) and impl=fast's (exact: g at theta_hat, no dropout) on one batch, both from the same inputs x."""
    from rwkd.weighting.base import Signals
    from rwkd.weighting.metanet import MetaWeightNet

    net = MetaWeightNet(virtual_lr=virtual_lr, meta_loss=meta_loss)
    label, kd = ctx.train_terms(ctx.params())
    s = Signals(label.detach(), kd.detach(), None, ctx.teacher_logits, ctx.batch["labels"], ctx.batch["idx"], 0, 0.0,
                ctx.regression, meta=ctx)
    x = net.signals_matrix(s)
    exact = torch.cat([g.reshape(-1) for g in net.fast_gradient(s, x)])
    s.term_tangents = shared_tangents(ctx, meta_loss)
    shared = torch.cat([g.reshape(-1) for g in net.shared_gradient(s, x)])
    return {"phi_gradient_cosine": torch.nn.functional.cosine_similarity(exact, shared, dim=0).item()}


def load_student_weights(student: torch.nn.Module, path: str) -> None:
    """A trained student's weights into the freshly built one: a run's best_hf folder (model.safetensors) or a
    Lightning checkpoint (its `student.` entries). Every key must match: a student of another shape is an error."""
    from pathlib import Path

    from rwkd.errors import RwkdError

    source = Path(path)
    if source.is_dir():
        from safetensors.torch import load_file

        state = load_file(source / "model.safetensors")
    else:
        saved = torch.load(source, map_location="cpu", weights_only=False)["state_dict"]
        state = {k.removeprefix("student."): v for k, v in saved.items() if k.startswith("student.")}
    missing, unexpected = student.load_state_dict(state, strict=False)
    # tied or derived buffers (position ids) may be absent from a save; weights may not
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RwkdError(f"--student-weights {path} does not fit this task's student: missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]}; give the best_hf folder or checkpoint of a run with the same student")


def collect_scores(task: str, seed: int, batches: int, experiment: str = "study_glue_v1", overrides=(),
                   meta_batch_sizes=(), metanet: bool = True, student_weights: str | None = None, score_layers=()):
    """Per batch: the exact scores u [2, n] and those of every option that changes them."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from rwkd.models import load_tokenizer
    from rwkd.run.assemble import build_datamodule, student_tokenizer_name, task_of
    from rwkd.teacher.sources import obtain_teacher, output_source, teacher_slots
    from rwkd.weighting.meta import fast_scores
    from rwkd.weighting.meta_context import MetaContext
    from rwkd.weighting.score_scope import ScoreScope

    cfg = _compose(task, seed, experiment, list(overrides))
    spec = task_of(cfg)
    scheme = instantiate(cfg.weighting)
    tokenizer = load_tokenizer(student_tokenizer_name(cfg))
    slot = teacher_slots(cfg)[0]  # the teacher reads its own tokens
    slot.teacher = obtain_teacher(slot)  # its written outputs (teacher.outputs), else found or fine-tuned
    pl.seed_everything(seed, workers=True, verbose=False)
    student = instantiate(cfg.student.model, num_labels=spec.num_labels, seed=seed)
    if student_weights:
        load_student_weights(student, student_weights)
    dm = build_datamodule(cfg, tokenizer)
    source = output_source(slot, dm)
    eta, kind = scheme.virtual_lr, scheme.meta_loss

    def context(batch, meta):
        return MetaContext(student=student, batch=batch, teacher_logits=source(batch), regression=spec.is_regression,
                           kd_temperature=cfg.kd.temperature, kd_kind=cfg.kd.loss, meta_batch=meta,
                           meta_teacher_logits=source(meta))

    records = []
    for i, batch in enumerate(dm.train_dataloader()):
        if i == batches:
            break
        meta = dm.next_meta_batch()
        ctx = context(batch, meta)
        record = {"exact": torch.stack(fast_scores(ctx, eta, kind)), "shared": shared_scores(ctx, eta, kind)}
        # the noise floor of the exact scores themselves: the same rule with the meta batch after this one
        record["another_meta_batch"] = torch.stack(fast_scores(context(batch, dm.next_meta_batch()), eta, kind))
        for m in meta_batch_sizes:
            small = context(batch, _head(meta, m))
            record[f"meta_batch_{m}"] = torch.stack(fast_scores(small, eta, kind))
            record[f"shared_meta_batch_{m}"] = shared_scores(small, eta, kind)
        for n in score_layers:
            top = ScoreScope(n)(ctx)
            record[f"score_layers_{n}"] = torch.stack(fast_scores(top, eta, kind))
            record[f"shared_score_layers_{n}"] = shared_scores(top, eta, kind)
        if metanet:
            record["metanet"] = metanet_agreement(ctx, kind, eta)
        records.append(record)
    return cfg, scheme, records


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """The rank correlation of two vectors (ties, which real scores do not have, ranked by position)."""
    ranks = [v.double().argsort().argsort().double() for v in (a, b)]
    ra, rb = (r - r.mean() for r in ranks)
    return (ra @ rb / (ra.norm() * rb.norm())).item()


def agreement(records: list[dict], option: str, delta: float) -> dict:
    """How far `option`'s scores are from the exact ones, per term and for the teacher term's weight."""
    from rwkd.weighting.meta import normalise_terms

    out = {}
    for k, term in enumerate(("label", "kd")):
        rhos = [spearman(r[option][k], r["exact"][k]) for r in records]
        same = torch.cat([(r[option][k] > 0) == (r["exact"][k] > 0) for r in records]).float().mean().item()
        out[term] = {"spearman_mean": statistics.fmean(rhos), "spearman_min": min(rhos), "sign_agreement": same}
    dw = torch.cat([(normalise_terms(r[option], delta)[1] - normalise_terms(r["exact"], delta)[1]).abs()
                    for r in records])
    out["weight_mean_abs_change"] = dw.mean().item()
    return out


def metanet_summary(records: list[dict]) -> dict:
    cosines = [r["metanet"]["phi_gradient_cosine"] for r in records if "metanet" in r]
    return {"phi_gradient_cosine_mean": statistics.fmean(cosines), "phi_gradient_cosine_min": min(cosines)} \
        if cosines else {}


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
    parser.add_argument("--experiment", default="study_glue_v1", help="the experiment config; none: the task's default")
    parser.add_argument("--meta-batch-sizes", type=int, nargs="*", default=[16, 8, 4],
                        help="smaller meta batches to compare (the first rows of each full meta batch)")
    parser.add_argument("--score-layers", type=int, nargs="*", default=[1, 2],
                        help="weighting.score_layers values to compare (the virtual step over the top N layers)")
    parser.add_argument("--no-metanet", action="store_true", help="leave out the meta-weight net's comparison")
    parser.add_argument("--override", action="append", default=[], help="a Hydra override, e.g. paths.outputs=DIR")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--student-weights", help="a trained student (a run's best_hf folder or a .ckpt) instead of "
                        "the initial weights: where the meta batch's own rows matter more")
    parser.add_argument("--json", help="also write the summary here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg, scheme, records = collect_scores(args.task, args.seed, args.batches, args.experiment, args.override,
                                          args.meta_batch_sizes, not args.no_metanet, args.student_weights,
                                          args.score_layers)
    exact = torch.cat([r["exact"] for r in records], dim=1)
    options = [k for k in records[0] if k not in ("exact", "metanet")]
    report = {"task": args.task, "seed": args.seed, "batches": args.batches, "experiment": args.experiment,
              "batch_size": cfg.data.batch_size, "meta_batch_size": cfg.data.meta_batch_size or cfg.data.batch_size,
              "student_layers": list(cfg.student.model.get("layers") or []),
              "student_weights": args.student_weights or "initial", "virtual_lr": scheme.virtual_lr,
              "delta": scheme.delta, **summarise(exact[0], exact[1], scheme.virtual_lr, scheme.delta),
              "agreement": {o: agreement(records, o, scheme.delta) for o in options},
              "metanet_shared": metanet_summary(records)}
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
