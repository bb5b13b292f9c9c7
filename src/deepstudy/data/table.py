"""CSV tables: numeric and categorical columns, encoded with statistics of the training rows only.

A column is numeric when every non-empty value parses as a number; otherwise it is categorical
and one-hot encoded with the categories seen in training (an unseen category encodes as all
zeros). Numeric columns are standardized; missing numbers (an empty cell, nan) are filled with the training mean;
inf, or a number too large to standardize, stops the load naming its row and column.

A categorical column with more than ``MAX_CATEGORIES`` (1,000) distinct values of which most rows hold their own
(more than half the rows distinct) is an identifier or free text, not a category: its one-hot block would hold
rows x values numbers (50,000 ids: 10 GB), so it is refused with the advice to drop it (``data.drop``).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepstudy.errors import UserError, closest


MAX_CATEGORIES = 1_000


@dataclass
class RawTable:
    columns: list[str]
    rows: list[list[str]]
    path: Path | None = None


def read_csv(path: Path) -> RawTable:
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            sample = f.read(64 * 1024)
            f.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(f, dialect)
            header = [c.strip() for c in next(reader, [])]
            rows = [r for r in reader if any(cell.strip() for cell in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read CSV table {path}: {e}") from None
    if not header or not rows:
        raise UserError(f"CSV table {path} has no header or no rows; the first line must name the columns")
    twice = next((c for i, c in enumerate(header) if c in header[:i]), None)
    if twice is not None:  # columns are found by name: the second one would silently stand in for the first
        first = header.index(twice)
        raise UserError(f"{path}: the header names column '{twice}' twice (columns {first + 1} and "
                        f"{header.index(twice, first + 1) + 1}); give each column its own name")
    bad = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if bad is not None:
        raise UserError(f"{path}: row {bad + 2} has {len(rows[bad])} fields but the header has {len(header)}; "
                        "fix the file")
    return RawTable(header, rows, path)


def _number(cell: str) -> float | None:
    cell = cell.strip()
    if cell == "":
        return np.nan
    try:
        return float(cell)
    except ValueError:
        return None


class TableEncoder:
    """Fit on training rows; transform any rows into a float32 feature matrix."""

    def __init__(self, table: RawTable, target: str | None, drop: tuple[str, ...] = ()):
        cols = table.columns
        target = target or cols[-1]
        for name in (target, *drop):
            if name not in cols:
                raise UserError(f"column '{name}' is not in the table{closest(name, cols)}; columns: {', '.join(cols)}")
        self.table, self.target = table, target
        self.features = [c for c in cols if c != target and c not in drop]
        if not self.features:
            dropped = f" once data.drop ({', '.join(drop)}) is left out" if drop else ""
            raise UserError(f"{table.path or 'the table'} has no column to learn from{dropped}: its columns are "
                            f"{', '.join(cols)} and '{target}' is the label; add feature columns or drop fewer")
        self.index = {c: i for i, c in enumerate(cols)}
        self.numeric = {c: all(_number(r[self.index[c]]) is not None for r in table.rows) for c in self.features}
        for c in self.features:
            if self.numeric[c]:
                x = np.asarray([_number(r[self.index[c]]) for r in table.rows], dtype=np.float64)
                self._check_finite(c, x)
            n = 0 if self.numeric[c] else len({r[self.index[c]].strip() for r in table.rows})
            if n > MAX_CATEGORIES and n > len(table.rows) / 2:
                size = len(table.rows) * n * 4  # float32
                shown = f"{size / 1e9:,.1f} GB" if size >= 1e9 else f"{size / 1e6:,.0f} MB"
                raise UserError(f"column '{c}' of {table.path or 'the table'} holds {n:,} distinct values in "
                                f"{len(table.rows):,} rows (an identifier or free text?): one-hot encoding it would "
                                f"make {n:,} features ({shown}); ignore it with data.drop: [{c}]")

    def _check_finite(self, c: str, x: np.ndarray) -> None:
        """inf in a numeric column, or numbers so large that their squares overflow (no mean and std): one line."""
        where = f"column '{c}' of {self.table.path or 'the table'}"
        bad = np.flatnonzero(np.isinf(x))
        if len(bad):
            cell = self.table.rows[bad[0]][self.index[c]].strip()
            shown = cell if cell.lower().lstrip("+-") in ("inf", "infinity") else f"{cell} (inf as a float)"
            raise UserError(f"your data has {shown} at data row {bad[0] + 1}, {where} ({len(bad)} such row(s)); "
                            "fix the value or empty the cell (empty cells are filled with the training mean)")
        with np.errstate(over="ignore", invalid="ignore"):
            spread = np.nanstd(x) if np.isfinite(x).any() else 0.0
        if not np.isfinite(spread):
            i = int(np.nanargmax(np.abs(x)))
            raise UserError(f"{where}: values as large as {x[i]:g} (data row {i + 1}) are too large to standardize "
                            "(their squares overflow); rescale the column or fix that row")

    def labels(self) -> tuple[np.ndarray, list[str]]:
        raw = [r[self.index[self.target]].strip() for r in self.table.rows]
        empty = [i for i, v in enumerate(raw) if v.lower() in ("", "nan", "na", "n/a", "null", "none")]
        if empty:
            raise UserError(f"target column '{self.target}' is empty or missing in {len(empty)} of {len(raw)} rows "
                            f"(first: data row {empty[0] + 1}); fill them or remove those rows")
        classes = sorted(set(raw), key=lambda v: (_number(v) is None, _number(v) or 0.0, v))
        numbers = [_number(v) for v in classes]
        if all(n is not None for n in numbers) and any(not float(n).is_integer() for n in numbers):
            odd = next(v for v, n in zip(classes, numbers) if not float(n).is_integer())
            raise UserError(f"target column '{self.target}' holds fractional numbers (e.g. {odd[:20]}): a quantity "
                            "to predict, not a class; deepstudy classifies tables — bin it into classes, or "
                            "forecast a series with task: forecast")
        if len(classes) < 2:
            raise UserError(f"target column '{self.target}' has one value only ({classes[0][:20]!r}): there is "
                            "nothing to classify; set data.target to the label column")
        lookup = {c: i for i, c in enumerate(classes)}
        return np.asarray([lookup[v] for v in raw], dtype=np.int64), classes

    def fit(self, train_rows: np.ndarray) -> TableEncoder:
        self.stats: dict[str, tuple[float, float]] = {}
        self.categories: dict[str, list[str]] = {}
        for c in self.features:
            values = [self.table.rows[i][self.index[c]].strip() for i in train_rows]
            if self.numeric[c]:
                x = np.asarray([_number(v) for v in values], dtype=np.float64)
                mean = float(np.nanmean(x)) if np.isfinite(x).any() else 0.0
                std = float(np.nanstd(x)) if np.isfinite(x).any() else 1.0
                self.stats[c] = (mean, std if std > 0 else 1.0)
            else:
                self.categories[c] = sorted(set(values))
        return self

    def transform(self, rows: np.ndarray, scale: bool = True) -> np.ndarray:
        blocks = []
        for c in self.features:
            values = [self.table.rows[i][self.index[c]].strip() for i in rows]
            if self.numeric[c]:
                mean, std = self.stats[c]
                x = np.asarray([_number(v) for v in values], dtype=np.float64)
                x = np.where(np.isnan(x), mean, x)
                with np.errstate(over="ignore"):
                    bad = np.flatnonzero(~np.isfinite(((x - mean) / std if scale else x).astype(np.float32)))
                if len(bad):  # a value far outside the training rows' range, beyond float32 once standardized
                    raise UserError(f"column '{c}' of {self.table.path or 'the table'}: the value {x[bad[0]]:g} at "
                                    f"data row {rows[bad[0]] + 1} overflows once standardized with the training rows' "
                                    f"mean and std ({mean:g}, {std:g}); rescale the column or fix that row")
                blocks.append(((x - mean) / std if scale else x)[:, None])
            else:
                cats = {v: j for j, v in enumerate(self.categories[c])}
                onehot = np.zeros((len(values), len(cats)))
                for i, v in enumerate(values):
                    if v in cats:
                        onehot[i, cats[v]] = 1.0
                blocks.append(onehot)
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def state(self) -> dict:
        """What ``transform`` needs once fitted, as JSON (saved beside a run's weights for ``deepstudy predict``)."""
        return {"target": self.target, "features": self.features, "numeric": self.numeric,
                "stats": {c: list(v) for c, v in self.stats.items()}, "categories": self.categories}

    @classmethod
    def from_state(cls, state: dict, table: RawTable) -> TableEncoder:
        """A fitted encoder (``state()``) that transforms the rows of ``table``: a new CSV with the training columns
        (in any order; others, the label among them, are ignored)."""
        missing = [c for c in state["features"] if c not in table.columns]
        if missing:
            raise UserError(f"{table.path or 'the table'} lacks the training column(s) {', '.join(missing[:5])}"
                            f"{' ...' if len(missing) > 5 else ''}; the model reads {', '.join(state['features'])}")
        encoder = cls.__new__(cls)
        encoder.table, encoder.target, encoder.features = table, state["target"], list(state["features"])
        encoder.index = {c: i for i, c in enumerate(table.columns)}
        encoder.numeric = dict(state["numeric"])
        encoder.stats = {c: tuple(v) for c, v in state["stats"].items()}
        encoder.categories = {c: list(v) for c, v in state["categories"].items()}
        for c in encoder.features:  # a word in a numeric column: the standardization has no meaning for it
            if encoder.numeric[c]:
                bad = next((i for i, r in enumerate(table.rows) if _number(r[encoder.index[c]]) is None), None)
                if bad is not None:
                    raise UserError(f"{table.path or 'the table'}: column '{c}' is numeric in training but data row "
                                    f"{bad + 1} holds '{table.rows[bad][encoder.index[c]].strip()[:20]}'; "
                                    "give a number or leave the cell empty (filled with the training mean)")
        return encoder

    def feature_names(self) -> list[str]:
        names = []
        for c in self.features:
            names += [c] if self.numeric[c] else [f"{c}={v}" for v in self.categories[c]]
        return names
