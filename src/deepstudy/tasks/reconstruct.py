"""task: reconstruct — autoencoder anomaly detection on NAB series, scored the NAB way, beside two baselines.

Per arm, seed and file, following NAB's protocol (deepstudy.nab):
1. The probationary period (first 15 %, at most 750 rows) is the only data the detector learns from:
   its first part trains the autoencoder on windows of ``anomaly.window`` rows (standardized with
   that part's mean and std), its last ``anomaly.calibration`` share chooses the threshold.
2. Every row then gets a causal raw score: the mean squared reconstruction error of the window ending at
   it; standardized by its own previous ``anomaly.history`` rows (how unusual the error is lately).
3. Label-free threshold: the ``anomaly.quantile`` of the calibration rows' scores. A row at or above it
   raises an alarm, then ``anomaly.refractory`` rows stay silent. Alarms are scored with the NAB score
   (three profiles) and event-level precision / recall / F1.
4. The same steps (standardization, threshold, refractory rule) for a rolling z-score detector and a
   random detector (uniform scores, seeded): only the raw signal differs.
5. For reference only, each detector's best standard-profile score over thresholds chosen *with the
   labels* (what NAB's optimizer does) — the report prints it beside, marked as tuned on labels.

Files per seed: metrics.jsonl (training, every file's epochs), files/<k>/ (a file's checkpoint, metrics and
scores while the seed runs), scores.npz (every detector's scores and
thresholds per file), result.json, and with ``anomaly.export`` nab-results/<detector>/<category>/<detector>_<file>.csv.
"""
from __future__ import annotations

import io
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import evaluate, models, nab, repro, train
from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.fileio import atomic_write_bytes, atomic_write_text, read_jsonl, write_jsonl
from deepstudy.models import autoencoder
from deepstudy.records import SeedResult
from deepstudy.rundir import RunDir
from deepstudy.tasks import SeedContext, Size, Task, reconstruct_images

METRICS = tuple(f"nab_{p}" for p in nab.PROFILES) + ("precision", "recall", "f1")
DETECTORS = ("model", "zscore", "random")


class ReconstructTask(Task):
    name = "reconstruct"
    epoch_metrics: dict[str, bool] = {}  # one model per NAB series file: no single per-epoch score
    owns = {"nab": "NAB series go with task: reconstruct (anomaly detection)"}
    series_csv = "anomaly"  # a series-csv file: one NAB-style series per value column, labels in data.label_column

    def check(self, arm: str, cfg: Study, study: Study) -> None:
        try:
            build(cfg)
        except ValueError as e:
            raise UserError(f"arm '{arm}': {e}") from None
        extra = set(cfg.analyses) - {"curves", "samples", "confusion"}
        if extra:
            raise UserError(f"arm '{arm}': analyses {', '.join(sorted(extra))} do not apply to task: reconstruct; "
                            "remove them")

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        if ds.kind == "image":
            reconstruct_images.normal_ids(cfg, ds)
            try:
                reconstruct_images.build(cfg, ds.input_shape)
            except ValueError as e:
                raise UserError(f"arm '{arm}': {e}") from None
            return
        if ds.kind != "nab":
            raise UserError(f"arm '{arm}': task: reconstruct goes with NAB series (data.name: nab, or data.format: nab "
                            f"with data.path) or images (with anomaly.normal_classes); dataset '{ds.name}' is "
                            f"{ds.kind}")
        for s in ds.extra["series"]:
            train_rows = _periods(len(s.values), cfg)[0]
            if train_rows < cfg.anomaly.window + 10:
                raise UserError(f"{s.key}: its probationary period leaves {train_rows} training rows, too few for "
                                f"windows of {cfg.anomaly.window}; lower anomaly.window or anomaly.calibration")
            with np.errstate(over="ignore"):
                bad = np.flatnonzero(~np.isfinite(np.square(_standardized(s.values, train_rows).astype(np.float32))))
            if len(bad):
                raise UserError(f"{s.path}: the value {s.values[bad[0]]:g} (data row {bad[0] + 1}) overflows once "
                                "standardized by the training rows' mean and std and squared by the reconstruction "
                                "error; rescale the series or fix that row")

    def train_seed(self, ctx: SeedContext) -> SeedResult:
        return reconstruct_images.train_one(ctx) if ctx.dataset.kind == "image" else train_one(ctx)

    def headline(self, data_info: dict) -> tuple[str, tuple[str, ...]]:
        return ("nab_standard", METRICS) if data_info["kind"] == "nab" else ("roc_auc", reconstruct_images.METRICS)

    def comparison(self, metric: str) -> dict:
        return {"scale": 1.0, "unit": "NAB points"} if metric == "nab_standard" else {}

    def size(self, cfg: Study, data_info: dict, ok: list[dict]) -> Size:
        ae = build(cfg) if data_info["kind"] == "nab" else reconstruct_images.build(cfg,
                                                                                    tuple(data_info["input_shape"]))
        return Size(sum(p.numel() for p in ae.parameters()))

    def summarize(self, study: Study, cfg: Study, run: RunDir, arm: str, ok: list[dict], data_info: dict) -> dict:
        return {"anomaly": summary(ok)}

    def study_extras(self, study: Study, arms: dict[str, Study], out_arms: dict) -> dict:
        return {"anomaly_config": study.anomaly.model_dump(mode="json")}


