"""task: som — a self-organizing map per arm and seed, its quality, its outliers and the SOM -> ANN hybrid.

The map is fitted on the training split only (no labels). Per epoch: quantization error on the
training and validation inputs, topographic error on validation. On the test split: quantization
and topographic error and, where the data has labels, how well the map separates them (each unit
votes the majority training label of the inputs it wins; test accuracy of that vote; purity).

Outliers (seed 004's fraud exercise): every row of every split is placed on the map; rows whose
best-matching unit lies farthest from its neighbours (largest mean interneuron distance — the
white cells of the U-matrix) are flagged, ``som.outlier_fraction`` of them; rows that share a unit are
ordered by their own distance to it. No label is used.
The hybrid (``som.hybrid``) trains a small network on the flags of the training rows, checks on
the test rows how well it reproduces them (ROC-AUC of agreement — not of fraud), and ranks every
row by its probability (ranking.csv). Without true fraud labels none of this measures fraud:
the report says so, and shows how stable the flags are across seeds instead.

Files per seed: metrics.jsonl, checkpoint/, som.safetensors (the final map), maps.npz (U-matrix, hits, weights,
unit labels),
outliers.npz, ranking.csv (with hybrid), result.json.
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import evaluate, models, repro, train
from deepstudy.config import Study, check_task_model
from deepstudy.errors import UserError
from deepstudy.fileio import atomic_write_text, read_jsonl
from deepstudy.models.som import SOM, decay
from deepstudy.records import SeedResult
from deepstudy.rundir import RunDir
from deepstudy.tasks import SeedContext, Size, Task

METRICS = ("quantization_error", "topographic_error", "accuracy", "purity")
_MODEL_KEYS = ("rows", "cols", "neighborhood")


def build(cfg: Study, in_features: int) -> SOM:
    kw = cfg.model.kwargs()
    return SOM(int(kw.get("rows", 10)), int(kw.get("cols", 10)), in_features,
               neighborhood=kw.get("neighborhood", "gaussian"))


def vectors(ds: _data.Dataset, split: str) -> torch.Tensor:
    """(N, F) float inputs: images normalized like the torch models see them, then flattened."""
    x = ds.float_inputs(ds.split(split)[0])
    return x.reshape(len(x), -1)


def sigma0(cfg: Study, som: SOM) -> float:
    return cfg.som.sigma or max(1.0, max(som.rows, som.cols) / 4)


class SomTask(Task):
    name = "som"
    epoch_metrics = {"val_loss": True, "val_topographic_error": True}
    lower_is_better = True

    def check(self, arm: str, cfg: Study, study: Study) -> None:
        check_task_model(arm, cfg, "som", _MODEL_KEYS, "name: som, rows: 10, cols: 10",
                         " (the schedule is in the `som:` section)")
        try:
            build(cfg, 2)
        except ValueError as e:
            raise UserError(f"arm '{arm}': {e}") from None
        extra = set(cfg.analyses) - {"curves", "confusion", "samples"}
        if extra:
            raise UserError(f"arm '{arm}': analyses {', '.join(sorted(extra))} do not apply to task: som (its report "
                            f"always shows the U-matrix, hit map, component planes and outliers); remove them")

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        if ds.kind not in ("table", "image"):
            raise UserError(f"arm '{arm}': task: som maps numeric vectors (tables, small images); dataset "
                            f"'{ds.name}' is {ds.kind}")

    def train_seed(self, ctx: SeedContext) -> SeedResult:
        return train_one(ctx)

    def headline(self, data_info: dict) -> tuple[str, tuple[str, ...]]:
        return "quantization_error", METRICS

    def size(self, cfg: Study, data_info: dict, ok: list[dict]) -> Size:
        return Size(build(cfg, int(np.prod(data_info["input_shape"]))).weight.numel())

    def summarize(self, study: Study, cfg: Study, run: RunDir, arm: str, ok: list[dict], data_info: dict) -> dict:
        return {"som": summary(run, arm, ok)}

    def study_extras(self, study: Study, arms: dict[str, Study], out_arms: dict) -> dict:
        return {"som_config": study.som.model_dump(mode="json"), "arm_rules": {a: c.som.rule for a, c in arms.items()}}


def train_one(ctx: SeedContext) -> SeedResult:
    """Fit one map through the epoch driver (a killed seed resumes from its last epoch's map)."""
    cfg, ds, device, run_seed, folder = ctx.cfg, ctx.dataset, ctx.device, ctx.run_seed, ctx.seed.path
    s, epochs = cfg.som, cfg.train.epochs
    x = {split: vectors(ds, split).to(device) for split in ("train", "val", "test")}
    som = build(cfg, x["train"].shape[1]).to(device)
    if s.init == "pca":
        som.init_pca(x["train"])
    else:
        som.init_sample(x["train"], repro.generator(repro.derive_seed(run_seed, "init")))
    sig, total = sigma0(cfg, som), epochs * len(x["train"])

    def rows(start: int):
        step = start * len(x["train"])  # the online rule visits every training row once per epoch
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            if s.rule == "batch":
                sigma_now, lr_now = decay(s.decay, sig, epoch, epochs, sigma=True), None
                som.batch_epoch(x["train"], sigma_now)
            else:
                sigma_now = decay(s.decay, sig, step, total, sigma=True)
                lr_now = decay(s.decay, s.learning_rate, step, total, sigma=False)
                order = torch.randperm(len(x["train"]),
                                       generator=repro.generator(repro.derive_seed(run_seed, "batches", epoch)))
                step = som.online_epoch(x["train"], order, step, total, s.learning_rate, sig, s.decay, s.decay)
            seconds = time.perf_counter() - t0
            t1 = time.perf_counter()
            yield {"epoch": epoch, "train_loss": som.quantization_error(x["train"]),
                   "val_loss": som.quantization_error(x["val"]), "train_acc": None, "val_acc": None,
                   "val_topographic_error": som.topographic_error(x["val"]), "sigma": sigma_now, "lr": lr_now,
                   "seconds": seconds, "eval_seconds": time.perf_counter() - t1,
                   "steps": 1 if s.rule == "batch" else len(x["train"])}

    train.drive(folder, train.TorchState(som), rows, total=epochs, monitor=train.Monitor("last"), on_event=ctx.on_event,
                arm=ctx.arm, seed=ctx.index, best="som.safetensors",
                every=cfg.train.checkpoint_seconds)
    t0 = time.perf_counter()
    units = {split: som.bmu(v) for split, v in x.items()}  # each row's best unit, once
    label_scores, unit_labels = _label_scores(som, units, ds)
    test = {"quantization_error": som.quantization_error(x["test"]),
            "topographic_error": som.topographic_error(x["test"]),
            **label_scores}
    test_seconds = time.perf_counter() - t0
    metrics = read_jsonl(ctx.seed.metrics)
    record = evaluate.run_record(metrics, best_epoch=epochs - 1, monitor={"metric": "last", "best": None},
                                 stopped_early=False, precision="fp32", test_seconds=test_seconds,
                                 train_accuracy=metrics[-1]["train_loss"], test=test)  # the final map's training QE
    record.extras["som"] = _outliers(som, x, units, ds, cfg, folder, run_seed, device, unit_labels)
    return record


def _label_scores(som: SOM, units_of: dict, ds: _data.Dataset) -> tuple[dict, np.ndarray]:
    """Each unit takes the majority label of the training inputs it wins (units that win none: the label of the
    nearest unit that does); the test accuracy of that vote, and the purity of the map on the training split."""
    units, k = units_of["train"].cpu(), ds.num_classes
    votes = torch.zeros(len(som.weight), k, dtype=torch.long)
    votes.index_put_((units, ds.y_train.long()), torch.ones(len(units), dtype=torch.long), accumulate=True)
    won = votes.sum(1) > 0
    label = votes.argmax(1)
    w = som.weight.cpu()
    nearest = torch.cdist(w, w[won]).argmin(1)
    label = torch.where(won, label, label[won][nearest])
    pred = label[units_of["test"].cpu()]
    return {"accuracy": float((pred == ds.y_test.long()).double().mean()),
            "purity": float(votes.max(1).values.sum() / len(units))}, label.numpy()


def _outliers(som: SOM, x: dict, units_of: dict, ds: _data.Dataset, cfg: Study, folder: Path, run_seed: int,
              device: torch.device, unit_labels: np.ndarray) -> dict:
    splits = ("train", "val", "test")
    allx = torch.cat([x[s] for s in splits])
    labels = torch.cat([ds.split(s)[1].long() for s in splits]).numpy()
    umatrix = som.u_matrix("mean")  # (rows, cols) mean interneuron distance
    units = torch.cat([units_of[s] for s in splits])
    score = umatrix.flatten()[units].cpu().numpy()
    error = som.sample_errors(allx).cpu().numpy()
    k = max(1, round(cfg.som.outlier_fraction * len(score)))
    top = np.lexsort((error, score))[::-1][:k]  # by the unit's isolation; within a unit, the row farthest from it first
    flagged = np.zeros(len(score), dtype=bool)
    flagged[top] = True
    threshold = float(score[top].min())
    split_of = np.concatenate([[s] * len(x[s]) for s in splits])
    ids = ds.extra.get("ids")
    row_ids = np.concatenate([ids[s] for s in splits]) if ids else np.asarray([f"{s}:{i}" for s in splits
                                                                               for i in range(len(x[s]))])
    hits = torch.bincount(units_of["train"], minlength=len(som.weight)).reshape(som.rows, som.cols)
    np.savez_compressed(folder / "maps.npz", umatrix=umatrix.cpu().numpy(),
                        unit_labels=unit_labels.reshape(som.rows, som.cols),
                        hits=hits.cpu().numpy(), weight=som.weight.reshape(som.rows, som.cols, -1).cpu().numpy(),
                        class_hits=np.stack([np.bincount(units.cpu().numpy()[labels == c], minlength=len(som.weight))
                                             for c in range(ds.num_classes)]).reshape(ds.num_classes, som.rows,
                                                                                      som.cols))
    out = {"threshold": threshold, "flagged": int(flagged.sum()), "rows": int(len(flagged)),
           "flagged_label_share": [float((labels[flagged] == c).mean()) for c in range(ds.num_classes)],
           "label_share": [float((labels == c).mean()) for c in range(ds.num_classes)]}
    prob = np.full(len(flagged), np.nan, dtype=np.float32)
    if cfg.som.hybrid:
        prob, out["hybrid"] = _hybrid(allx, flagged, split_of, row_ids, score, cfg, folder, run_seed, device)
    np.savez_compressed(folder / "outliers.npz", ids=row_ids.astype(str), split=split_of, unit=units.cpu().numpy(),
                        mid=score, error=error, flagged=flagged, label=labels,
                        probability=prob)
    return out


def _hybrid(allx: torch.Tensor, flagged: np.ndarray, split_of: np.ndarray, row_ids: np.ndarray, score: np.ndarray,
            cfg: Study, folder: Path, run_seed: int, device: torch.device) -> tuple[np.ndarray, dict]:
    """The supervised half: a small MLP learns the SOM's flags from the features of the training rows."""
    from sklearn.metrics import roc_auc_score

    repro.seed_torch(repro.derive_seed(run_seed, "hybrid"))
    net = models.create("mlp", in_features=allx.shape[1], num_classes=2, hidden=(16,)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    y = torch.from_numpy(flagged.astype(np.int64)).to(device)
    train = torch.from_numpy(np.flatnonzero(split_of == "train")).to(device)
    g = repro.generator(repro.derive_seed(run_seed, "hybrid-batches"))
    for _ in range(cfg.som.hybrid_epochs):
        for idx in train[torch.randperm(len(train), generator=g).to(device)].split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(net(allx[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        prob = torch.softmax(net(allx), 1)[:, 1].cpu().numpy()
    test = split_of == "test"
    auc = float(roc_auc_score(flagged[test], prob[test])) if 0 < flagged[test].sum() < test.sum() else None
    order = np.argsort(-prob, kind="stable")
    lines = ["id,split,probability,som_flag,mean_interneuron_distance"]
    lines += [f"{row_ids[i]},{split_of[i]},{prob[i]:.6f},{int(flagged[i])},{score[i]:.6f}" for i in order]
    atomic_write_text(folder / "ranking.csv", "\n".join(lines) + "\n")
    return prob.astype(np.float32), {"agreement_auc": auc}


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def summary(run: RunDir, arm: str, ok: list[dict]) -> dict:
    """Across seeds: how stable the flagged set is (mean pairwise Jaccard), the rows flagged most often, and the
    hybrid's agreement with the SOM on held-out rows."""
    found = [_read_npz(run.seed(arm, s["seed"]) / "outliers.npz") for s in ok]
    if not found:
        return {}
    ids = found[0]["ids"]
    sets = [set(z["ids"][z["flagged"]].tolist()) for z in found]
    pairs = [len(a & b) / max(len(a | b), 1) for a, b in itertools.combinations(sets, 2)]
    times = np.sum([z["flagged"] for z in found], axis=0)
    probs = [z["probability"] for z in found if not np.isnan(z["probability"]).all()]
    mean_prob = np.mean(probs, axis=0) if probs else None
    order = np.argsort(-(mean_prob if mean_prob is not None else times + np.mean([z["mid"] for z in found], 0) * 1e-9),
                       kind="stable")[:15]
    top = [{"id": str(ids[i]), "split": str(found[0]["split"][i]), "flagged_in": int(times[i]),
            "probability": None if mean_prob is None else float(mean_prob[i]),
            "label": int(found[0]["label"][i])} for i in order]
    return {"jaccard": evaluate.describe(pairs), "flagged_every_seed": int((times == len(found)).sum()),
            "flagged_any_seed": int((times > 0).sum()), "rows": int(len(ids)), "seeds": len(found), "top": top,
            "agreement_auc": evaluate.describe([s["som"]["hybrid"]["agreement_auc"] for s in ok
                                                if s["som"].get("hybrid")]),
            "flagged_label_share": np.mean([s["som"]["flagged_label_share"] for s in ok], 0).tolist(),
            "label_share": ok[0]["som"]["label_share"]}

