"""`task: forecast` — the torch trainer on time-series windows, scored in the data's own units.

Every number is computed after undoing the training-period scaling. R² is per target variable
(over all test windows and horizon steps), then averaged over variables; MAE and RMSE are per
variable in its own units, and also averaged in training-std units (comparable across variables).
The persistence forecast ("every future step = the last observed one") is scored the same way on
the same windows, so the report can say plainly whether a model beats it.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import evaluate, train
from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.fileio import read_jsonl
from deepstudy.rundir import RunDir
from deepstudy.tasks import SeedContext, explaining
from deepstudy.tasks.classify import ClassifyTask

METRICS = ("r2", "mae", "rmse")  # r2 first: the score arms are ranked by


class ForecastTask(ClassifyTask):
    """The classify task's torch path with a squared-error loss, scored by R² beside the persistence forecast."""

    name = "forecast"
    epoch_metrics = {"val_loss": True}
    owns = {"series": "time-series data goes with task: forecast"}
    predictions = False

    def data_key(self, cfg: Study) -> str:
        return cfg.data.model_dump_json()

    def prepare(self, ds: _data.Dataset, cfg: Study) -> _data.Dataset:
        return ds

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        if ds.kind != "series":
            raise UserError(f"arm '{arm}': task: forecast goes with time-series data (air-quality, google-stock, "
                            f"data.format: time-series); dataset '{ds.name}' is {ds.kind} and the task is {cfg.task}")
        super().check_data(arm, cfg, ds)

    def loss(self, cfg: Study) -> nn.Module:
        return nn.MSELoss()

    def test(self, model: nn.Module, ctx: SeedContext, monitor: train.Monitor, stopped_early: bool,
             precision_used: str) -> dict:
        return test(model, ctx.dataset, ctx.cfg, ctx.device, ctx.seed.path, monitor, stopped_early, precision_used,
                    explaining.events(ctx.on_event, ctx.arm, ctx.index, ctx.cfg.seeds))

    def headline(self, data_info: dict) -> tuple[str, tuple[str, ...]]:
        return "r2", METRICS

    def comparison(self, metric: str) -> dict:
        return {"scale": 1.0, "unit": ""}  # R² in its own units: not a percentage, a gap is not "points"

    def summarize(self, study: Study, cfg: Study, run: RunDir, arm: str, ok: list[dict], data_info: dict) -> dict:
        return {**explaining.arm_summary(study, run, arm), "forecast": summary(ok, data_info["classes"])}

    def after_seeds(self, study, arms, datasets, run, device) -> None:
        pass  # the data-randomization check explains classifiers


def scores(pred: np.ndarray, true: np.ndarray, ds: _data.Dataset) -> dict:
    """pred, true: (N, horizon x targets) in scaled units -> R², MAE, RMSE overall and per target."""
    t = len(ds.classes)
    p, y = pred.reshape(-1, t).astype(np.float64), true.reshape(-1, t).astype(np.float64)
    err = p - y
    ss_res, ss_tot = (err ** 2).sum(0), ((y - y.mean(0)) ** 2).sum(0)
    r2 = 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0)
    std = np.asarray(ds.extra["std"])
    per = {name: {"r2": float(r2[j]), "mae": float(np.abs(err[:, j]).mean() * std[j]),
                  "rmse": float(np.sqrt((err[:, j] ** 2).mean()) * std[j])} for j, name in enumerate(ds.classes)}
    return {"r2": float(r2.mean()), "mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err ** 2).mean())),
            "per_target": per}


def test(model: nn.Module, ds: _data.Dataset, cfg: Study, device: torch.device, folder, monitor: train.Monitor,
         stopped_early: bool, precision: str, on_method=None) -> dict:
    kw = {"device": device, "precision": cfg.train.precision}
    t0 = time.perf_counter()
    pred, y = train.predict(model, ds.batches("test", cfg.train.eval_batch_size, device=device), **kw)
    test_seconds = time.perf_counter() - t0
    np.save(folder / "forecast.npy", pred.numpy().astype(np.float32))
    tr_pred, tr_y = train.predict(model, ds.batches("train", cfg.train.eval_batch_size, device=device), **kw)
    record = evaluate.run_record(read_jsonl(folder / "metrics.jsonl"), best_epoch=monitor.best_epoch,
                                 monitor={"metric": monitor.metric, "best": monitor.best}, stopped_early=stopped_early,
                                 precision=precision, test_seconds=test_seconds,
                                 train_accuracy=scores(tr_pred.numpy(), tr_y.numpy(), ds)["r2"],
                                 test=scores(pred.numpy(), y.numpy(), ds))
    record.extras["persistence"] = scores(ds.extra["persistence"]["test"], ds.y_test.numpy(), ds)
    if explaining.wanted(cfg):
        explaining.explain_forecast(model, ds, cfg, device, folder, on_method)
    return record


def summary(ok: list[dict], targets: list[str]) -> dict:
    """Per target: mean ± std over seeds of R², MAE, RMSE; the persistence baseline (deterministic) beside it."""
    if not ok:
        return {}
    per = {t: {m: evaluate.describe([s["test"]["per_target"][t][m] for s in ok]) for m in METRICS} for t in targets}
    return {"per_target": per, "persistence": ok[0]["persistence"]}
