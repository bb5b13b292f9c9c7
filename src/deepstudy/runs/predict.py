"""``deepstudy predict``: class probabilities of new inputs from a trained seed, as CSV.

Inputs by the run's data (its ``preprocessing.json`` says which):

- images: image files (PNG, JPEG, ...) or folders of them (searched recursively), converted to the training channels
  (grey or RGB), resized to the training size (bilinear, as image folders are read) and normalized with the training
  statistics; or ``.npy`` arrays of raw images (N, C, H, W) or (N, H, W) in 0..255 of the training size exactly;
- tables: CSV files with the training columns (any order; others, the label among them, ignored);
- text: ``.txt`` files, one text per line (blank lines skipped), or CSV files with a text column (``column``).

The CSV written has one row per input: ``input`` (file, file:row or file:line, or the table's id column), ``predicted``
(the class name) and ``p_<class>`` per class (softmax of the logits). It is written atomically, and never over an
existing file unless ``overwrite``; every bad input stops before anything is written.
"""
from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deepstudy.data import preprocessing, readers
from deepstudy.data.table import read_csv
from deepstudy.errors import UserError
from deepstudy.fileio import atomic_write_text
from deepstudy.runs import trained as _trained

IMAGE_SUFFIXES = frozenset(readers._IMAGE_SUFFIXES)
_READS = {"image": "image files (" + ", ".join(sorted(IMAGE_SUFFIXES)) + "), folders of them or .npy arrays",
          "table": ".csv files with the training columns", "tokens": ".txt files (one text per line) or .csv files"}


def predict(run_dir: str | Path, inputs: list[str | Path], out: str | Path = "predictions.csv",
            arm: str | None = None, seed: int | None = None, column: str | None = None,
            overwrite: bool = False, batch_size: int = 256, log: Callable[[str], None] = lambda text: None
            ) -> tuple[Path, int]:
    """Write the predictions of ``inputs`` to ``out``; returns (out, number of inputs). ``log``: notes (a model
    class's module that changed since the run)."""
    out = Path(out)
    if out.is_dir() or (out.exists() and not overwrite):
        raise UserError(f"{out} already exists; choose another --out FILE or pass --force to replace it")
    if not inputs:
        raise UserError("give the inputs to predict: image files or folders, CSV files or text files")
    found = _trained.load(run_dir, arm, seed, log=log)
    ids, x = read(found.state, [Path(p) for p in inputs], found.folder, column)
    probs = probabilities(found.model, x, batch_size)
    classes = found.state["classes"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["input", "predicted", *(f"p_{c}" for c in classes)])
    for name, p in zip(ids, probs.tolist()):
        writer.writerow([name, classes[int(np.argmax(p))], *(repr(v) for v in p)])
    try:
        atomic_write_text(out, text.getvalue())
    except OSError as e:
        raise UserError(f"cannot write {out} ({e.strerror or e}); choose another --out FILE") from None
    return out, len(ids)


