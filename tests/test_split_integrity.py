"""Split integrity: no example is in two of train / val / test, together they are the source rows used, and the
split is a function of the seed (the same seed twice gives it again; another split seed moves train / val but
never a published or fixed test set).

Rows are identified by what the loader hands out (image bytes, the text, the encoded table row) with the label.
The fixtures give every row a unique identity (an id written into the pixels, the text or bit columns), plus a
few exact duplicates, because real data have them: the check is on multisets — each identity occurs in train,
val and test together exactly as often as in the source — and a row that occurs once in the source is in one
split only.
"""
from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from conftest import write_idx

from deepstudy import data
from deepstudy.config import DataConfig

SPLITS = ("train", "val", "test")


def _rows(ds: data.Dataset, split: str) -> list:
    """The identities of a split's rows, in order: (raw bytes or text, label)."""
    x, y = ds.split(split)
    keys = [s for s in x] if ds.kind == "text" else [r.numpy().tobytes() for r in x]
    return list(zip(keys, (int(v) for v in y)))


def assert_partition(ds: data.Dataset, source: Counter, test_source: Counter | None = None,
                     limited: bool = False, rows=_rows) -> None:
    """train, val, test are disjoint and make up ``source`` (with ``test_source``: test is exactly the published
    test set and train + val come from ``source``; ``limited``: train + val are a subset of it)."""
    parts = {s: Counter(rows(ds, s)) for s in SPLITS}
    everything = source + (test_source or Counter())
    once = {k for k, n in everything.items() if n == 1}
    for a, b in combinations(SPLITS, 2):
        shared = parts[a].keys() & parts[b].keys() & once
        assert not shared, f"{ds.kind}: {len(shared)} row(s) of the source are in both {a} and {b}"
    if test_source is not None:
        assert parts["test"] == test_source, f"{ds.kind}: the test split is not the published test set"
        pool = parts["train"] + parts["val"]
    else:
        pool = parts["train"] + parts["val"] + parts["test"]
    extra = pool - source
    assert not extra, f"{ds.kind}: {sum(extra.values())} row(s) used more often than the source holds them"
    if not limited:
        assert pool == source, f"{ds.kind}: {sum((source - pool).values())} source row(s) are in no split"


def assert_seeded(load, rows=_rows) -> None:
    """The same split seed gives the same split, in order; another moves train and val but not test."""
    a, b, c = load(0), load(0), load(1)
    for s in SPLITS:
        assert rows(a, s) == rows(b, s), f"split seed 0 twice gives two different {s} splits"
    assert Counter(rows(a, "val")) != Counter(rows(c, "val")), "another split seed leaves validation as it was"
    assert Counter(rows(a, "train")) != Counter(rows(c, "train")), "another split seed leaves training as it was"
    assert rows(a, "test") == rows(c, "test"), "the test set moved with the split seed"


# --- images: IDX with a published test file, and digits (a fixed hold-out) --------------------------------------

def _idx_images(n: int, first_id: int, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(first_id).integers(0, 256, size=(n, 4, 4)).astype(np.uint8)
    ids = np.arange(first_id, first_id + n)
    x[:, 0, 0], x[:, 0, 1] = ids // 256, ids % 256  # the row's identity, in its pixels
    return x, (ids % classes).astype(np.uint8)


@pytest.fixture
def id_idx(tmp_path):
    x, y = _idx_images(90, 0)
    x, y = np.concatenate([x, x[:3]]), np.concatenate([y, y[:3]])  # three exact duplicates
    x_test, y_test = _idx_images(30, 1000)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x_test)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y_test)
    as_rows = lambda x, y: Counter(zip((r[None].tobytes() for r in x), map(int, y)))
    return tmp_path, as_rows(x, y), as_rows(x_test, y_test)


def test_idx_images_split_is_a_partition_and_seeded(id_idx):
    folder, source, test_source = id_idx
    load = lambda seed, **kw: data.load(DataConfig(name="t", format="idx", path=str(folder),
                                                   val_fraction=0.25, **kw), seed)
    assert_partition(load(0), source, test_source)
    assert_partition(load(3), source, test_source)
    assert_partition(load(0, train_limit=40), source, test_source, limited=True)
    assert_seeded(load)


def test_digits_hold_out_is_a_partition_and_fixed():
    from deepstudy.data import readers

    x, y = readers.read_digits()  # 1,797 images with exact duplicates among them
    source = Counter(zip((r.tobytes() for r in x), map(int, y)))
    load = lambda seed: data.load(DataConfig(name="digits"), seed)
    assert_partition(load(0), source)
    assert_partition(load(4), source)
    assert_seeded(load)


# --- text: AG News (a fixed hold-out) and IMDB (a published test file), in their formats ------------------------

