"""Text datasets in their published CSV formats (readers only; tokenizers and vocabularies come with
the sequence-model work)."""
from __future__ import annotations

import csv
import gzip
import html
import io
import re
import sys
from pathlib import Path

import numpy as np

from deepstudy.errors import UserError

_ENTITY = re.compile(r" #(\d+);")  # AG News writes HTML entities as ' #36;' (for '&#36;' = '$')


def clean_ag_news(text: str) -> str:
    text = _ENTITY.sub(lambda m: html.unescape(f"&#{m.group(1)};"), text)
    return html.unescape(text.replace("\\n", " ").replace("\\", " ")).strip()


def read_ag_news(folder: Path, split: str = "test") -> tuple[list[str], list[str], np.ndarray, list[str]]:
    """(titles, descriptions, labels 0..3, class names) of AG News ``{split}.csv[.gz]`` in ``folder``."""
    folder = Path(folder)
    path = next((p for p in (folder / f"{split}.csv.gz", folder / f"{split}.csv") if p.is_file()), None)
    if path is None:
        raise UserError(f"AG News {split}.csv(.gz) not found in {folder}; put the published file there")
    classes_file = folder / "classes.txt"
    classes = (classes_file.read_text().split() if classes_file.is_file()
               else ["World", "Sports", "Business", "Sci/Tech"])
    rows = _read_csv_gz(path, "utf-8")
    bad = next((i for i, r in enumerate(rows) if len(r) != 3 or not r[0].isdigit()), None)
    if bad is not None:
        raise UserError(f"{path}: line {bad + 1} is not '\"class\",\"title\",\"description\"' (AG News format)")
    labels = np.asarray([int(r[0]) - 1 for r in rows], dtype=np.int64)
    return [clean_ag_news(r[1]) for r in rows], [clean_ag_news(r[2]) for r in rows], labels, classes


def _read_csv_gz(path: Path, encoding: str) -> list[list[str]]:
    csv.field_size_limit(sys.maxsize)  # one 20 Newsgroups message is 160k characters
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return list(csv.reader(io.StringIO(raw.decode(encoding), newline="")))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, gzip.BadGzipFile) as e:
        raise UserError(f"cannot read {path} ({e}); the file is damaged — replace it with the published "
                        "one") from None


def read_imdb(folder: Path, split: str = "train") -> tuple[list[str], np.ndarray, list[str]]:
    """(reviews, labels 0 = negative / 1 = positive, class names) of ``{split}.csv.gz`` (header id,rating,label,text).
    The text is kept as published, HTML line breaks included: the tokenizer strips them."""
    path = Path(folder) / f"{split}.csv.gz"
    if not path.is_file():
        raise UserError(f"IMDB file {path.name} not found in {folder}; put the published file there "
                        "(shared/data/imdb/SOURCE.md)")
    rows = _read_csv_gz(path, "utf-8")
    if (not rows or rows[0] != ["id", "rating", "label", "text"]
            or any(len(r) != 4 or r[2] not in ("0", "1") for r in rows[1:])):
        raise UserError(f"{path}: expected a CSV with header 'id,rating,label,text' and label 0/1 "
                        "(the IMDB format of SOURCE.md)")
    return [r[3] for r in rows[1:]], np.asarray([int(r[2]) for r in rows[1:]], dtype=np.int64), ["negative", "positive"]


_SUBJECT = re.compile(r"^Subject:[ \t]*(.*)$", re.MULTILINE)


def subject_line(message: str) -> str:
    """The Subject header of a Usenet message ('' when it has none); only the header block is searched."""
    header = message.split("\n\n", 1)[0]
    m = _SUBJECT.search(header)
    return m.group(1).strip() if m else ""


def read_20newsgroups(folder: Path, split: str = "train") -> tuple[list[str], np.ndarray, list[str]]:
    """(messages, labels, group names) of ``20news-bydate-{split}.csv.gz``: a UTF-8 CSV (header ``group,text``) of the
    messages as scikit-learn reads them (each file decoded as latin-1; shared/data/20newsgroups/SOURCE.md)."""
    path = Path(folder) / f"20news-bydate-{split}.csv.gz"
    if not path.is_file():
        raise UserError(f"20 Newsgroups file {path.name} not found in {folder}; put the published file there")
    rows = _read_csv_gz(path, "utf-8")  # read as latin-1 before 2026-12-07: 44 of 11,314 training posts garbled
    if not rows or rows[0] != ["group", "text"] or any(len(r) != 2 for r in rows[1:]):
        raise UserError(f"{path}: expected a CSV with header 'group,text' and two fields per row "
                        "(20 Newsgroups format)")
    groups = sorted({r[0] for r in rows[1:]})
    index = {g: i for i, g in enumerate(groups)}
    return [r[1] for r in rows[1:]], np.asarray([index[r[0]] for r in rows[1:]], dtype=np.int64), groups