def probabilities(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """softmax(model(x)) (N, classes) in eval mode, ``batch_size`` rows at a time."""
    model.eval()
    with torch.no_grad():
        return torch.cat([torch.softmax(model(x[i:i + batch_size]).float(), 1) for i in range(0, len(x), batch_size)])


def read(state: dict, paths: list[Path], folder: Path, column: str | None = None) -> tuple[list[str], torch.Tensor]:
    """(an id per input, the inputs as the network reads them) from files of the kind the run was trained on."""
    for p in paths:
        if not p.exists():
            raise UserError(f"input {p} does not exist")
    kind = state["kind"]
    if kind == "image":
        ids, raw = _images(state, paths)
        return ids, preprocessing.images(state, raw)
    if kind == "table":
        tables = [read_csv(_suffixed(p, (".csv",), kind)) for p in paths]
        key = state["table"].get("id")
        ids = [r[t.columns.index(key)] if key in t.columns else f"{t.path}:{i + 1}"
               for t in tables for i, r in enumerate(t.rows)]
        return ids, torch.cat([preprocessing.rows(state, t) for t in tables])
    ids, docs = [], []
    for p in paths:
        _suffixed(p, (".txt", ".csv"), kind)
        for name, doc in (_csv_texts(p, column) if p.suffix.lower() == ".csv" else _lines(p)):
            ids.append(name)
            docs.append(doc)
    if not docs:
        raise UserError(f"{', '.join(map(str, paths))}: no text to predict (every line is blank)")
    return ids, preprocessing.texts(state, docs, folder)


def _suffixed(path: Path, suffixes: tuple[str, ...], kind: str) -> Path:
    if path.is_dir() or path.suffix.lower() not in suffixes:
        what = "a folder" if path.is_dir() else f"a {path.suffix or 'suffix-less'} file"
        raise UserError(f"input {path} is {what}; this model ({kind}) reads {_READS[kind]}")
    return path


def _images(state: dict, paths: list[Path]) -> tuple[list[str], torch.Tensor]:
    """uint8 (N, C, H, W) of the training size and channels."""
    channels, height, width = state["image"]["stored_shape"]
    if channels not in (1, 3):
        raise UserError(f"this model reads {channels}-channel images; only grey (1) or RGB (3) image files can be "
                        "converted — pass .npy arrays of raw images instead")
    ids, arrays = [], []
    for p in paths:
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not files:
                raise UserError(f"folder {p} holds no image file ({', '.join(sorted(IMAGE_SUFFIXES))})")
        elif p.suffix.lower() == ".npy":
            x = _npy(p, (channels, height, width))
            ids += [f"{p}[{i}]" for i in range(len(x))]
            arrays.append(x)
            continue
        else:
            files = [_suffixed(p, tuple(IMAGE_SUFFIXES), "image")]
        ids += [str(f) for f in files]
        arrays.append(np.stack([_image(f, channels == 1, (height, width)) for f in files]))
    return ids, torch.from_numpy(np.concatenate(arrays))


def _image(path: Path, grey: bool, size: tuple[int, int]) -> np.ndarray:
    """One image file as uint8 (C, H, W), converted and resized as readers.read_image_folder does."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, readers.MAX_IMAGE_PIXELS
        try:
            with Image.open(path) as im:
                im = im.convert("L" if grey else "RGB")
                if (im.height, im.width) != size:
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UserError(f"image {path} is too large to open safely (over {readers.MAX_IMAGE_PIXELS:,} "
                            "pixels); shrink it") from None
        except (UnidentifiedImageError, OSError) as e:
            raise UserError(f"cannot decode image {path} ({e}); pass image files") from None
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _npy(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path} as a NumPy array ({e})") from None
    if x.ndim == 3 and shape[0] == 1:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise UserError(f"{path} holds an array of shape {x.shape}; this model reads raw images (N, "
                        f"{', '.join(map(str, shape))}) — or pass image files, which are resized")
    if not np.issubdtype(x.dtype, np.number) or x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 255
                                                             or not np.isfinite(x).all()):
        raise UserError(f"{path}: raw images hold numbers from 0 to 255 (as stored in training), not normalized values")
    return np.rint(x).astype(np.uint8)


def _lines(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path} as UTF-8 text ({e})") from None
    return [(f"{path}:{n}", line) for n, line in enumerate(lines, 1) if line.strip()]


def _csv_texts(path: Path, column: str | None) -> list[tuple[str, str]]:
    """A CSV's text column (comma-separated, as spreadsheets write it: texts hold the characters a sniffer would take
    for delimiters)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header, *rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as e:
        raise UserError(f"cannot read {path} as a CSV file with a header line ({e})") from None
    header = [c.strip() for c in header]
    if column is None:
        named = [c for c in header if c.lower() in ("text", "review", "title", "description", "message")]
        if len(header) == 1 or len(named) == 1:
            column = header[0] if len(header) == 1 else named[0]
        else:
            raise UserError(f"{path} has columns {', '.join(header)}; name the text column with --column")
    if column not in header:
        raise UserError(f"--column '{column}' is not a column of {path}; its columns: {', '.join(header)}")
    j = header.index(column)
    short = next((i for i, r in enumerate(rows) if r and len(r) <= j), None)
    if short is not None:
        raise UserError(f"{path}: row {short + 2} has {len(rows[short])} fields, no '{column}'; fix the file")
    return [(f"{path}:{i + 1}", r[j]) for i, r in enumerate(rows) if r]