def build(cfg: Study) -> nn.Module:
    kw = cfg.model.kwargs()
    return models.checked_build(cfg.model.name, kw,
                                lambda: autoencoder.create(cfg.model.name, cfg.anomaly.window, **kw))


def _periods(n: int, cfg: Study) -> tuple[int, int]:
    """(end of the training rows, end of the calibration rows = end of probation)."""
    p = nab.probation(n)
    return p - int(round(cfg.anomaly.calibration * p)), p


def _standardized(values: np.ndarray, end_train: int) -> np.ndarray:
    """The series scaled by the mean and std of its training rows (what the autoencoder reads)."""
    return (values - values[:end_train].mean()) / (values[:end_train].std() + 1e-12)


def _windows(v: torch.Tensor, w: int) -> torch.Tensor:
    return v.unfold(0, w, 1)  # (T - w + 1, w): window k ends at row k + w - 1


def train_one(ctx: SeedContext) -> SeedResult:
    """One autoencoder per file, each through the epoch driver in files/<k>/ (a killed seed keeps its finished
    files and resumes the unfinished one from its last epoch)."""
    cfg, ds, run_seed, folder, t = ctx.cfg, ctx.dataset, ctx.run_seed, ctx.seed.path, ctx.cfg.train
    scores, thresholds, rows, t0 = {}, {}, [], time.perf_counter()
    for k, s in enumerate(ds.extra["series"]):
        end_train, end_cal = _periods(len(s.values), cfg)
        v = torch.from_numpy(_standardized(s.values, end_train)).float()
        seed, part = repro.derive_seed(run_seed, "file", k), folder / "files" / str(k)
        if not (part / "scores.npz").is_file():
            _train_file(ctx, s, v, end_train, end_cal, seed, part)
        with np.load(part / "scores.npz") as z:
            for name in DETECTORS:
                scores[(s.key, name)] = z[name]
                thresholds[(s.key, name)] = float(z[f"threshold:{name}"])
        rows += read_jsonl(part / "metrics.jsonl")
    write_jsonl(folder / "metrics.jsonl", rows)
    scored = _score(ds, scores, thresholds, refractory(cfg))
    record = SeedResult(best_epoch=t.epochs - 1, epochs_run=t.epochs, stopped_early=False, precision="fp32",
                        monitor={"metric": "last", "best": None}, train_seconds=time.perf_counter() - t0,
                        seconds_per_epoch=float(np.mean([r["seconds"] for r in rows])), eval_seconds=0.0,
                        train_accuracy=float(np.mean([r["train_loss"] for r in rows if r["epoch"] == t.epochs - 1])),
                        test=scored["test"], extras={"baselines": scored["baselines"]})
    np.savez_compressed(folder / "scores.npz", **{f"{d}:{key}": sc for (key, d), sc in scores.items()},
                        **{f"threshold:{d}:{key}": np.float64(v) for (key, d), v in thresholds.items()})
    if cfg.anomaly.export:
        _export(ds, scores, thresholds, refractory(cfg), folder / "nab-results")
    return record


