"""NAB files: ``data/<category>/<name>.csv`` (header ``timestamp,value``) plus ``labels/combined_windows.json``
(``{"<category>/<name>.csv": [["start", "end"], ...]}``, timestamps ``YYYY-MM-DD HH:MM:SS[.ffffff]``).

``read(root_or_file, keys)`` returns one :class:`NabSeries` per file with its windows as inclusive row
ranges. Rows stay in file order, as NAB's scorer reads them: a clock that steps back or repeats a timestamp
(8 of NAB's 58 files, e.g. realKnownCause/machine_temperature_system_failure.csv) is counted, not refused; a
window is the rows from the first to the last whose timestamp lies in [start, end] (NAB's ``Window``). A CSV
given by path finds its labels in the nearest parent folder that holds
``labels/combined_windows.json``, under the key of its path relative to that folder's ``data/``.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepstudy.errors import UserError

WINDOWS = Path("labels") / "combined_windows.json"


@dataclass
class NabSeries:
    key: str  # "realKnownCause/nyc_taxi.csv"
    times: np.ndarray  # (T,) datetime64[s]
    values: np.ndarray  # (T,) float64
    windows: list[tuple[int, int]]  # inclusive row ranges of the labelled anomaly windows, in time order
    path: Path
    steps_back: int = 0  # rows whose timestamp is earlier than the row before
    repeats: int = 0  # rows whose timestamp equals the row before


def _time(text: str) -> np.datetime64:
    return np.datetime64(dt.datetime.fromisoformat(text.strip()), "s")


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read NAB file {path}: {e}") from None
    if not rows or [c.strip() for c in rows[0][:2]] != ["timestamp", "value"]:
        raise UserError(f"{path} is not a NAB file: its header must be 'timestamp,value'")
    times, values, lines = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            times.append(_time(row[0]))
            values.append(float(row[1]))
        except (ValueError, IndexError):
            raise UserError(f"{path}: line {line}: expected 'YYYY-MM-DD HH:MM:SS,number', "
                            f"got {','.join(row)!r}") from None
        lines.append(line)
    t = np.asarray(times)
    if len(t) < 50:
        raise UserError(f"{path}: {len(t)} rows; a NAB series needs at least 50")
    v = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(v))
    if len(bad):  # NAB series have no missing values: every row is scored
        raise UserError(f"your data has {v[bad[0]]} at line {lines[bad[0]]}, column 'value' of {path} ({len(bad)} "
                        "such row(s)); a NAB series needs a number in every row — fix or remove those rows")
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.std(v)
    if not np.isfinite(spread):  # the detectors standardize the series: squares of its deviations must be finite
        i = int(np.argmax(np.abs(v)))
        raise UserError(f"{path}: the value {v[i]:g} at line {lines[i]} is too large to standardize (its square "
                        "overflows); rescale the series or fix that row")
    return t, v


def _root_of(path: Path) -> Path | None:
    for parent in path.resolve().parents:
        if (parent / WINDOWS).is_file():
            return parent
    return None


def read(location: str | Path, keys: tuple[str, ...] = ()) -> list[NabSeries]:
    """Every labelled file under a NAB folder (or those named in ``keys``), or one CSV file."""
    location = Path(location).expanduser()
    if location.is_file():
        root = _root_of(location)
        if root is None:
            raise UserError(f"no {WINDOWS} found above {location}: NAB scoring needs the labelled windows; keep the "
                            "file inside a NAB folder (data/<category>/<file>.csv next to labels/)")
        keys, files = (str(location.resolve().relative_to((root / "data").resolve())),), None
    else:
        root = location
        if not (root / WINDOWS).is_file():
            raise UserError(f"'{root}' is not a NAB folder: {WINDOWS} is missing (see shared/data/nab/SOURCE.md)")
        files = sorted(str(p.relative_to(root / "data")) for p in (root / "data").rglob("*.csv"))
    try:
        labels = json.loads((root / WINDOWS).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {root / WINDOWS}: {e}") from None
    wanted = list(keys) or [k for k in files if k in labels]
    missing = [k for k in wanted if k not in labels or not (root / "data" / k).is_file()]
    if missing:
        raise UserError(f"NAB file(s) {', '.join(missing)} not found with labels under {root}; available: "
                        f"{', '.join(k for k in (files or []) if k in labels) or 'none'}")
    out = []
    for key in wanted:
        times, values = read_csv(root / "data" / key)
        windows = [_window_rows(key, times, start, end) for start, end in labels[key]]
        steps = np.diff(times).astype(np.int64)
        out.append(NabSeries(key, times, values, sorted(windows), root / "data" / key,
                             steps_back=int((steps < 0).sum()), repeats=int((steps == 0).sum())))
    return out


def _window_rows(key: str, times: np.ndarray, start: str, end: str) -> tuple[int, int]:
    """Inclusive (first, last) row, in file order, of the rows whose timestamp lies in [start, end]."""
    inside = np.flatnonzero((times >= _time(start)) & (times <= _time(end)))
    if len(inside) == 0:
        raise UserError(f"{key}: no row's timestamp lies in the labelled window [{start}, {end}]; the labels "
                        "belong to another version of the file")
    return int(inside[0]), int(inside[-1])