@pytest.fixture
def text_folder(tmp_path, monkeypatch):
    """Tiny AG News and IMDB files; their registry entries without checksums so that data.path can name them."""
    for name in ("ag-news", "imdb"):
        monkeypatch.setitem(data.REGISTRY, name, replace(data.REGISTRY[name], files=()))
    titles = [(f"story {i} about {'abc'[i % 3]}", i % 4) for i in range(120)] + [("a repeated title", 2)] * 3
    ag = tmp_path / "ag"
    ag.mkdir()
    with open(ag / "test.csv", "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows([str(c + 1), t, f"body of {t}"] for t, c in titles)
    reviews = {s: [(f"{s} review {i}", i % 2) for i in range(n)] for s, n in (("train", 80), ("test", 30))}
    reviews["train"] += [("the same review", 1)] * 2
    imdb = tmp_path / "imdb"
    imdb.mkdir()
    for s, rows in reviews.items():
        out = io.StringIO(newline="")
        csv.writer(out).writerows([["id", "rating", "label", "text"]] + [[i, 7, c, t] for i, (t, c) in enumerate(rows)])
        (imdb / f"{s}.csv.gz").write_bytes(gzip.compress(out.getvalue().encode()))
    return ag, Counter(titles), imdb, {s: Counter(r) for s, r in reviews.items()}


def test_text_splits_are_partitions_and_seeded(text_folder):
    ag, ag_source, imdb, imdb_source = text_folder
    load_ag = lambda seed, **kw: data.load(DataConfig(name="ag-news", path=str(ag), **kw), seed)
    load_imdb = lambda seed, **kw: data.load(DataConfig(name="imdb", path=str(imdb), **kw), seed)
    assert_partition(load_ag(0), ag_source)
    assert_partition(load_ag(0, train_limit=30), ag_source, limited=True)
    assert_seeded(load_ag)
    assert_partition(load_imdb(0), imdb_source["train"], imdb_source["test"])
    assert_partition(load_imdb(2, train_limit=20), imdb_source["train"], imdb_source["test"], limited=True)
    assert_seeded(load_imdb)


def test_real_ag_news_split_is_a_partition(shared_data):
    from deepstudy.data import registry, text

    titles, _, y, _ = text.read_ag_news(registry.locate(registry.get("ag-news")))
    assert_partition(data.load(DataConfig(name="ag-news"), 0), Counter(zip(titles, map(int, y))))


# --- tables: a CSV whose rows carry their id in bit columns, and churn --------------------------------------------

BITS = 8


@pytest.fixture
def id_table(tmp_path):
    rows = [[*(str(i >> b & 1) for b in range(BITS)), f"{(i * 37) % 11}.5", "yes" if i % 3 == 0 else "no"]
            for i in range(200)]
    rows += rows[:4]  # four exact duplicates
    path = tmp_path / "t.csv"
    path.write_text("\n".join(",".join(r) for r in [[*(f"b{b}" for b in range(BITS)), "v", "label"], *rows]) + "\n")
    ids = Counter((sum(int(r[b]) << b for b in range(BITS)), int(r[-1] == "yes")) for r in rows)
    return path, ids


def _table_ids(ds: data.Dataset, split: str) -> list:
    """A row's id from its bit columns (0/1 standardized with training statistics: positive is 1)."""
    x, y = ds.split(split)
    bits = np.asarray(x[:, :BITS]) > 0
    return list(zip((int(v) for v in bits @ (1 << np.arange(BITS))), map(int, y)))


def test_csv_table_split_is_a_partition_and_seeded(id_table):
    path, source = id_table
    load = lambda seed, **kw: data.load(DataConfig(name="t", format="csv-table", path=str(path),
                                                   val_fraction=0.2, **kw), seed)
    ds = load(0)
    assert ds.feature_names[:BITS] == [f"b{b}" for b in range(BITS)]
    assert_partition(ds, source, rows=_table_ids)
    assert_partition(load(5, train_limit=60), source, limited=True, rows=_table_ids)
    assert_seeded(load, rows=_table_ids)


def test_churn_split_is_a_partition(shared_data):
    path = shared_data / "dl-az" / "Churn_Modelling.csv"
    if not path.is_file():
        pytest.skip("churn not in the shared data")
    with open(path, newline="") as f:
        raw = list(csv.DictReader(f))
    kept = [tuple(v for k, v in r.items() if k not in ("RowNumber", "CustomerId", "Surname")) for r in raw]
    distinct = len(set(kept))
    ds = data.load(DataConfig(name="churn"), 0)
    parts = {s: Counter(_rows(ds, s)) for s in SPLITS}
    for a, b in combinations(SPLITS, 2):
        assert not parts[a].keys() & parts[b].keys(), f"churn: rows in both {a} and {b}"
    assert sum(sum(p.values()) for p in parts.values()) == len(raw)
    assert len(set().union(*parts.values())) == distinct
    again, other = data.load(DataConfig(name="churn"), 0), data.load(DataConfig(name="churn"), 1)
    assert all(_rows(ds, s) == _rows(again, s) for s in SPLITS), "split seed 0 twice gives two different splits"
    # another split seed refits the scaling on other training rows: the same test rows, in the same order, differ
    # only by an affine map per column
    assert np.array_equal(ds.y_test, other.y_test) and not np.array_equal(ds.y_val, other.y_val)
    xa, xc = ds.x_test.double().numpy(), other.x_test.double().numpy()
    for j in range(xa.shape[1]):
        assert np.allclose(np.polyval(np.polyfit(xa[:, j], xc[:, j], 1), xa[:, j]), xc[:, j], atol=1e-4), \
            f"churn: the test set moved with the split seed (column {ds.feature_names[j]})"