def _train_file(ctx: SeedContext, series, v: torch.Tensor, end_train: int, end_cal: int, seed: int, part: Path) -> None:
    """Train one file's autoencoder on its standardized values ``v``; every detector's scores and threshold go to
    ``part``/scores.npz."""
    cfg, device = ctx.cfg, ctx.device
    a, t = cfg.anomaly, cfg.train
    x_train, x_cal = _windows(v[:end_train], a.window), _windows(v[end_train - a.window + 1:end_cal], a.window)
    repro.seed_torch(repro.derive_seed(seed, "init"))
    model = build(cfg).to(device)
    opt, _ = train.from_settings(model, t)
    batches = _data.Batches(x_train.to(device), x_train.to(device), t.batch_size, shuffle=True, seed=seed)
    val = _data.Batches(x_cal.to(device), x_cal.to(device), t.eval_batch_size)

    def epochs(start: int):
        for r in train.fit(model, batches.epoch, val, optimizer=opt, scheduler=None, loss_fn=nn.MSELoss(),
                           epochs=t.epochs,
                           device=device, seed=seed, start_epoch=start, grad_clip=t.grad_clip):
            yield {"file": series.key, "epoch": r.epoch, "train_loss": r.train_loss, "val_loss": r.val_loss,
                   "train_acc": None,
                   "val_acc": None, "seconds": r.seconds, "eval_seconds": r.eval_seconds, "steps": r.steps}

    train.drive(part, train.TorchState(model, opt), epochs, total=t.epochs, monitor=train.Monitor("last"),
                on_event=ctx.on_event, arm=ctx.arm, seed=ctx.index, every=t.checkpoint_seconds)
    model.eval()
    with torch.no_grad():
        all_windows = _windows(v, a.window).to(device)
        err = torch.cat([((model(b) - b) ** 2).mean(1) for b in all_windows.split(4096)]).cpu().numpy()
    detector_scores = {"model": np.r_[np.zeros(a.window - 1), err],
                       "zscore": np.abs(_rolling_z(series.values, a.zscore_window, a.zscore_window)),
                       "random": np.random.default_rng(repro.derive_seed(seed, "random-detector")).random(len(v))}
    out = {}
    for name, raw in detector_scores.items():
        sc = _rolling_z(raw, a.history, 10) if a.history else raw  # how unusual the score is lately
        out[name], out[f"threshold:{name}"] = sc, np.float64(np.quantile(sc[end_train:end_cal], a.quantile))
    buf = io.BytesIO()
    np.savez(buf, **out)
    atomic_write_bytes(part / "scores.npz", buf.getvalue())  # last: its presence marks the file done


def refractory(cfg: Study) -> int:
    return cfg.anomaly.window if cfg.anomaly.refractory is None else cfg.anomaly.refractory


def _rolling_z(x: np.ndarray, history: int, min_history: int) -> np.ndarray:
    """(x_t - mean) / std over the previous ``history`` rows (fewer at the start of a file; 0 until there are
    ``min_history``): causal. Cumulative sums keep it O(T)."""
    c, c2 = np.r_[0.0, np.cumsum(x)], np.r_[0.0, np.cumsum(x ** 2)]
    t = np.arange(len(x))
    lo = np.maximum(t - history, 0)
    n = t - lo
    ok = n >= min_history
    mean = np.where(ok, (c[t] - c[lo]) / np.maximum(n, 1), 0)
    var = np.maximum(np.where(ok, (c2[t] - c2[lo]) / np.maximum(n, 1), 0) - mean ** 2, 0)
    return np.where(ok, (x - mean) / (np.sqrt(var) + 1e-9), 0.0)


