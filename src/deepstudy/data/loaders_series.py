"""Time series: registered series for forecasting, your own series CSV (``data.format: series-csv``) and NAB
folders for anomaly detection (deepstudy.data.nab, read in file order as NAB's scorer reads them).
"""
from __future__ import annotations

from pathlib import Path

import torch

from deepstudy import nab as nab_scoring
from deepstudy.config import DataConfig
from deepstudy.data import nab, own, series
from deepstudy.data.dataset import Dataset
from deepstudy.data.registry import DatasetSpec
from deepstudy.errors import UserError

def _load_own_series(cfg: DataConfig, path: Path, source: dict, series_csv: str) -> Dataset:
    """data.format: series-csv: forecasting windows, or (``series_csv`` "anomaly") one NAB-style series per column."""
    if not path.is_file():
        raise UserError(f"data.path '{path}' is a folder; data.format series-csv reads one CSV file "
                        "(a timestamp column, then value columns)")
    s, info = own.read_series_csv(path, cfg.time_column, tuple(cfg.drop))
    source["rows"] = info["rows"]
    read_as = f"{info['encoding']}, {info['delimiter']}-separated, time column '{info['time_column']}'"
    if series_csv == "anomaly":
        found = own.as_nab(s, info, cfg.label_column, tuple(cfg.series), path)
        for f in found:
            f.steps_back, f.repeats = info["steps_back"], info["repeats"]
        return _nab_dataset(cfg, found, source, (f"{path.name}: {read_as}; anomaly labels: column "
                                                 f"'{cfg.label_column}'",))
    own.require_increasing(s, info, path)
    s.notes.append(f"{path.name}: {read_as}")
    return _load_series(cfg, None, path, source, read=s)


def _load_series(cfg: DataConfig, spec: DatasetSpec | None, folder: Path, source: dict,
                 read: series.Series | None = None) -> Dataset:
    """Forecasting windows (kind "series"): x (N, lookback, features), y (N, horizon x targets), both scaled
    with training-period statistics; ``extra`` keeps the scaler and the persistence forecasts. ``read``: the
    series already read (series-csv)."""
    o = spec.options if spec else {}
    path = folder / o["file"] if spec else folder
    s = read if read is not None else series.read_csv_series(path, missing=tuple(o.get("missing", ())), drop=cfg.drop)
    test_series = series.read_csv_series(folder / o["test_file"], drop=cfg.drop) if o.get("test_file") else None
    whole = series.chronological_split(len(s.values), val=cfg.val_fraction,
                                       test=0.0 if test_series else cfg.test_fraction)
    s = series.drop_sparse(s, whole["train"])
    if test_series is not None:
        test_series = series.Series(test_series.times,
                                    test_series.values[:, [test_series.columns.index(c) for c in s.columns]],
                                    s.columns)
    a = series.forecasting_arrays(s, lookback=cfg.lookback, horizon=cfg.horizon, stride=cfg.stride,
                                  targets=list(cfg.targets), val=cfg.val_fraction, test=cfg.test_fraction,
                                  test_series=test_series)
    notes = [*s.notes, f"chronological split: train from {a['starts']['train']}, validation from {a['starts']['val']}, "
             f"test from {a['starts']['test']}" + (" (the published test file)" if test_series else ""),
             "missing values: linear interpolation in time within each period (never across a split), ends copied "
             "from the nearest value; features scaled with training-period mean and std",
             f"windows: {cfg.lookback} steps in, {cfg.horizon} step(s) ahead of {', '.join(a['targets'])}; stride "
             f"{cfg.stride} for training windows, 1 for validation and test"]
    t = torch.from_numpy
    parts = [t(a[k][i]) for k in ("train", "val", "test") for i in (0, 1)]
    return Dataset(cfg.name, "series", a["targets"], *parts, source=source, notes=notes, feature_names=a["columns"],
                   extra={"mean": a["mean"], "std": a["std"], "horizon": cfg.horizon,
                          "persistence": {k: a[k][2] for k in ("train", "val", "test")}})


def _load_nab(cfg: DataConfig, folder: Path, source: dict) -> Dataset:
    """NAB series (kind "nab"): the files live in ``extra["series"]``; a detector scores every row of each file."""
    return _nab_dataset(cfg, nab.read(folder, tuple(cfg.series)), source)


def _nab_dataset(cfg: DataConfig, found: list[nab.NabSeries], source: dict, first: tuple[str, ...] = ()) -> Dataset:
    empty = torch.zeros(0, 1)
    notes = [*first, *(f"{s.key}: {len(s.values):,} rows {s.times[0]} to {s.times[-1]}, {len(s.windows)} labelled "
                       "window(s)" for s in found)]
    notes += [n for s in found if (n := own.time_steps_note(s.key, s.steps_back, s.repeats))]
    if any(s.steps_back or s.repeats for s in found):
        notes.append(f"{sum(bool(s.steps_back or s.repeats) for s in found)} of {len(found)} file(s) have timestamps "
                     "that step back or repeat; kept as published, rows in file order")
    notes.append("NAB protocol: the first 15 % of each file (at most 750 rows) is probationary — the detector learns "
                 "and calibrates there and is never scored; every later row is scored against the labelled windows "
                 "(sizes: train = probationary rows, test = scored rows)")
    probation = sum(nab_scoring.probation(len(s.values)) for s in found)
    return Dataset(cfg.name, "nab", ["normal", "anomaly window"], empty, torch.zeros(0, dtype=torch.long), empty,
                   torch.zeros(0, dtype=torch.long), empty, torch.zeros(0, dtype=torch.long), source=source,
                   notes=notes,
                   extra={"series": found, "sizes": {"train": probation, "val": 0,
                                                     "test": sum(len(s.values) for s in found) - probation}})
