"""Data: registered datasets and readers for published formats, in memory as tensors.

``load(DataConfig, split_seed)`` returns a :class:`Dataset` with train / val / test splits;
``Dataset.batches(...)`` gives mini-batches. See docs/study-file.md for the ``data:`` section.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deepstudy.config import DataConfig
from deepstudy.data import corpus, nab, own, readers, registry, table
from deepstudy.data.dataset import Dataset, permute_labels, tokenize  # noqa: F401  (re-exported)
from deepstudy.data.loader import IMAGENET_MEAN, IMAGENET_STD, Batches, ImageTransform  # noqa: F401  (re-exported)
from deepstudy.data.loader import center_crop
from deepstudy.data.tokens import BucketBatches  # noqa: F401  (re-exported)
from deepstudy.data.registry import REGISTRY, DatasetSpec
from deepstudy.data.loaders_series import _load_nab, _load_own_series, _load_series, _nab_dataset  # noqa: F401
from deepstudy.data.loaders_text import _TEXT_FIELDS, _load_own_text, _load_text, _text_files  # noqa: F401
from deepstudy.data.splits import (_TEST_SPLIT_SEED, _check_split_sizes, _finish_split, _hold_out_test,  # noqa: F401
                                   _limit, stratified_split, stratified_subset)
from deepstudy.errors import UserError
from deepstudy.repro import derive_seed

__all__ = ["Dataset", "load", "Batches", "REGISTRY", "DatasetSpec", "registry"]

# A fixed seed for test hold-outs of data that ships no test split: the test set must not move
# when a study changes its seed.


def is_text(cfg: DataConfig) -> bool:
    spec = REGISTRY.get(cfg.name)
    return (cfg.format or (spec.format if spec else None)) == "text-csv"


def load(cfg: DataConfig, split_seed: int, series_csv: str = "windows") -> Dataset:
    """Read, split (stratified validation split from training data) and encode one dataset. ``series_csv``: what
    data.format series-csv is read as, where one format serves two tasks (its ``Task.series_csv``): "windows"
    (forecasting windows) or "anomaly" (one NAB-style series per column, for anomaly detection).

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
        return _read(cfg, spec, fmt, folder, split_seed, source, series_csv)
    if cfg.path is None:
        raise UserError(f"data.format '{fmt}' needs data.path (the folder or file to read)")
    folder = Path(cfg.path).expanduser()
    if not folder.exists():
        raise UserError(f"data.path '{folder}' does not exist; point it at the file or folder to read")
    source.update(folder=str(folder), own=True)
    ds = _read(cfg, None, fmt, folder, split_seed, source, series_csv)
    test_file = (Path(cfg.test_path).expanduser(),) if fmt == "text-csv" and cfg.test_path else ()
    read = None
    if fmt == "nab" and folder.is_dir():  # the series read and their labels, not every file of a NAB checkout
        read = sorted({*(s.path for s in ds.extra["series"]), folder / nab.WINDOWS})
    source["sha256"], files = own.digests(folder, test_file, read)  # computed now: nothing to verify against
    source["description"] = own.describe(fmt, folder, ds.summary(), source.get("rows"), files)
    return ds


def _read(cfg: DataConfig, spec: DatasetSpec | None, fmt: str, folder: Path | None, split_seed: int, source: dict,
          series_csv: str) -> Dataset:
    if cfg.center_crop and fmt not in ("idx", "image-folder", "digits"):
        raise UserError(f"data.center_crop crops images; '{cfg.name}' is read as {fmt} — remove data.center_crop")
    if fmt == "series-csv":
        return _load_own_series(cfg, folder, source, series_csv)
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
    source_shape = tuple(x.shape[1:])
    if cfg.center_crop:
        x, x_test = _crop(cfg, x, x_test, notes)
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
    elif cfg.normalize:  # per-channel statistics of the training split only, summed in float64 by NumPy: a
        # threaded float32 torch reduction gave a mean one ulp apart at 1 and 2 threads (so an executor's worker, or a
        # second run in one process after train.threads, trained on other inputs); NumPy's pairwise sum has one order
        flat = np.moveaxis(parts[0].numpy(), 1, 0).reshape(x_train.shape[1], -1) / 255.0
        mean = torch.from_numpy(flat.mean(1).astype(np.float32))
        std = torch.from_numpy(np.maximum(flat.std(1, ddof=1), 1e-6).astype(np.float32))
    else:
        mean, std = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
    # every training image, labels ignored: the pool a self-supervised pretext task may learn from (data.train_limit
    # limits the labelled ones; the test split is never in it)
    extra = {"unlabelled": torch.from_numpy(np.ascontiguousarray(x))} if cfg.train_limit else {}
    if cfg.imagenet_input:
        extra["model_input"] = (3, cfg.imagenet_input, cfg.imagenet_input)
    if cfg.center_crop:  # what new images are read at before the same crop (data.preprocessing)
        extra.update(source_shape=source_shape, center_crop=tuple(cfg.center_crop))
    return Dataset(cfg.name, "image", classes, *parts, mean=mean, std=std, source=source, notes=notes, extra=extra)


def _crop(cfg: DataConfig, x: np.ndarray, x_test: np.ndarray, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """data.center_crop on the train (+ validation) and test images, once: every later step reads the crop."""
    (h, w), (height, width) = cfg.center_crop, x.shape[2:]
    if not (0 < h <= height and 0 < w <= width):
        raise UserError(f"data.center_crop [{h}, {w}] does not fit the {height} x {width} images of '{cfg.name}'; "
                        f"give a height and width from 1 to [{height}, {width}], or remove it")
    notes.append(f"images cropped to their central {h} x {w} pixels (of {height} x {width}), every split alike")
    return center_crop(x, (h, w)), center_crop(x_test, (h, w))


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
