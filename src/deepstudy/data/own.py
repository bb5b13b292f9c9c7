"""Your own files, read with no code: ``data.format: text-csv`` (a text column and a label column),
``series-csv`` (a timestamp column and value columns) — and what the report says about them.

    docs, labels, info = read_text_csv(path, text_column="text", label_column="label")
    s, info = read_series_csv(path, time_column=None)           # values (T, F), NaN where a cell is empty
    found = as_nab(s, "label", path)                             # task: reconstruct: one NAB series per column

The delimiter (, ; tab |) and the encoding (UTF-8, else Windows-1252, else Latin-1) are sniffed; a ``.gz`` file
is decompressed. Data given by ``data.path`` + ``data.format`` is a *new* dataset: nothing of the registry applies
to it; :func:`describe` says what was read (files, rows, classes) and :func:`digests` the sha256 of the files,
computed when they are read.
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import sys
import zlib
from pathlib import Path

import numpy as np

from deepstudy.data import series as _series
from deepstudy.data.nab import NabSeries
from deepstudy.data.registry import sha256_of
from deepstudy.errors import UserError

_DELIMITERS = (",", "\t", ";", "|")
_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")  # latin-1 decodes any byte: the last resort
_SHOWN = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
MAX_LISTED_FILES = 100  # a folder of more files gets one sha256 over all of them


def _decoded(path: Path) -> tuple[str, str]:
    """(text, encoding) of a CSV file, gunzipped when it ends in .gz."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise UserError(f"cannot read {path} ({getattr(e, 'strerror', None) or e}); data.path must be a readable "
                        "CSV file (.csv, or .csv.gz)") from None
    for encoding in _ENCODINGS:
        try:
            return raw.decode(encoding), encoding.replace("-sig", "")
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _rows(text: str, wanted: tuple[str, ...], path: Path) -> tuple[list[list[str]], str]:
    """Rows (header first, blank lines dropped) with the delimiter whose header holds every ``wanted`` column
    (else the one csv.Sniffer picks, else a comma)."""
    csv.field_size_limit(sys.maxsize)  # a document may be long
    first = text.split("\n", 1)[0]
    try:
        sniffed = csv.Sniffer().sniff(text[:65536], delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        sniffed = max(_DELIMITERS, key=first.count)
    order = [sniffed, *(d for d in _DELIMITERS if d != sniffed)]
    header = lambda d: [h.strip() for h in next(csv.reader([first], delimiter=d), [])]  # noqa: E731
    delimiter = next((d for d in order if all(w in header(d) for w in wanted)), sniffed)
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(c.strip() for c in r)]
    except csv.Error as e:
        raise UserError(f"{path} is not a readable CSV file ({e})") from None
    if not rows:
        raise UserError(f"{path} is empty; a CSV file starts with a header line naming its columns")
    rows[0] = [h.strip() for h in rows[0]]
    return rows, delimiter


def _column(header: list[str], name: str, key: str, path: Path) -> int:
    if name not in header:
        shown = ", ".join(repr(h) for h in header[:12]) + (" …" if len(header) > 12 else "")
        raise UserError(f"{path} has no column '{name}' (its columns: {shown}); rename that column or set "
                        f"data.{key} to the column to read")
    return header.index(name)


def read_text_csv(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str], dict]:
    """(texts, label strings, info) of a CSV with a text column and a label column (other columns ignored)."""
    text, encoding = _decoded(path)
    rows, delimiter = _rows(text, (text_column, label_column), path)
    header = rows[0]
    t, y = _column(header, text_column, "text_column", path), _column(header, label_column, "label_column", path)
    short = next((i for i, r in enumerate(rows[1:], start=2) if len(r) <= max(t, y)), None)
    if short is not None:
        raise UserError(f"{path}: line {short} has {len(rows[short - 1])} field(s), fewer than the header's "
                        f"{len(header)}; quote texts that hold the delimiter ({_SHOWN[delimiter]})")
    docs, labels = [r[t] for r in rows[1:]], [r[y].strip() for r in rows[1:]]
    if not docs:
        raise UserError(f"{path} has a header but no rows")
    for what, values, key in (("text", docs, text_column), ("label", labels, label_column)):
        empty = [i for i, v in enumerate(values, start=2) if not v.strip()]
        if empty:
            raise UserError(f"{path}: {len(empty)} of {len(values)} rows have an empty {what} in column '{key}' "
                            f"(first at data row {empty[0] - 1}); fill or remove those rows")
    return docs, labels, {"file": path.name, "rows": len(docs), "delimiter": _SHOWN[delimiter],
                          "encoding": encoding}


