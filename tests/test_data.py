import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_idx_folder, write_idx
from deepstudy import data
from deepstudy.config import DataConfig
from deepstudy.data import readers, registry
from deepstudy.data.splits import stratified_split
from deepstudy.errors import UserError


def test_idx_round_trip_all_dtypes(tmp_path):
    for arr in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.arange(6, dtype=np.int32) - 3,
                np.linspace(0, 1, 6, dtype=np.float32).reshape(3, 2)):
        for compress in (True, False):
            p = write_idx(tmp_path / f"a{arr.dtype}{compress}.idx{'.gz' if compress else ''}", arr, compress)
            assert np.array_equal(readers.read_idx(p), arr)


def test_truncated_idx_is_a_clear_error(tmp_path):
    p = write_idx(tmp_path / "x.idx", np.zeros((10, 4, 4), np.uint8), compress=False)
    p.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(UserError, match="truncated or corrupt"):
        readers.read_idx(p)


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    p = write_idx(tmp_path / "x.idx.gz", np.zeros((10, 4, 4), np.uint8))
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        readers.read_idx(p)


def test_bad_magic(tmp_path):
    p = tmp_path / "x.idx"
    p.write_bytes(b"\x01\x02\x03\x04" + bytes(20))
    with pytest.raises(UserError, match="magic"):
        readers.read_idx(p)


def test_any_idx_folder_loads_by_path_with_no_code(idx_folder):
    ds = data.load(DataConfig(name="my-mnist-like", format="idx", path=str(idx_folder), val_fraction=0.25), 0)
    assert ds.input_shape == (1, 12, 12) and ds.classes == ["0", "1", "2"]
    assert len(ds.y_train) + len(ds.y_val) == 120 and len(ds.y_test) == 40
    # stratified: every class in validation with its share
    assert torch.bincount(ds.y_val).tolist() == [10, 10, 10]


def test_normalization_uses_training_split_only(idx_folder):
    ds = data.load(DataConfig(name="t", format="idx", path=str(idx_folder)), 0)
    x = next(iter(ds.batches("train", 10_000)))[0]
    assert x.mean().abs() < 1e-4 and (x.std() - 1).abs() < 1e-2  # standardized on train
    expected = ds.x_train.float().div(255).mean()
    assert torch.allclose(ds.mean, expected.view(1), atol=1e-6)


def test_split_is_deterministic_and_seed_dependent():
    y = np.repeat(np.arange(5), 50)
    a = stratified_split(y, 0.2, 1)
    assert all(np.array_equal(u, v) for u, v in zip(a, stratified_split(y, 0.2, 1)))
    assert not np.array_equal(a[1], stratified_split(y, 0.2, 2)[1])
    assert np.bincount(y[a[1]]).tolist() == [10] * 5 and len(np.intersect1d(*a)) == 0


def test_mnist_matches_published_counts(shared_data):
    ds = data.load(DataConfig(name="mnist", val_fraction=0.1), 0)
    counts = (torch.bincount(ds.y_train, minlength=10) + torch.bincount(ds.y_val, minlength=10)).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # SOURCE.md
    assert torch.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.source["sha256"]["train-images-idx3-ubyte.gz"].startswith("440fcabf")


def test_checksum_mismatch_is_reported(shared_data, tmp_path):
    spec = registry.get("mnist")
    for f in spec.files:
        (tmp_path / f.name).write_bytes((shared_data / "mnist" / f.name).read_bytes())
    damaged = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="checksum mismatch.*data fetch mnist"):
        data.load(DataConfig(name="mnist", path=str(tmp_path)), 0)


def test_missing_dataset_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPSTUDY_DATA", str(tmp_path / "empty"))
    with pytest.raises(UserError, match=r"not found.*deepstudy data fetch fashion-mnist"):
        data.load(DataConfig(name="fashion-mnist"), 0)


def test_churn_table_encoding_fitted_on_train_only(shared_data):
    ds = data.load(DataConfig(name="churn"), 0)
    assert ds.kind == "table" and ds.classes == ["stayed", "exited"]
    assert "Geography=France" in ds.feature_names and "Surname" not in " ".join(ds.feature_names)
    numeric = [i for i, n in enumerate(ds.feature_names) if "=" not in n]
    assert torch.allclose(ds.x_train[:, numeric].mean(0), torch.zeros(len(numeric)), atol=1e-4)
    assert not torch.allclose(ds.x_test[:, numeric].mean(0), torch.zeros(len(numeric)), atol=1e-4)
    assert len(ds.y_test) == 2000 and abs(ds.y_test.float().mean() - 0.2037) < 0.01  # stratified hold-out
    assert any("class balance" in n for n in ds.notes)


