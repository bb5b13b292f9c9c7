"""Time series from CSV files: the UCI Air Quality format and generic CSVs, chronological splits,
imputation and scaling fitted without looking ahead, and (lookback, horizon, stride) windows.

    s = read_csv_series(path, missing=(-200,))                  # Air Quality: ';' and decimal ','
    parts = chronological_split(len(s.values), val=0.1, test=0.2)   # train, then val, then test
    x, y = windows(scaled[parts["train"]], lookback=24, horizon=1)  # never across a split boundary

Leakage rules: a split is a contiguous period and later than the one before; missing values are
filled inside each split only (interpolation never borrows from the future split); the scaler's mean
and std come from the training period alone.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepstudy.errors import UserError

_DATE_FORMATS = ("%d/%m/%Y %H.%M.%S", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%dT%H:%M:%S")


@dataclass
class Series:
    times: np.ndarray  # (T,) datetime64[s], increasing
    values: np.ndarray  # (T, F) float64, NaN where missing
    columns: list[str]
    notes: list[str] = field(default_factory=list)


def _number(text: str, decimal: str) -> float:
    text = text.strip()
    if not text:
        return np.nan
    if decimal == ",":
        text = text.replace(".", "").replace(",", ".") if text.count(",") == 1 else text
    else:
        text = text.replace(",", "")  # thousands separators: "7,380,500"
    return float(text)


def _parse_time(text: str, path: Path, line: int) -> np.datetime64:
    for fmt in _DATE_FORMATS:
        try:
            return np.datetime64(dt.datetime.strptime(text, fmt), "s")
        except ValueError:
            continue
    raise UserError(f"{path}: line {line}: cannot read the time '{text}' (formats: DD/MM/YYYY HH.MM.SS, M/D/YYYY, "
                    "YYYY-MM-DD[ HH:MM:SS])")


def read_csv_series(path: str | Path, *, missing: tuple[float, ...] = (), drop: tuple[str, ...] = ()) -> Series:
    """Read a CSV whose first column(s) are a date (and a time, as Air Quality's Date;Time) and whose
    other columns are numbers. ';' files use a decimal comma; ',' files may quote thousands ("7,380,500")."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read time series {path} ({e})") from None
    first = text.split("\n", 1)[0]
    sep, decimal = (";", ",") if first.count(";") > first.count(",") else (",", ".")
    # Air Quality ends in empty rows
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=sep) if any(c.strip() for c in r)]
    if len(rows) < 3:
        raise UserError(f"{path}: fewer than two data rows")
    header = [h.strip() for h in rows[0]]
    while header and not header[-1]:  # Air Quality's trailing ';;'
        header.pop()
    has_time = len(header) > 1 and header[1].lower() == "time"
    n_time = 2 if has_time else 1
    columns = [h for h in header[n_time:] if h not in drop]
    keep = [i for i, h in enumerate(header) if i >= n_time and h not in drop]
    times, values = [], []
    for line, r in enumerate(rows[1:], start=2):
        if len(r) < len(header):
            raise UserError(f"{path}: line {line} has {len(r)} fields, the header {len(header)}")
        times.append(_parse_time(" ".join(c.strip() for c in r[:n_time]), path, line))
        try:
            values.append([_number(r[i], decimal) for i in keep])
        except ValueError:
            raise UserError(f"{path}: line {line} has a value that is not a number") from None
    t, v = np.asarray(times), np.asarray(values, dtype=np.float64)
    if np.any(np.diff(t) <= np.timedelta64(0, "s")):
        raise UserError(f"{path}: the times are not strictly increasing; sort the file by time and remove duplicates")
    _check_finite(v, columns, path)
    n_missing = int(np.isnan(v).sum())
    for m in missing:
        n_missing += int((v == m).sum())
        v[v == m] = np.nan
    notes = [f"{len(t):,} rows from {t[0]} to {t[-1]}; {n_missing:,} missing values"
             + (f" (coded {', '.join(str(m) for m in missing)})" if missing else "")]
    return Series(t, v, columns, notes)


def _check_finite(v: np.ndarray, columns: list[str], path: Path) -> None:
    """Missing values (an empty cell, nan, a missing code) are filled later; inf, or numbers so large that their
    squares overflow (no mean and std to scale by), are errors of the file."""
    bad = np.argwhere(np.isinf(v))
    if len(bad):
        r, c = bad[0]
        raise UserError(f"your data has {v[r, c]} at line {r + 2}, column '{columns[c]}' of {path} ({len(bad)} such "
                        "value(s)); fix it or empty the cell (missing values are interpolated)")
    for c in range(v.shape[1]):
        known = v[~np.isnan(v[:, c]), c]
        with np.errstate(over="ignore", invalid="ignore"):
            if len(known) == 0 or np.isfinite(np.std(known)):
                continue
        r = int(np.nanargmax(np.abs(v[:, c])))
        raise UserError(f"column '{columns[c]}' of {path}: values as large as {v[r, c]:g} (line {r + 2}) are too large "
                        "to standardize (their squares overflow); rescale the column or fix that row")


def read_air_quality(folder: str | Path) -> Series:
    """UCI Air Quality: 13 hourly variables, -200 = missing (shared/data/air-quality/SOURCE.md)."""
    return read_csv_series(Path(folder) / "AirQualityUCI.csv", missing=(-200,))