def class_names(labels: list[str]) -> list[str]:
    """The distinct labels, in numeric order when every one is a number, else alphabetical."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def _time(text: str, path: Path, line: int) -> np.datetime64:
    try:
        return np.datetime64(dt.datetime.fromisoformat(text.strip()), "s")
    except ValueError:
        return _series._parse_time(text.strip(), path, line)  # the formats the registered series use


def read_series_csv(path: Path, time_column: str | None, exclude: tuple[str, ...] = ()) -> tuple[_series.Series, dict]:
    """A CSV of a timestamp column (``time_column``, default the first) and numeric value columns (less
    ``exclude``), in file order. An empty cell is a missing value (NaN); any other text is an error."""
    text, encoding = _decoded(path)
    rows, delimiter = _rows(text, (time_column,) if time_column else (), path)
    header = rows[0]
    tc = _column(header, time_column, "time_column", path) if time_column else 0
    keep = [i for i, h in enumerate(header) if i != tc and h not in exclude]
    if not keep:
        raise UserError(f"{path} has no value column besides the timestamp column '{header[tc]}'; a series CSV is "
                        "'timestamp,value[,value…]'")
    decimal = "," if delimiter == ";" else "."
    times, values = [], []
    for line, r in enumerate(rows[1:], start=2):
        if len(r) < len(header):
            raise UserError(f"{path}: line {line} has {len(r)} field(s), the header {len(header)}")
        times.append(_time(r[tc], path, line))
        row = []
        for i in keep:
            try:
                row.append(_series._number(r[i], decimal))
            except ValueError:
                raise UserError(f"{path}: line {line}, column '{header[i]}': {r[i].strip()[:40]!r} is not a number; "
                                "a series CSV holds numbers (an empty cell is a missing value) — fix the cell or "
                                "list the column in data.drop") from None
        values.append(row)
    if len(times) < 3:
        raise UserError(f"{path}: {len(times)} data row(s); a series needs more")
    v = np.asarray(values, dtype=np.float64)
    columns = [header[i] for i in keep]
    _series._check_finite(v, columns, path)
    t = np.asarray(times)
    steps = np.diff(t).astype(np.int64)
    info = {"file": path.name, "rows": len(t), "delimiter": _SHOWN[delimiter], "encoding": encoding,
            "time_column": header[tc], "steps_back": int((steps < 0).sum()), "repeats": int((steps == 0).sum())}
    s = _series.Series(t, v, columns, [f"{path.name}: {len(t):,} rows from {t[0]} to {t[-1]}; "
                                       f"{int(np.isnan(v).sum()):,} missing values"])
    return s, info


def require_increasing(s: _series.Series, info: dict, path: Path) -> None:
    """Forecasting windows need time order: a series whose clock steps back or repeats is refused."""
    if info["steps_back"] or info["repeats"]:
        raise UserError(f"{path}: the timestamps step back {info['steps_back']} time(s) and repeat "
                        f"{info['repeats']} time(s); forecasting needs strictly increasing times — sort the file by "
                        "time and remove duplicates")


def as_nab(s: _series.Series, info: dict, label_column: str, columns: tuple[str, ...], path: Path) -> list[NabSeries]:
    """One NAB series per value column (task: reconstruct), in file order; the 0/1 ``label_column`` marks the
    labelled anomalies: each run of 1s is one window, scored as NAB scores its windows."""
    if label_column not in s.columns:
        raise UserError(f"{path} has no column '{label_column}': task: reconstruct scores alarms against labelled "
                        "anomalies — add a 0/1 column marking them (or set data.label_column)")
    label = s.values[:, s.columns.index(label_column)]
    if not np.isin(label, (0.0, 1.0)).all():
        raise UserError(f"{path}: column '{label_column}' must hold 0 (normal) or 1 (anomaly) in every row")
    d = np.r_[0, label.astype(np.int8), 0]
    edges = np.flatnonzero(np.diff(d))
    windows = [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]
    names = [c for c in s.columns if c != label_column]
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise UserError(f"data.series {unknown} are not value columns of {path}; its value columns: {', '.join(names)}")
    out = []
    for c in columns or names:
        v = s.values[:, s.columns.index(c)]
        if np.isnan(v).any():
            raise UserError(f"{path}: column '{c}' has {int(np.isnan(v).sum())} empty cell(s); anomaly detection "
                            "scores every row — fill them or remove those rows")
        key = path.name if len(names) == 1 else f"{path.stem}/{c}.csv"
        out.append(NabSeries(key, s.times, v, windows, path))
    return out


def time_steps_note(key: str, back: int, repeats: int) -> str | None:
    what = [w for n, w in ((back, f"steps back {back} time(s)"), (repeats, f"repeats a timestamp {repeats} time(s)"))
            if n]
    return (f"{key}: the clock {' and '.join(what)}; rows are read and scored in file order, as NAB's scorer reads "
            "them") if what else None


def digests(path: Path, extra: tuple[Path, ...] = (), read: list[Path] | None = None) -> tuple[dict[str, str], int]:
    """({file: sha256}, number of files) of every file read: ``read`` (files under the folder ``path``), else
    ``path`` itself or every file under it (relative names); past MAX_LISTED_FILES files one sha256 over the
    sorted 'name sha256' lines of them all."""
    files = [path] if path.is_file() else read or sorted(p for p in path.rglob("*") if p.is_file())
    base = path.parent if path.is_file() else path
    named = {str(p.relative_to(base)): p for p in files}
    named.update({p.name: p for p in extra})
    if len(named) <= MAX_LISTED_FILES:
        return {n: sha256_of(p) for n, p in named.items()}, len(named)
    h = hashlib.sha256("".join(f"{n} {sha256_of(p)}\n" for n, p in named.items()).encode())
    return {f"{len(named)} files under {path.name}/ (sha256 of their sorted 'name sha256' lines)": h.hexdigest()}, \
        len(named)


def describe(fmt: str, path: Path, summary: dict, rows: int | None, files: int) -> str:
    """One sentence on the data actually read — never the registry's text for another dataset."""
    sizes = summary["sizes"]
    n = rows if rows is not None else sum(sizes.values())
    what = (f"{len(summary['classes'])} classes ({', '.join(summary['classes'][:8])}"
            f"{', …' if len(summary['classes']) > 8 else ''})" if summary["kind"] in ("text", "table", "image")
            else f"{len(summary['classes'])} column(s) ({', '.join(summary['classes'][:8])})"
            if summary["kind"] == "series" else None)
    return (f"Your data, read as data.format: {fmt} from {path}: {files} file(s), {n:,} rows"
            + (f", {what}" if what else "") + ".")

