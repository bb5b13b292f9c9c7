"""Data: registered datasets and readers for published formats, in memory as tensors.

``load(DataConfig, split_seed)`` returns a :class:`Dataset` with train / val / test splits;
``Dataset.batches(...)`` gives mini-batches. See docs/study-file.md for the ``data:`` section.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deepstudy import nab as nab_scoring
from deepstudy.config import DataConfig
from deepstudy.data import corpus, nab, own, readers, registry, series, table, text
from deepstudy.data.dataset import Dataset, permute_labels, tokenize  # noqa: F401  (re-exported)
from deepstudy.data.loader import IMAGENET_MEAN, IMAGENET_STD, Batches, ImageTransform  # noqa: F401  (re-exported)
from deepstudy.data.tokens import BucketBatches  # noqa: F401  (re-exported)
from deepstudy.data.registry import REGISTRY, DatasetSpec
from deepstudy.data.splits import stratified_split, stratified_subset
from deepstudy.errors import UserError
from deepstudy.repro import derive_seed

__all__ = ["Dataset", "load", "Batches", "REGISTRY", "DatasetSpec", "registry"]

# A fixed seed for test hold-outs of data that ships no test split: the test set must not move
# when a study changes its seed.
_TEST_SPLIT_SEED = 20261121


def is_text(cfg: DataConfig) -> bool:
    spec = REGISTRY.get(cfg.name)
    return (cfg.format or (spec.format if spec else None)) == "text-csv"


def load(cfg: DataConfig, split_seed: int, task: str | None = None) -> Dataset:
    """Read, split (stratified validation split from training data) and encode one dataset. ``task``: the study's
    task, where one format serves two (series-csv: forecasting windows, or NAB-style series for reconstruct).

    ``data.path`` with ``data.format`` is a new dataset of the user's own: no registry checksum, description or
    class names apply, whatever ``data.name`` says; the source records what was read and its sha256.

    Example:
        >>> from deepstudy import data
        >>> from deepstudy.config import DataConfig
        >>> ds = data.load(DataConfig(name="digits"), split_seed=0)   # scikit-learn's 8x8 digits: no download
        >>> ds.kind, ds.input_shape, ds.num_classes
        ('image', (1, 8, 8), 10)
        >>> x, y = next(iter(ds.batches("train", 32, train=True)))
        >>> x.shape, x.dtype
        (torch.Size([32, 1, 8, 8]), torch.float32)
    """
    spec = REGISTRY.get(cfg.name)
    fmt = cfg.format or (spec.format if spec else None)
    if fmt is None:
        registry.get(cfg.name)  # raises the 'unknown dataset' message with suggestions
    if spec is not None and (cfg.format not in (None, spec.format) or (cfg.format and cfg.path)):
        spec = None  # a registered name used as a label for other data: none of its metadata applies
    source: dict = {"format": fmt}
    if spec is not None:
        source.update(description=spec.description, license=spec.license)
        if spec.files:
            folder = registry.locate(spec, cfg.path)
            source.update(folder=str(folder), sha256=registry.verify(spec, folder, given_path=cfg.path is not None))
        else:
            folder = Path(cfg.path) if cfg.path else None
        return _read(cfg, spec, fmt, folder, split_seed, source, task)
    if cfg.path is None:
        raise UserError(f"data.format '{fmt}' needs data.path (the folder or file to read)")
    folder = Path(cfg.path).expanduser()
    if not folder.exists():
        raise UserError(f"data.path '{folder}' does not exist; point it at the file or folder to read")
    source.update(folder=str(folder), own=True)
    ds = _read(cfg, None, fmt, folder, split_seed, source, task)
    test_file = (Path(cfg.test_path).expanduser(),) if fmt == "text-csv" and cfg.test_path else ()
    read = None
    if fmt == "nab" and folder.is_dir():  # the series read and their labels, not every file of a NAB checkout
        read = sorted({*(s.path for s in ds.extra["series"]), folder / nab.WINDOWS})
    source["sha256"], files = own.digests(folder, test_file, read)  # computed now: nothing to verify against
    source["description"] = own.describe(fmt, folder, ds.summary(), source.get("rows"), files)
    return ds


def _read(cfg: DataConfig, spec: DatasetSpec | None, fmt: str, folder: Path | None, split_seed: int, source: dict,
          task: str | None) -> Dataset:
    if fmt == "series-csv":
        return _load_own_series(cfg, folder, source, task)
    if fmt == "csv-table":
        return _load_table(cfg, spec, folder, split_seed, source)
    if fmt == "text-csv":
        return _load_text(cfg, spec, folder, split_seed, source)
    if fmt == "text-corpus":
        return _load_corpus(cfg, folder, source)
    if fmt == "time-series":
        return _load_series(cfg, spec, folder, source)
    if fmt == "synthetic":
        return _load_synthetic(cfg, spec, split_seed, source)
    if fmt == "nab":
        return _load_nab(cfg, folder, source)
    return _load_images(cfg, spec, fmt, folder, split_seed, source)


def _load_images(cfg: DataConfig, spec: DatasetSpec | None, fmt: str, folder: Path | None,
                 split_seed: int, source: dict) -> Dataset:
    notes: list[str] = []
    classes = list(spec.classes) if spec and spec.classes else None
    if fmt == "idx":
        x, y, x_test, y_test = readers.read_idx_folder(folder)
    elif fmt == "image-folder":
        has_splits = (folder / "train").is_dir() and (folder / "test").is_dir()
        root = folder / "train" if has_splits else folder
        x, y, classes = readers.read_image_folder(root, image_size=cfg.image_size, grayscale=cfg.grayscale)
        if has_splits:
            x_test, y_test, _ = readers.read_image_folder(folder / "test", image_size=tuple(x.shape[2:]),
                                                          grayscale=cfg.grayscale, classes=classes)
        else:
            x, y, x_test, y_test = _hold_out_test(x, y, cfg.test_fraction, notes)
    elif fmt == "digits":
        x, y = readers.read_digits()
        x, y, x_test, y_test = _hold_out_test(x, y, cfg.test_fraction, notes)
    else:
        raise UserError(f"data.format '{fmt}' is not an image format")
    n_classes = int(max(y.max(), y_test.max())) + 1
    classes = classes or [str(i) for i in range(n_classes)]
    if len(classes) < n_classes:
        raise UserError(f"labels go up to {n_classes - 1} but only {len(classes)} class names are known")
    readers.check_labels(np.asarray(y), len(classes), cfg.name)
    parts = [torch.from_numpy(np.ascontiguousarray(a))
             for a in _finish_split(cfg, x, y, x_test, y_test, split_seed, notes)]
    x_train = parts[0]
    if cfg.imagenet_input:  # the statistics the published weights were trained with, not this dataset's
        if x_train.shape[1] not in (1, 3):
            raise UserError(f"data.imagenet_input needs grey or RGB images; '{cfg.name}' has {x_train.shape[1]} "
                            "channels")
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        notes.append("ImageNet inputs: grey repeated to 3 channels, resized to "
                     f"{cfg.imagenet_input}x{cfg.imagenet_input} (bilinear, per batch), ImageNet mean and std")
    elif cfg.normalize:  # per-channel statistics of the training split only
        flat = x_train.float().div_(255.0).transpose(0, 1).reshape(x_train.shape[1], -1)
        mean, std = flat.mean(1), flat.std(1).clamp_min(1e-6)
    else:
        mean, std = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
    # every training image, labels ignored: the pool a self-supervised pretext task may learn from (data.train_limit
    # limits the labelled ones; the test split is never in it)
    extra = {"unlabelled": torch.from_numpy(np.ascontiguousarray(x))} if cfg.train_limit else {}
    if cfg.imagenet_input:
        extra["model_input"] = (3, cfg.imagenet_input, cfg.imagenet_input)
    return Dataset(cfg.name, "image", classes, *parts, mean=mean, std=std, source=source, notes=notes, extra=extra)


def _hold_out_test(x: np.ndarray, y: np.ndarray, fraction: float, notes: list[str]):
    keep, test = stratified_split(y, fraction, _TEST_SPLIT_SEED)
    notes.append(f"no published test split: a stratified {fraction:.0%} hold-out (fixed seed {_TEST_SPLIT_SEED}) "
                 "is the test set")
    return x[keep], y[keep], x[test], y[test]


def _limit(y: np.ndarray, limit: int, seed: int, notes: list[str]) -> np.ndarray:
    idx = stratified_subset(y, limit, derive_seed(seed, "train-limit"))
    if len(idx) < len(y):
        notes.append(f"training data limited to a stratified subset of {len(idx)} of {len(y)} examples "
                     "(data.train_limit)")
    return idx


def _load_table(cfg: DataConfig, spec: DatasetSpec | None, folder: Path, split_seed: int, source: dict) -> Dataset:
    options = dict(spec.options) if spec else {}
    path = folder / options["file"] if "file" in options else folder
    if path.is_dir():
        csvs = sorted(path.glob("*.csv"))
        if len(csvs) != 1:
            raise UserError(f"data.path '{path}' is a folder with {len(csvs)} CSV files; point data.path at one file")
        path = csvs[0]
    raw = table.read_csv(path)
    encoder = table.TableEncoder(raw, cfg.target or options.get("target"),
                                 tuple(cfg.drop) or tuple(options.get("drop", ())))
    y, values = encoder.labels()
    notes: list[str] = []
    keep, test = stratified_split(y, cfg.test_fraction, _TEST_SPLIT_SEED)
    notes.append(f"no published test split: a stratified {cfg.test_fraction:.0%} hold-out "
                 f"(fixed seed {_TEST_SPLIT_SEED}) is the test set")
    if cfg.train_limit:
        keep = keep[_limit(y[keep], cfg.train_limit, split_seed, notes)]
    tr, va = stratified_split(y[keep], cfg.val_fraction, derive_seed(split_seed, "val-split"))
    train_rows, val_rows = keep[tr], keep[va]
    _check_split_sizes(cfg, len(train_rows), len(val_rows), len(test))
    encoder.fit(train_rows)  # scaling and one-hot categories from the training rows only
    notes.append(f"{sum(encoder.numeric.values())} numeric columns standardized and "
                 f"{len(encoder.features) - sum(encoder.numeric.values())} categorical columns one-hot encoded, "
                 "fitted on the training split only")
    classes = list(spec.classes) if spec and spec.classes and len(spec.classes) == len(values) else values
    counts = np.bincount(y, minlength=len(values))
    notes.append("class balance: " + ", ".join(f"{v} {c / len(y):.1%}" for v, c in zip(classes, counts)))
    t = lambda r: torch.from_numpy(encoder.transform(r))  # noqa: E731
    source["file"] = str(path)
    extra: dict = {"table": {**encoder.state(), "id": options.get("id")}}  # saved for `deepstudy predict`
    if "id" in options and options["id"] in raw.columns:  # row identifiers (e.g. customers to rank), never a feature
        col = raw.columns.index(options["id"])
        extra["ids"] = {s: [raw.rows[i][col] for i in r]
                        for s, r in (("train", train_rows), ("val", val_rows), ("test", test))}
    return Dataset(cfg.name, "table", classes, t(train_rows), torch.from_numpy(y[train_rows]),
                   t(val_rows), torch.from_numpy(y[val_rows]), t(test), torch.from_numpy(y[test]),
                   source=source, notes=notes, feature_names=encoder.feature_names(), extra=extra)


def _finish_split(cfg: DataConfig, x, y, x_test, y_test, split_seed: int, notes: list[str]):
    """train_limit, then the stratified validation split: (x_train, y_train, x_val, y_val, x_test, y_test)."""
    if cfg.train_limit:
        keep = _limit(y, cfg.train_limit, split_seed, notes)
        x, y = x[keep], y[keep]
    tr, va = stratified_split(y, cfg.val_fraction, derive_seed(split_seed, "val-split"))
    _check_split_sizes(cfg, len(tr), len(va), len(y_test))
    return x[tr], y[tr], x[va], y[va], x_test, y_test


def _check_split_sizes(cfg: DataConfig, train: int, val: int, test: int) -> None:
    """Every split holds an example: an empty one (a test_fraction near 1 leaves one example per class to split
    again) would only fail once training has begun, with the run directory half-written."""
    if min(train, val, test) == 0:
        raise UserError(f"dataset '{cfg.name}' splits into {train} training, {val} validation and {test} test "
                        f"examples; every split needs at least one — lower data.test_fraction ({cfg.test_fraction}) "
                        f"or raise data.val_fraction ({cfg.val_fraction}) or data.train_limit")


_TEXT_FIELDS = {"ag-news": ("title", "description", "title+description"), "20newsgroups": ("subject", "message"),
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
    if spec.name == "ag-news":
        titles, descriptions, y, classes = text.read_ag_news(folder)
        docs = {"title": titles, "description": descriptions,
                "title+description": [f"{a} {b}" for a, b in zip(titles, descriptions)]}[field_name]
        x, y, x_test, y_test = _hold_out_test(np.asarray(docs, dtype=object), y, cfg.test_fraction, notes)
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


def _text_files(path: Path, test_path: str | None) -> tuple[Path, Path | None]:
    """(training file, test file or None) of text-csv data: ``path`` itself, or a folder's train.csv[.gz] (and
    test.csv[.gz]) or its one CSV; ``test_path`` names the test file."""
    test = Path(test_path).expanduser() if test_path else None
    if test is not None and not test.is_file():
        raise UserError(f"data.test_path '{test}' is not a file; point it at the test CSV (laid out like data.path)")
    if path.is_file():
        return path, test
    pick = lambda stem: next((path / f for f in (f"{stem}.csv", f"{stem}.csv.gz") if (path / f).is_file()), None)  # noqa: E731
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


def _load_own_series(cfg: DataConfig, path: Path, source: dict, task: str | None) -> Dataset:
    """data.format: series-csv: forecasting windows, or (task: reconstruct) one NAB-style series per column."""
    if not path.is_file():
        raise UserError(f"data.path '{path}' is a folder; data.format series-csv reads one CSV file "
                        "(a timestamp column, then value columns)")
    s, info = own.read_series_csv(path, cfg.time_column, tuple(cfg.drop))
    source["rows"] = info["rows"]
    read_as = f"{info['encoding']}, {info['delimiter']}-separated, time column '{info['time_column']}'"
    if task == "reconstruct":
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


def _load_synthetic(cfg: DataConfig, spec: DatasetSpec | None, split_seed: int, source: dict) -> Dataset:
    """scikit-learn's 2-D toy problems, generated with a fixed seed: the same points in every study."""
    from sklearn import datasets as skd

    if spec is None:
        raise UserError("data.format 'synthetic' needs a registered generator "
                        f"({', '.join(n for n, s in REGISTRY.items() if s.format == 'synthetic')})")
    o = spec.options
    make = skd.make_moons if o["generator"] == "moons" else lambda **kw: skd.make_circles(factor=0.5, **kw)
    x, y = make(n_samples=o["n"], noise=o["noise"], random_state=_TEST_SPLIT_SEED)
    notes = [f"{o['n']} points from sklearn.datasets.make_{o['generator']}(noise={o['noise']}, "
             f"random_state={_TEST_SPLIT_SEED})"]
    x, y, x_test, y_test = _hold_out_test(x.astype(np.float32), y.astype(np.int64), cfg.test_fraction, notes)
    x_tr, y_tr, x_va, y_va, x_te, y_te = _finish_split(cfg, x, y, x_test, y_test, split_seed, notes)
    mean, std = np.zeros(2, np.float32), np.ones(2, np.float32)
    if cfg.normalize:  # standardized with training statistics, as tables are
        mean, std = x_tr.mean(0), x_tr.std(0) + 1e-12
        x_tr, x_va, x_te = ((a - mean) / std for a in (x_tr, x_va, x_te))
    t = torch.from_numpy
    names = ["x1", "x2"]  # the scaling as a table encoder's state, saved for `deepstudy predict` (CSV columns x1, x2)
    state = {"target": "label", "features": names, "numeric": dict.fromkeys(names, True), "categories": {},
             "stats": {c: [float(m), float(s)] for c, m, s in zip(names, mean, std)}, "id": None}
    return Dataset(cfg.name, "table", list(spec.classes), t(x_tr), t(y_tr), t(x_va), t(y_va), t(x_te), t(y_te),
                   source=source, notes=notes, feature_names=names, extra={"table": state})


def _load_corpus(cfg: DataConfig, folder: Path, source: dict) -> Dataset:
    ids, chars, notes, name = corpus.read(folder, cfg.train_limit)
    source["files"] = [name]
    empty = torch.zeros(0, dtype=torch.long)
    return Dataset(name=cfg.name, kind="corpus", classes=[repr(c)[1:-1] if not c.isalnum() else c for c in chars],
                   x_train=ids["train"], y_train=empty, x_val=ids["val"], y_val=empty, x_test=ids["test"], y_test=empty,
                   source=source, notes=notes, vocab=chars, extra={"sizes": {k: len(v) for k, v in ids.items()}})