def chronological_split(n: int, val: float, test: float) -> dict[str, slice]:
    """Contiguous periods: train (the oldest), then validation, then test (the most recent)."""
    n_test, n_val = int(round(n * test)), int(round(n * val))
    if n - n_test - n_val < 2:
        raise UserError(f"{n} time steps leave no training period with val {val} and test {test}")
    return {"train": slice(0, n - n_val - n_test), "val": slice(n - n_val - n_test, n - n_test),
            "test": slice(n - n_test, n)}


def drop_sparse(s: Series, train: slice, max_missing: float = 0.5) -> Series:
    """Columns missing in more than ``max_missing`` of the training period are dropped (stated in notes)."""
    share = np.isnan(s.values[train]).mean(0)
    gone = [c for c, f in zip(s.columns, share) if f > max_missing]
    keep = share <= max_missing
    notes = [*s.notes] + ([f"dropped {', '.join(gone)}: more than {max_missing:.0%} missing in the training period"]
                          if gone else [])
    return Series(s.times, s.values[:, keep], [c for c, k in zip(s.columns, keep) if k], notes)


def impute(values: np.ndarray) -> np.ndarray:
    """Linear interpolation in time within this block; leading/trailing gaps take the nearest value;
    a column with no value at all becomes 0 (the training mean after scaling). Call it per split."""
    out = values.copy()
    idx = np.arange(len(values))
    for j in range(values.shape[1]):
        ok = ~np.isnan(values[:, j])
        out[:, j] = np.interp(idx, idx[ok], values[ok, j]) if ok.any() else 0.0
    return out


def fit_scaler(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of the training period (NaN ignored); std 0 becomes 1."""
    mean, std = np.nanmean(train, 0), np.nanstd(train, 0)
    return mean, np.where(std > 0, std, 1.0)


def windows(values: np.ndarray, lookback: int, horizon: int = 1, stride: int = 1,
            targets: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x (N, lookback, F) = values[i : i+lookback], y (N, horizon, F_t) = values[i+lookback : i+lookback+horizon]
    for i = 0, stride, 2*stride, ...; pass one split at a time, so no window spans two periods."""
    if lookback < 1 or horizon < 1 or stride < 1:
        raise UserError(f"lookback, horizon and stride must be >= 1 (got {lookback}, {horizon}, {stride})")
    starts = np.arange(0, len(values) - lookback - horizon + 1, stride)
    if len(starts) == 0:
        raise UserError(f"a period of {len(values)} steps is shorter than lookback {lookback} + horizon {horizon}")
    cols = slice(None) if targets is None else targets
    x = np.stack([values[s:s + lookback] for s in starts])
    y = np.stack([values[s + lookback:s + lookback + horizon][:, cols] for s in starts])
    return x.astype(np.float32), y.astype(np.float32)


def persistence(x: np.ndarray, horizon: int, targets: list[int]) -> np.ndarray:
    """The naive forecast 'every future step = the last observed one': (N, horizon * len(targets))."""
    return np.repeat(x[:, -1:, targets], horizon, axis=1).reshape(len(x), -1)


def forecasting_arrays(s: Series, *, lookback: int, horizon: int, stride: int, targets: list[str],
                       val: float, test: float, test_series: Series | None = None) -> dict:
    """Windows of every split, scaled with the training period's statistics; y flattened to (N, horizon * T).

    With ``test_series`` (a published later period, as Google's January 2017), the test windows look back
    into the end of the training file for their first inputs, as a forecaster standing on that day would.
    """
    unknown = [t for t in targets if t not in s.columns]
    if unknown:
        raise UserError(f"data.targets {unknown} are not columns of the series; columns: {', '.join(s.columns)}")
    if test_series is None:
        parts = chronological_split(len(s.values), val=val, test=test)
        blocks = {k: s.values[v] for k, v in parts.items()}
        starts = {k: str(s.times[v][0]) for k, v in parts.items()}
    else:
        parts = chronological_split(len(s.values), val=val, test=0.0)
        tail = s.values[-lookback:]  # history the first test day needs
        blocks = {"train": s.values[parts["train"]], "val": s.values[parts["val"]],
                  "test": np.concatenate([tail, test_series.values])}
        starts = {"train": str(s.times[0]), "val": str(s.times[parts["val"]][0]), "test": str(test_series.times[0])}
    blocks = {k: impute(v) for k, v in blocks.items()}  # per period: no interpolation across a split boundary
    mean, std = fit_scaler(blocks["train"])
    cols = [s.columns.index(t) for t in targets] if targets else list(range(len(s.columns)))
    out = {"columns": s.columns, "targets": [s.columns[c] for c in cols], "mean": mean[cols], "std": std[cols],
           "starts": starts}
    for k, v in blocks.items():
        scaled = (v - mean) / std
        with np.errstate(over="ignore"):
            bad = np.argwhere(~np.isfinite(scaled.astype(np.float32)))
        if len(bad):  # a value far outside the training period's range, beyond float32 once standardized
            r, c = bad[0]
            raise UserError(f"column '{s.columns[c]}': the value {v[r, c]:g} in the {k} period overflows once "
                            f"standardized with the training period's mean and std ({mean[c]:g}, {std[c]:g}); rescale "
                            "the column or fix that row")
        x, y = windows(scaled, lookback, horizon, stride if k == "train" else 1, cols)
        out[k] = (x, y.reshape(len(y), -1), persistence(x, horizon, cols))
    return out