def test_csv_unseen_category_and_missing_values(tmp_path):
    p = tmp_path / "t.csv"
    rows = ["a,color,label"] + [f"{i},{'red' if i % 2 else 'blue'},{i % 2}" for i in range(40)] + ["1.5,green,1", ",red,0"]
    p.write_text("\n".join(rows))
    ds = data.load(DataConfig(name="t", format="csv-table", path=str(p), test_fraction=0.2), 0)
    assert ds.x_test.isfinite().all() and ds.x_train.shape[1] == ds.x_test.shape[1]


def test_csv_bad_target_suggests(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("x,label\n1,0\n2,1\n")
    with pytest.raises(UserError, match="labl.*label"):
        data.load(DataConfig(name="t", format="csv-table", path=str(p), target="labl"), 0)


def test_image_folder_reader(tmp_path):
    rng = np.random.default_rng(0)
    for c, name in enumerate(["cat", "dog"]):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(12):
            arr = (rng.integers(0, 255, (10, 14, 3)) * (c + 1) // 2).astype(np.uint8)
            Image.fromarray(arr).save(tmp_path / "imgs" / name / f"{i}.png")
    ds = data.load(DataConfig(name="pets", format="image-folder", path=str(tmp_path / "imgs"), image_size=(8, 8)), 0)
    assert ds.classes == ["cat", "dog"] and ds.input_shape == (3, 8, 8)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 24


def test_image_folder_rejects_undecodable_file(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("L", (4, 4)).save(tmp_path / name / "ok.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="cannot decode image"):
        data.load(DataConfig(name="x", format="image-folder", path=str(tmp_path)), 0)


def test_digits_offline():
    ds = data.load(DataConfig(name="digits"), 0)
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 1797


def test_batches_cover_every_example_once_per_epoch(idx_folder):
    ds = data.load(DataConfig(name="t", format="idx", path=str(idx_folder)), 0)
    b = ds.batches("train", 16, train=True, seed=3)
    ys = torch.cat([y for _, y in b.epoch(0)])
    assert sorted(ys.tolist()) == sorted(ds.y_train.tolist())
    order0 = torch.cat([y for _, y in b.epoch(0)])
    assert torch.equal(order0, ys) and len(b) == -(-len(ds.y_train) // 16)
    assert not torch.equal(torch.cat([x for x, _ in b.epoch(1)]), torch.cat([x for x, _ in b.epoch(0)]))


def test_gzip_of_shared_mnist_is_real(shared_data):
    raw = gzip.decompress((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert raw[:4] == b"\x00\x00\x08\x01"


def test_make_idx_folder_helper_is_learnable(tmp_path):
    folder = make_idx_folder(tmp_path / "d", classes=4)
    assert readers.read_idx_folder(folder)[0].shape == (120, 1, 12, 12)


def test_registered_name_with_other_format_does_not_borrow_metadata(idx_folder):
    ds = data.load(DataConfig(name="digits", format="idx", path=str(idx_folder)), 0)
    assert ds.classes == ["0", "1", "2"] and "license" not in ds.source
    # the sha256 are of the files read, computed as they are read (issue 23), and the description is of them
    assert ds.source["sha256"]["train-labels-idx1-ubyte.gz"] == registry.sha256_of(idx_folder / "train-labels-idx1-ubyte.gz")
    assert "scikit-learn" not in ds.source["description"] and "160 rows" in ds.source["description"]


def test_ag_news_reader(shared_data):
    from deepstudy.data import text

    spec = registry.get("ag-news")
    folder = registry.locate(spec)
    assert registry.verify(spec, folder)["test.csv.gz"].startswith("3c277beb")
    titles, descriptions, y, classes = text.read_ag_news(folder)
    assert len(titles) == len(descriptions) == 7600 and np.bincount(y).tolist() == [1900] * 4
    assert classes == ["World", "Sports", "Business", "Sci/Tech"]
    assert "$10 million" in descriptions[1] and "\\" not in descriptions[1]  # ' #36;' entity and '\' line breaks


def test_ag_news_reader_rejects_other_csv(tmp_path):
    from deepstudy.data import text

    (tmp_path / "test.csv").write_text('"x","only two"\n')
    with pytest.raises(UserError, match="AG News format"):
        text.read_ag_news(tmp_path)


def test_text_datasets_load_raw_strings_with_the_chosen_field(shared_data):
    titles = data.load(DataConfig(name="ag-news"), 0)
    both = data.load(DataConfig(name="ag-news", text_field="title+description"), 0)
    assert titles.kind == "text" and titles.classes == ["World", "Sports", "Business", "Sci/Tech"]
    assert sum(titles.summary()["sizes"].values()) == 7600
    assert both.x_test[0].startswith(titles.x_test[0]) and len(both.x_test[0]) > len(titles.x_test[0]) + 20
    with pytest.raises(UserError, match="text_field 'subject' does not exist in ag-news"):
        data.load(DataConfig(name="ag-news", text_field="subject"), 0)


def test_20newsgroups_subject_lines(shared_data):
    from deepstudy.data import text

    assert text.subject_line("From: a\nSubject: Re: hello\n\nSubject: not a header") == "Re: hello"
    assert text.subject_line("From: a\n\nSubject: in the body") == ""
    ds = data.load(DataConfig(name="20newsgroups"), 0)
    assert len(ds.classes) == 20 and ds.summary()["sizes"]["test"] == 7532
    assert ds.summary()["sizes"]["train"] + ds.summary()["sizes"]["val"] == 11314
    assert all("\n" not in s for s in ds.x_test[:200]) and sum(bool(s) for s in ds.x_test) > 7400


def test_20newsgroups_messages_are_the_published_bytes_decoded_as_latin1(shared_data):
    """The stored CSV is UTF-8 text of each message file decoded as latin-1 (scikit-learn's reading; SOURCE.md):
    read back as UTF-8, a message's latin-1 encoding is the original file's bytes, accents included. (Read as
    latin-1 before, 44 training posts came back garbled: 'Ã©' for 'é'.)"""
    import gzip

    from deepstudy.data import text

    messages, _, _ = text.read_20newsgroups(shared_data / "20newsgroups", "train")
    accented = [m for m in messages if any(ord(c) > 127 for c in m)]
    assert 40 <= len(accented) <= 60  # 44 as published; none has UTF-8 read as latin-1 ('Ã' + a continuation byte)
    assert not any("Ã" in m and any(0x80 <= ord(c) <= 0xBF for c in m.split("Ã", 1)[1][:1]) for m in accented)
    raw = gzip.decompress((shared_data / "20newsgroups" / "20news-bydate-train.csv.gz").read_bytes())
    assert all(m.encode("latin-1").decode("latin-1") == m for m in accented) and "é".encode() in raw


def test_synthetic_data_are_fixed_and_standardized_on_train():
    a = data.load(DataConfig(name="moons"), 0)
    b = data.load(DataConfig(name="moons"), 1)  # another split seed: same test points, other validation split
    assert torch.equal(a.y_test, b.y_test) and a.input_shape == (2,) and a.kind == "table"
    assert torch.allclose(a.x_train.mean(0), torch.zeros(2), atol=1e-5)
    assert not torch.equal(a.x_val, b.x_val)


def test_image_statistics_do_not_depend_on_torch_threads():
    """Issue 21: the training split's per-channel mean was a threaded float32 torch reduction, one ulp apart at 1
    and 2 threads on MNIST's first 2,000 training images, so a worker process (or a second run in one process after
    train.threads) trained on other inputs than the driver. Now a float64 NumPy sum: the same at any thread count,
    and equal to the float64 statistics rounded once."""
    cfg = DataConfig(name="mnist", train_limit=2000)
    threads = torch.get_num_threads()
    try:
        loaded = []
        for n in (1, 2):
            torch.set_num_threads(n)
            loaded.append(data.load(cfg, split_seed=0))
    finally:
        torch.set_num_threads(threads)
    (one, two) = loaded
    assert torch.equal(one.mean, two.mean) and torch.equal(one.std, two.std)
    x = one.x_train.numpy().astype(np.float64) / 255
    assert one.mean.item() == np.float32(x.mean()) and one.std.item() == np.float32(x.std(ddof=1))
