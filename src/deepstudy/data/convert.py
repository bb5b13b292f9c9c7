"""Our on-disk files made from the published archives, deterministically: the same archive gives the same bytes.

Each converter takes the folder the published file was extracted into (or that holds it) and returns the contents
of our files, uncompressed: {file name: bytes}. The layouts are the ones ``shared/data/*/SOURCE.md`` describe, and
the readers in ``data/text.py`` and ``data/series.py`` read. A ``.gz`` file is compressed by :func:`gzip_candidates`.
"""
from __future__ import annotations

import csv
import io
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from deepstudy.errors import UserError


def gzip_candidates(data: bytes) -> Iterator[bytes]:
    """``data`` gzipped the way our shared copies were (``gzip -n -9``), then, where that tool is missing or differs,
    the same stream from zlib with a fixed header — deterministic, and recorded as a second accepted digest."""
    tool = shutil.which("gzip")
    if tool:
        done = subprocess.run([tool, "-n", "-9", "-c"], input=data, capture_output=True)
        if done.returncode == 0:
            yield done.stdout
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9)  # raw deflate, 32 KiB window, memLevel 9 (as gzip -9)
    body = deflate.compress(data) + deflate.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"  # magic, deflate, no name, mtime 0, best compression, Unix
    yield header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def _csv(rows: list[list]) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows(rows)  # QUOTE_MINIMAL, '"' doubled: RFC 4180
    return buf.getvalue()


def _folder(root: Path, *parts: str, published: str) -> Path:
    folder = root.joinpath(*parts)
    if not folder.is_dir():
        raise UserError(f"{published} lacks {'/'.join(parts)}/; it is not the published archive — delete it and "
                        "fetch again")
    return folder


def imdb(root: Path) -> dict[str, bytes]:
    """aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt -> {split}.csv.gz: header id,rating,label,text; label 0 = neg;
    the text exactly as in the file (UTF-8); rows sorted by (label, id)."""
    out = {}
    for split in ("train", "test"):
        rows = []
        for label, polarity in enumerate(("neg", "pos")):
            for path in _folder(root, "aclImdb", split, polarity, published="aclImdb_v1.tar.gz").glob("*.txt"):
                review, _, rating = path.stem.partition("_")
                if not (review.isdigit() and rating.isdigit()):
                    raise UserError(f"aclImdb_v1.tar.gz: {path.name} is not named <id>_<rating>.txt")
                rows.append((label, int(review), int(rating), path.read_bytes().decode("utf-8")))
        rows.sort(key=lambda r: (r[0], r[1]))
        out[f"{split}.csv"] = _csv([["id", "rating", "label", "text"]]
                                   + [[i, rating, label, text] for label, i, rating, text in rows]).encode("utf-8")
    return out


def newsgroups(root: Path) -> dict[str, bytes]:
    """20news-bydate-{train,test}/<group>/<file> -> 20news-bydate-{split}.csv.gz: header group,text; the message
    decoded as latin-1 (so it round-trips to the original bytes); groups sorted, files in string order within a group
    (the order of scikit-learn's load_files)."""
    out = {}
    for split in ("train", "test"):
        folder = _folder(root, f"20news-bydate-{split}", published="20news-bydate.tar.gz")
        rows = [["group", "text"]]
        for group in sorted(p.name for p in folder.iterdir() if p.is_dir()):
            for name in sorted(p.name for p in (folder / group).iterdir() if p.is_file()):
                rows.append([group, (folder / group / name).read_bytes().decode("latin-1")])
        out[f"20news-bydate-{split}.csv"] = _csv(rows).encode("utf-8")
    return out


def air_quality(root: Path) -> dict[str, bytes]:
    """AirQualityUCI.csv as published (';'-separated, decimal comma, CRLF), unchanged."""
    found = sorted(root.rglob("AirQualityUCI.csv"))
    if not found:
        raise UserError("the UCI Air Quality zip holds no AirQualityUCI.csv; delete it and fetch again")
    return {"AirQualityUCI.csv": found[0].read_bytes()}


def plain(root: Path) -> dict[str, bytes]:
    """The downloaded file itself (compressed by the caller when our file is .gz)."""
    return {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}


CONVERTERS: dict[str, Callable[[Path], dict[str, bytes]]] = {
    "imdb": imdb, "20newsgroups": newsgroups, "air-quality": air_quality, "gzip": plain,
}


def keep(convert: str) -> Callable[[str], bool]:
    """Which archive members a converter reads (the others are checked but never written)."""
    if convert == "imdb":
        def labelled(name: str) -> bool:
            parts = name.split("/")
            return (len(parts) == 4 and parts[0] == "aclImdb" and parts[1] in ("train", "test")
                    and parts[2] in ("neg", "pos") and parts[3].endswith(".txt"))
        return labelled
    if convert == "air-quality":
        return lambda name: name.rsplit("/", 1)[-1] == "AirQualityUCI.csv"
    return lambda name: True
