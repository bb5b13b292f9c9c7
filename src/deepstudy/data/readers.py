"""Readers for image data in published formats: IDX (MNIST family), image folders, sklearn digits.

Each returns uint8 arrays ``(N, C, H, W)`` and int64 labels; normalization happens later, with
statistics of the training split only.
"""
from __future__ import annotations

import gzip
import math
import warnings
import zlib
from pathlib import Path

import numpy as np

from deepstudy.errors import UserError

# IDX type codes -> numpy big-endian dtypes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_REFETCH = "re-fetch it (`deepstudy data fetch NAME`) or replace the file"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into an array of its declared shape."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
        raise UserError(f"{path} is not a readable (gzip) IDX file ({e}); the file is truncated or corrupt — "
                        f"{_REFETCH}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}); {_REFETCH}")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path} is truncated inside its header; {_REFETCH}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 0 or 0 in shape:
        raise UserError(f"{path} holds no items: its header declares shape {shape}; an IDX file of images is "
                        f"(N, H, W) and one of labels (N,), with N >= 1 — {_REFETCH}")
    expected = math.prod(shape) * dtype.itemsize  # Python integers: dimensions of 2^32 - 1 cannot wrap around
    if len(raw) - header != expected:
        raise UserError(f"{path} is truncated or corrupt: its header declares shape {shape} ({expected:,} bytes of "
                        f"data) but it holds {len(raw) - header:,}; {_REFETCH}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _one(folder: Path, patterns: list[str], what: str) -> Path:
    for pattern in patterns:
        hits = sorted(p for p in folder.glob(pattern) if p.is_file())
        if hits:
            return hits[0]
    raise UserError(f"no {what} IDX file in {folder} (looked for {', '.join(patterns)}); "
                    "an IDX dataset folder holds train-images/train-labels and t10k- (or test-) images/labels files")


def read_idx_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Any MNIST-format folder (MNIST, Fashion-MNIST, KMNIST, ...): train and test images/labels."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"IDX data folder '{folder}' does not exist; set data.path to the folder holding the "
                        "*-idx3-ubyte files")
    found = {
        "train images": _one(folder, ["train-images*idx3*", "train*images*"], "train images"),
        "train labels": _one(folder, ["train-labels*idx1*", "train*labels*"], "train labels"),
        "test images": _one(folder, ["t10k-images*idx3*", "test*images*", "t10k*images*"], "test images"),
        "test labels": _one(folder, ["t10k-labels*idx1*", "test*labels*", "t10k*labels*"], "test labels"),
    }
    arrays = {k: read_idx(p) for k, p in found.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split} images"], arrays[f"{split} labels"]
        if x.ndim not in (3, 4) or y.ndim != 1 or len(x) != len(y):
            raise UserError(f"{found[f'{split} images']} and its labels disagree: images {x.shape}, labels {y.shape}; "
                            "expected images (N, H, W) and labels (N,)")
        if not np.issubdtype(y.dtype, np.integer):
            raise UserError(f"{found[f'{split} labels']} holds {y.dtype} labels; class labels are whole numbers "
                            "0..K-1 (an IDX label file of type ubyte or int)")
        if len(y) and y.min() < 0:
            raise UserError(f"{found[f'{split} labels']} has a negative label ({int(y.min())}); class labels are "
                            "0..K-1")

    def images(x: np.ndarray) -> np.ndarray:
        return (x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)).astype(np.uint8, copy=False)
    return (images(arrays["train images"]), arrays["train labels"].astype(np.int64),
            images(arrays["test images"]), arrays["test labels"].astype(np.int64))


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
# The largest image an image folder may hold: 64 megapixels (an 8000 x 8000 photo). A larger one is refused before it
# is decoded — a "decompression bomb" (a small PNG that expands to gigabytes) would otherwise exhaust the memory.
MAX_IMAGE_PIXELS = 64_000_000


def read_image_folder(folder: Path, *, image_size: tuple[int, int] | None, grayscale: bool,
                      classes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``folder/<class>/*.png`` -> uint8 (N, C, H, W), labels, class names (sorted folder names)."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder '{folder}' does not exist; set data.path to a folder with one sub-folder "
                        "per class")
    classes = classes or sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise UserError(f"image folder '{folder}' needs one sub-folder per class (found {len(classes)}); "
                        f"e.g. {folder}/cat/1.png, {folder}/dog/2.png")
    images, labels = [], []
    with warnings.catch_warnings():  # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that: both refused
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS
        try:
            _read_classes(folder, classes, image_size, grayscale, images, labels)
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    if not images:
        raise UserError(f"no images ({', '.join(sorted(_IMAGE_SUFFIXES))}) found under {folder}/<class>/")
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes


def _read_classes(folder: Path, classes: list[str], image_size: tuple[int, int] | None, grayscale: bool,
                  images: list[np.ndarray], labels: list[int]) -> None:
    """Decode every image of ``folder/<class>/`` into ``images`` (resized to ``image_size``, default the first
    image's) and its class index into ``labels``."""
    from PIL import Image, UnidentifiedImageError

    for label, name in enumerate(classes):
        for file in sorted((folder / name).iterdir()) if (folder / name).is_dir() else []:
            if file.suffix.lower() not in _IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as im:
                    im = im.convert("L" if grayscale else "RGB")
                    if image_size is None:
                        image_size = (im.height, im.width)
                    if (im.height, im.width) != tuple(image_size):
                        im = im.resize((image_size[1], image_size[0]), Image.BILINEAR)
                    arr = np.asarray(im, dtype=np.uint8)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                raise UserError(f"image {file} is too large to open safely ({e}); deepstudy opens images of at most "
                                f"{MAX_IMAGE_PIXELS:,} pixels — shrink it or remove it") from None
            except (UnidentifiedImageError, OSError) as e:
                raise UserError(f"cannot decode image {file} ({e}); remove or replace it") from None
            images.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
            labels.append(label)


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as uint8 (1797, 1, 8, 8), rescaled from 0..16 to 0..255."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]
    return x, d.target.astype(np.int64)


def check_labels(y: np.ndarray, n_classes: int, name: str) -> None:
    """Labels 0..K-1 with every class in the training data: a stray label (255 in a 10-class file) would
    otherwise make a model of 256 classes, and one class alone leaves nothing to classify."""
    missing = sorted(set(range(n_classes)) - set(np.unique(y).tolist()))
    if n_classes < 2:
        raise UserError(f"dataset '{name}' has one class only: there is nothing to classify")
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise UserError(f"dataset '{name}': labels go up to {n_classes - 1} but no training example has label "
                        f"{shown}; class labels must be 0..K-1 with every class present (a stray label?)")
