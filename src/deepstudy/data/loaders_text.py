"""Text datasets as raw strings per split: the registered ones (IMDB, 20 Newsgroups, AG News) and your own text CSV
(``data.format: text-csv``, deepstudy.data.own). Models that read text vectorize or tokenize them (deepstudy.data).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.config import DataConfig
from deepstudy.data import own, readers, text
from deepstudy.data.dataset import Dataset
from deepstudy.data.registry import DatasetSpec
from deepstudy.data.splits import _finish_split, _hold_out_test
from deepstudy.errors import UserError

_AG_FIELDS = ("title", "description", "title+description")
_TEXT_FIELDS = {"ag-news": _AG_FIELDS, "ag-news-full": _AG_FIELDS, "20newsgroups": ("subject", "message"),
                "imdb": ("review",)}


def _load_text(cfg: DataConfig, spec: DatasetSpec | None, folder: Path, split_seed: int, source: dict) -> Dataset:
    """Raw strings per split; models that read text vectorize them on the training split (task: classical)."""
    if spec is None:
        return _load_own_text(cfg, folder, split_seed, source)
    if spec.name not in _TEXT_FIELDS:
        raise UserError(f"dataset '{cfg.name}' has no text reader; text datasets are {', '.join(_TEXT_FIELDS)}")
    fields = _TEXT_FIELDS[spec.name]
    field_name = cfg.text_field or fields[0]
    if field_name not in fields:
        raise UserError(f"data.text_field '{field_name}' does not exist in {spec.name}; "
                        f"choose one of {', '.join(fields)}")
    notes = [f"text field: {field_name}"]
    if spec.name == "ag-news":  # the published test split only: a fixed stratified hold-out is our test set
        x, y, classes = _ag_news(folder, "test", field_name)
        x, y, x_test, y_test = _hold_out_test(x, y, cfg.test_fraction, notes)
    elif spec.name == "ag-news-full":  # the published split: 120,000 train / 7,600 test
        x, y, classes = _ag_news(folder, "train", field_name)
        x_test, y_test, _ = _ag_news(folder, "test", field_name)
        notes.append(f"the published split: {len(y):,} train / {len(y_test):,} test")
    elif spec.name == "imdb":
        x, y, classes = text.read_imdb(folder, "train")
        x_test, y_test, _ = text.read_imdb(folder, "test")
        x, x_test = np.asarray(x, dtype=object), np.asarray(x_test, dtype=object)
    else:
        train_docs, y, classes = text.read_20newsgroups(folder, "train")
        test_docs, y_test, _ = text.read_20newsgroups(folder, "test")
        pick = text.subject_line if field_name == "subject" else (lambda m: m)
        x = np.asarray([pick(m) for m in train_docs], dtype=object)
        x_test = np.asarray([pick(m) for m in test_docs], dtype=object)
    parts = _finish_split(cfg, x, y, x_test, y_test, split_seed, notes)
    return Dataset(cfg.name, "text", list(classes), *parts, source=source, notes=notes)


def _ag_news(folder: Path, split: str, field_name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(texts of ``field_name``, labels 0..3, class names) of AG News ``{split}.csv.gz``."""
    titles, descriptions, y, classes = text.read_ag_news(folder, split)
    docs = {"title": titles, "description": descriptions,
            "title+description": [f"{a} {b}" for a, b in zip(titles, descriptions)]}[field_name]
    return np.asarray(docs, dtype=object), y, classes


def _text_files(path: Path, test_path: str | None) -> tuple[Path, Path | None]:
    """(training file, test file or None) of text-csv data: ``path`` itself, or a folder's train.csv[.gz] (and
    test.csv[.gz]) or its one CSV; ``test_path`` names the test file."""
    test = Path(test_path).expanduser() if test_path else None
    if test is not None and not test.is_file():
        raise UserError(f"data.test_path '{test}' is not a file; point it at the test CSV (laid out like data.path)")
    if path.is_file():
        return path, test
    def pick(stem: str) -> Path | None:
        return next((path / f for f in (f"{stem}.csv", f"{stem}.csv.gz") if (path / f).is_file()), None)

    if pick("train"):
        return pick("train"), test or pick("test")
    csvs = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    if len(csvs) != 1:
        raise UserError(f"data.path '{path}' is a folder with {len(csvs)} CSV files and no train.csv; point data.path "
                        "at one file (and data.test_path at a test file)")
    return csvs[0], test


def _load_own_text(cfg: DataConfig, path: Path, split_seed: int, source: dict) -> Dataset:
    """data.format: text-csv on the user's own file(s): a text column, a label column (data/own.py)."""
    train_file, test_file = _text_files(path, cfg.test_path)
    docs, labels, info = own.read_text_csv(train_file, cfg.text_column, cfg.label_column)
    classes = own.class_names(labels)
    if len(classes) < 2:
        raise UserError(f"{train_file}: every row has the label '{classes[0]}' in column '{cfg.label_column}'; "
                        "there is nothing to classify")
    index = {c: i for i, c in enumerate(classes)}
    notes = [f"{info['file']}: {info['rows']:,} rows ({info['encoding']}, {info['delimiter']}-separated); text column "
             f"'{cfg.text_column}', label column '{cfg.label_column}'"]
    x, y = np.asarray(docs, dtype=object), np.asarray([index[c] for c in labels], dtype=np.int64)
    if test_file is not None:
        test_docs, test_labels, test_info = own.read_text_csv(test_file, cfg.text_column, cfg.label_column)
        unknown = sorted(set(test_labels) - set(classes))
        if unknown:
            raise UserError(f"{test_file}: label(s) {', '.join(repr(u) for u in unknown[:5])} never appear in "
                            f"{train_file.name}; a model cannot learn a class it never sees — fix the labels")
        x_test = np.asarray(test_docs, dtype=object)
        y_test = np.asarray([index[c] for c in test_labels], dtype=np.int64)
        notes.append(f"test set: {test_info['file']} ({test_info['rows']:,} rows)")
        source["rows"] = info["rows"] + test_info["rows"]
    else:
        x, y, x_test, y_test = _hold_out_test(x, y, cfg.test_fraction, notes)
        source["rows"] = info["rows"]
    counts = np.bincount(np.r_[y, y_test], minlength=len(classes))
    notes.append("class balance: " + ", ".join(f"{c} {n / counts.sum():.1%}" for c, n in zip(classes, counts)))
    readers.check_labels(y, len(classes), cfg.name)
    parts = _finish_split(cfg, x, y, x_test, y_test, split_seed, notes)
    return Dataset(cfg.name, "text", classes, *parts, source=source, notes=notes)