def _score(ds: _data.Dataset, scores: dict, thresholds: dict, quiet: int) -> dict:
    out = {}
    for d in DETECTORS:
        files = [(scores[(s.key, d)], s.windows) for s in ds.extra["series"]]
        detected = [nab.alarms(sc, thresholds[(s.key, d)], quiet) for s, (sc, _) in zip(ds.extra["series"], files)]
        res = {f"nab_{p}": nab.normalized([nab.raw_score(x, w, p) for x, (_, w) in zip(detected, files)],
                                          p) for p in nab.PROFILES}
        res.update(nab.f1([nab.event_scores(x, w) for x, (_, w) in zip(detected, files)]))
        standard = [nab.raw_score(x, s.windows) for s, x in zip(ds.extra["series"], detected)]
        res["per_file"] = {s.key: {**r, "nab_standard": nab.normalized([r], "standard")} for s,
                           r in zip(ds.extra["series"], standard)}
        res["tuned_on_labels"] = {p: nab.best_threshold(files, p, refractory=quiet)[1] for p in nab.PROFILES}
        out[d] = res
    return {"test": out["model"], "baselines": {d: out[d] for d in DETECTORS[1:]}}


def _export(ds: _data.Dataset, scores: dict, thresholds: dict, quiet: int, root: Path) -> None:
    """NAB's results layout: anomaly_score 1 at each alarm (after the refractory rule), else the score scaled so
    that the threshold sits at 0.5 and capped below it — NAB's scorer at threshold 0.5 sees exactly our alarms."""
    for s in ds.extra["series"]:
        label = np.zeros(len(s.values), dtype=int)
        for a, b in s.windows:
            label[a:b + 1] = 1
        category, name = s.key.rsplit("/", 1) if "/" in s.key else ("", s.key)
        for d in DETECTORS:
            raw, thr = scores[(s.key, d)], thresholds[(s.key, d)]
            sc = np.clip(0.5 * (raw - raw.min()) / max(thr - raw.min(), 1e-12), 0, 0.49)
            sc[nab.alarms(raw, thr, quiet)] = 1.0
            lines = ["timestamp,value,anomaly_score,label"]
            lines += [f"{str(t).replace('T', ' ')},{v:g},{x:.6f},{y}" for t, v, x,
                      y in zip(s.times, s.values, sc, label)]
            path = root / f"deepstudy-{d}" / category / f"deepstudy-{d}_{name}"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, "\n".join(lines) + "\n")


def summary(ok: list[dict]) -> dict:
    """Baselines over seeds, and per file the model's NAB score (images: reconstruct_images.summary)."""
    if not ok:
        return {}
    if "per_file" not in ok[0]["test"]:
        return reconstruct_images.summary(ok)
    base = {d: {m: evaluate.describe([s["baselines"][d][m] for s in ok]) for m in METRICS} for d in DETECTORS[1:]}
    tuned = {d: {p: evaluate.describe([(s["test"] if d == "model" else s["baselines"][d])["tuned_on_labels"][p]
                                       for s in ok])
                 for p in nab.PROFILES} for d in DETECTORS}
    files = list(ok[0]["test"]["per_file"])
    def file_score(s: dict, d: str, f: str) -> float:
        return (s["test"] if d == "model" else s["baselines"][d])["per_file"][f]["nab_standard"]

    def above(a, b) -> bool:  # a file without labelled windows has no NAB score (NaN; null once in JSON)
        return a is not None and b is not None and not math.isnan(a) and not math.isnan(b) and a > b

    per_file = {f: {**{d: evaluate.describe([file_score(s, d, f) for s in ok]) for d in DETECTORS},
                    "beats": {d: sum(above(file_score(s, "model", f), file_score(s, d, f)) for s in ok)
                              for d in DETECTORS[1:]}}
                for f in files}
    beats = {d: sum(s["test"]["nab_standard"] > s["baselines"][d]["nab_standard"] for s in ok) for d in DETECTORS[1:]}
    return {"baselines": base, "tuned_on_labels": tuned, "per_file": per_file, "beats": beats, "n": len(ok),
            "metric": "nab_standard"}
