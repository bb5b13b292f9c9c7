"""task: reconstruct on images — one-class anomaly detection by reconstruction error.

The classes in ``anomaly.normal_classes`` are "normal": the autoencoder trains on the training images of
those classes only (the labels are used for nothing else), and the threshold is the ``anomaly.quantile``
of its errors on the normal validation images — no anomaly is seen before the test. On the test split,
every image of another class is an anomaly. Scores: ROC-AUC and average precision of the reconstruction
error (threshold-free), precision / recall / F1 at the threshold; beside two baselines through the same
threshold rule: the distance to the mean normal training image, and random scores.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from deepstudy import data as _data
from deepstudy import evaluate, models, repro, train
from deepstudy.config import EVAL_BATCH_SIZE, Study
from deepstudy.errors import UserError
from deepstudy.fileio import read_jsonl
from deepstudy.models import autoencoder
from deepstudy.records import SeedResult
from deepstudy.tasks import SeedContext

METRICS = ("roc_auc", "average_precision", "precision", "recall", "f1")
DETECTORS = ("model", "mean-image", "random")


def normal_ids(cfg: Study, ds: _data.Dataset) -> list[int]:
    if not cfg.anomaly.normal_classes:
        raise UserError(f"task: reconstruct on images needs anomaly.normal_classes: the class(es) the autoencoder "
                        f"learns as normal (of {', '.join(ds.classes)}); every other class is an anomaly at test time")
    ids = []
    for c in cfg.anomaly.normal_classes:
        if str(c) not in ds.classes:
            raise UserError(f"anomaly.normal_classes: '{c}' is not a class of {ds.name} ({', '.join(ds.classes)})")
        ids.append(ds.classes.index(str(c)))
    if len(ids) == len(ds.classes):
        raise UserError("anomaly.normal_classes lists every class: leave at least one out to be the anomalies")
    return ids


def build(cfg: Study, input_shape: tuple[int, ...]) -> nn.Module:
    kw = cfg.model.kwargs()
    return models.checked_build(cfg.model.name, kw,
                                lambda: autoencoder.create_image(cfg.model.name, tuple(input_shape), **kw))


def _errors(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return torch.cat([((model(b) - b) ** 2).flatten(1).mean(1)
                          for b in x.split(EVAL_BATCH_SIZE)]).cpu().numpy().astype(np.float64)


def _scores(score: np.ndarray, anomalous: np.ndarray, threshold: float) -> dict:
    hit = score >= threshold
    tp, fp, fn = int((hit & anomalous).sum()), int((hit & ~anomalous).sum()), int((~hit & anomalous).sum())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"roc_auc": float(roc_auc_score(anomalous, score)),
            "average_precision": float(average_precision_score(anomalous, score)),
            "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "threshold": threshold}


def train_one(ctx: SeedContext) -> SeedResult:
    cfg, ds, device, run_seed, folder = ctx.cfg, ctx.dataset, ctx.device, ctx.run_seed, ctx.seed.path
    normal, t = normal_ids(cfg, ds), cfg.train
    keep = {s: np.isin(np.asarray(ds.split(s)[1]), normal) for s in ("train", "val")}
    x = {s: ds.float_inputs(ds.split(s)[0][torch.from_numpy(keep[s])]).to(device) for s in ("train", "val")}
    x_test = ds.float_inputs(ds.x_test).to(device)
    anomalous = ~np.isin(np.asarray(ds.y_test), normal)
    repro.seed_torch(repro.derive_seed(run_seed, "init"))
    model = build(cfg, ds.input_shape).to(device)
    opt, _ = train.from_settings(model, t)
    batches = _data.Batches(x["train"], x["train"], t.batch_size, shuffle=True, seed=run_seed)
    t0 = time.perf_counter()

    def epochs(start: int):
        for r in train.fit(model, batches.epoch, _data.Batches(x["val"], x["val"], t.eval_batch_size), optimizer=opt,
                           scheduler=None, loss_fn=nn.MSELoss(), epochs=t.epochs, device=device, seed=run_seed,
                           start_epoch=start, grad_clip=t.grad_clip):
            yield {"epoch": r.epoch, "train_loss": r.train_loss, "val_loss": r.val_loss, "train_acc": None,
                   "val_acc": None,
                   "seconds": r.seconds, "eval_seconds": r.eval_seconds, "steps": r.steps}

    train.drive(folder, train.TorchState(model, opt), epochs, total=t.epochs, monitor=train.Monitor("last"),
                on_event=ctx.on_event, arm=ctx.arm, seed=ctx.index,
                every=t.checkpoint_seconds)  # best.safetensors: the last epoch's weights
    rows = read_jsonl(ctx.seed.metrics)
    mean_image = x["train"].mean(0, keepdim=True)
    rng = np.random.default_rng(repro.derive_seed(run_seed, "random-detector"))
    detectors = {
        "model": (_errors(model, x["val"]), _errors(model, x_test)),
        "mean-image": tuple(((v - mean_image) ** 2).flatten(1).mean(1).cpu().numpy().astype(np.float64)
                            for v in (x["val"], x_test)),
        "random": (rng.random(len(x["val"])), rng.random(len(x_test))),
    }
    out = {d: _scores(test, anomalous, float(np.quantile(val, cfg.anomaly.quantile))) for d,
           (val, test) in detectors.items()}
    np.savez_compressed(folder / "scores.npz", anomalous=anomalous, **{d: test for d, (_, test) in detectors.items()})
    record = evaluate.run_record(rows, best_epoch=t.epochs - 1, monitor={"metric": "last", "best": None},
                                 stopped_early=False,
                                 precision="fp32", test_seconds=0.0, train_accuracy=rows[-1]["train_loss"],
                                 test=out["model"])
    record.train_seconds = time.perf_counter() - t0
    record.extras["baselines"] = {d: out[d] for d in DETECTORS[1:]}
    return record


def summary(ok: list[dict]) -> dict:
    if not ok:
        return {}
    base = {d: {m: evaluate.describe([s["baselines"][d][m] for s in ok]) for m in METRICS} for d in DETECTORS[1:]}
    beats = {d: sum(s["test"]["roc_auc"] > s["baselines"][d]["roc_auc"] for s in ok) for d in DETECTORS[1:]}
    return {"baselines": base, "beats": beats, "n": len(ok), "metric": "roc_auc"}
