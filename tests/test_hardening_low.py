"""Issue 22 (low): bad input of every kind is one line, exit code 2, no traceback, nothing half-written."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_study


def _one_line(r, message: str) -> None:
    assert r.code == 2, (r.code, r.err[-600:])
    assert message in r.err and "Traceback" not in r.err, r.err[-600:]
    assert len(r.err.strip().splitlines()) == 1, r.err


@pytest.mark.parametrize("model, message", [
    ({"name": "mlp", "hidden": [-5]}, "model 'mlp': hidden=[-5] asks for a size below 1"),
    ({"name": "mlp", "hidden": [0]}, "model 'mlp': hidden=[0] asks for a size below 1 (its layer features.1.weight"),
    ({"name": "cnn", "channels": [-4]}, "model 'cnn': channels=[-4] asks for a size below 1"),
    ({"name": "cnn", "stride": 0}, "fix model.stride"),
])
def test_model_sizes_below_one_are_one_line(cli, tmp_path, model, message):
    study = tiny_study(tmp_path, model=model, arms={"base": {}})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task, model, message", [
    ("generate", {"name": "dcgan", "latent": -1}, "arm 'base': model 'dcgan': latent=-1 asks for a size below 1"),
    ("language-model", {"name": "char-rnn", "embed_dim": -1}, "model 'char-rnn': embed_dim=-1 asks for a size"),
    ("reconstruct", {"name": "dense-ae", "hidden": [0]}, "model 'dense-ae': hidden=[0] asks for a size below 1"),
])
def test_task_models_with_sizes_below_one_stop_at_the_check(cli, tmp_path, task, model, message):
    study = tiny_study(tmp_path, task=task, model=model, arms={"base": {}}, seeds=1)
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("overrides, message", [
    ({"arms": {f"a{i}": {} for i in range(10_001)}, "seeds": 1},
     "'arms': the study asks for 10,001 arms; one study trains at most 10,000 (arms x seeds)"),
    ({"arms": {f"a{i}": {} for i in range(101)}, "seeds": 100},
     "the study asks for 101 arm(s) x 100 seed(s) = 10,100 runs; one study trains at most 10,000"),
])
def test_arms_times_seeds_is_capped_before_any_work(cli, tmp_path, monkeypatch, overrides, message):
    from deepstudy import study

    monkeypatch.setattr(study, "run", lambda *a, **k: pytest.fail("the study reached study.run"))
    r = cli("run", str(tiny_study(tmp_path, **overrides)), "--out", str(tmp_path / "out"))
    _one_line(r, message)


def test_opt_in_arms_chosen_with_arms_count_too(cli, tmp_path, monkeypatch):
    from deepstudy import study

    monkeypatch.setattr(study, "run", lambda *a, **k: pytest.fail("the study reached study.run"))
    path = tiny_study(tmp_path, opt_in_arms={f"x{i}": {} for i in range(101)}, seeds=100)
    r = cli("run", str(path), "--arms", ",".join(f"x{i}" for i in range(101)), "--out", str(tmp_path / "out"))
    _one_line(r, "--arms: the study asks for 101 arm(s) x 100 seed(s) = 10,100 runs")


def _table(tmp_path, n: int, ids) -> str:
    rng = np.random.default_rng(0)
    lines = ["id,x,label"] + [f"{ids(i)},{rng.normal():.3f},{i % 2}" for i in range(n)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "t.csv")


def test_an_identifier_column_is_refused_with_data_drop(cli, tmp_path):
    path = _table(tmp_path, 2_400, lambda i: f"cust-{i}")
    study = tiny_study(tmp_path, data={"name": "mine", "format": "csv-table", "path": path, "target": "label"})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, f"column 'id' of {path} holds 2,400 distinct values in 2,400 rows (an identifier or free text?): "
                 "one-hot encoding it would make 2,400 features (23 MB); ignore it with data.drop: [id]")
    assert not (tmp_path / "out").exists()


def test_many_categories_shared_by_many_rows_are_still_one_hot(tmp_path):
    from deepstudy.data import table

    raw = table.read_csv(_table(tmp_path, 2_400, lambda i: f"town-{i % 1_100}"))  # 1,100 values, < half the rows
    assert len(table.TableEncoder(raw, "label").fit(np.arange(2_400)).feature_names()) == 1_101


def _cells(tmp_path, cell: str, name: str = "t.csv") -> str:
    rng = np.random.default_rng(0)
    lines = ["x1,x2,label"] + [f"{cell if i == 37 else round(rng.normal(), 3)},{rng.normal():.3f},{i % 2}"
                               for i in range(300)]
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    return str(tmp_path / name)


@pytest.mark.parametrize("cell, message", [
    ("inf", "your data has inf at data row 38, column 'x1' of {path} (1 such row(s)); fix the value or empty the cell"),
    ("-1e999", "your data has -1e999 (inf as a float) at data row 38, column 'x1'"),
    ("1e200", "column 'x1' of {path}: values as large as 1e+200 (data row 38) are too large to standardize"),
])
def test_non_finite_table_values_are_one_line(cli, tmp_path, cell, message):
    path = _cells(tmp_path, cell)
    study = tiny_study(tmp_path, data={"name": "mine", "format": "csv-table", "path": path, "target": "label"})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, message.format(path=path))
    assert not (tmp_path / "out").exists()


def test_missing_table_values_are_imputed_and_a_far_test_value_is_one_line(tmp_path):
    from deepstudy.data import table
    from deepstudy.errors import UserError

    raw = table.read_csv(_cells(tmp_path, "nan"))  # NaN is missing: filled with the training mean
    assert np.isfinite(table.TableEncoder(raw, "label").fit(np.arange(300)).transform(np.arange(300))).all()
    raw = table.read_csv(_cells(tmp_path, "1e100"))
    encoder = table.TableEncoder(raw, "label").fit(np.r_[0:37, 38:300])  # the row is not a training row
    with pytest.raises(UserError, match="the value 1e[+]100 at data row 38 overflows once standardized"):
        encoder.transform(np.arange(300))


def _series(tmp_path, cell: str) -> str:
    rows = [f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{cell if i == 40 else i % 7},{i % 5}" for i in range(200)]
    (tmp_path / "s.csv").write_text("Date,A,B\n" + "\n".join(rows) + "\n")
    return str(tmp_path / "s.csv")


@pytest.mark.parametrize("cell, message", [
    ("inf", "your data has inf at line 42, column 'A' of {path} (1 such value(s)); fix it or empty the cell"),
    ("1e300", "column 'A' of {path}: values as large as 1e+300 (line 42) are too large to standardize"),
])
def test_non_finite_series_values_are_one_line(cli, tmp_path, cell, message):
    path = _series(tmp_path, cell)
    study = tiny_study(tmp_path, task="forecast", data={"name": "mine", "format": "time-series", "path": path},
                       arms={"base": {}})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, message.format(path=path))
    assert not (tmp_path / "out").exists()


def test_series_missing_values_load_and_a_value_beyond_float32_once_scaled_is_one_line(tmp_path):
    from deepstudy.data import series
    from deepstudy.errors import UserError

    s = series.read_csv_series(_series(tmp_path, "nan"))  # NaN is missing: interpolated later
    assert np.isnan(s.values[40, 0]) and np.isfinite(series.impute(s.values)).all()
    s = series.read_csv_series(_series(tmp_path, "1e100"))
    s.values[:, 0] = np.where(np.arange(200) == 190, 1e100, 0.0)  # a constant training period, then a huge value
    with pytest.raises(UserError, match="column 'A': the value 1e[+]100 in the test period overflows"):
        series.forecasting_arrays(s, lookback=4, horizon=1, stride=1, targets=[], val=0.1, test=0.2)


def _nab(tmp_path, values: list[str]) -> str:
    import json

    root = tmp_path / "nab"
    (root / "data" / "c").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps({"c/a.csv": []}))
    rows = "\n".join(f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{v}" for i, v in enumerate(values))
    (root / "data" / "c" / "a.csv").write_text("timestamp,value\n" + rows + "\n")
    return str(root)


@pytest.mark.parametrize("values, message", [
    (["1"] * 100 + ["nan"] + ["2"] * 99, "your data has nan at line 102, column 'value' of {file} (1 such row(s))"),
    (["1"] * 100 + ["inf"] + ["2"] * 99, "your data has inf at line 102, column 'value' of {file}"),
    ([str(i % 5) for i in range(150)] + ["1e308"] + ["2"] * 49,
     "{file}: the value 1e+308 at line 152 is too large to standardize (its square overflows)"),
    (["3"] * 150 + ["1e30"] + ["3"] * 49, "{file}: the value 1e+30 (data row 151) overflows once standardized"),
])
def test_non_finite_or_overflowing_nab_values_are_one_line(cli, tmp_path, values, message):
    root = _nab(tmp_path, values)
    study = tiny_study(tmp_path, task="reconstruct", data={"name": "mine", "format": "nab", "path": root},
                       model={"name": "dense-ae", "hidden": [8]}, anomaly={"window": 8}, arms={"base": {}}, seeds=1)
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, message.format(file=f"{root}/data/c/a.csv"))
    assert not (tmp_path / "out").exists()


def _idx_header(dims: tuple[int, ...], data: bytes = b"") -> bytes:
    import struct

    return struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + data


@pytest.mark.parametrize("dims, data, message", [
    ((65536, 65536, 65536, 65536), b"", "declares shape (65536, 65536, 65536, 65536) "
                                        "(18,446,744,073,709,551,616 bytes of data) but it holds 0"),
    ((0, 12, 12), b"", "holds no items: its header declares shape (0, 12, 12)"),
    ((4294967295, 4294967295, 12), bytes(144), "but it holds 144"),
])
def test_idx_headers_that_overflow_or_hold_nothing_are_one_line(cli, tmp_path, dims, data, message):
    from conftest import make_idx_folder

    folder = make_idx_folder(tmp_path / "idx")
    bad = folder / "train-images-idx3-ubyte.gz"
    bad.write_bytes(__import__("gzip").compress(_idx_header(dims, data)))
    study = tiny_study(tmp_path, data={"name": "mine", "format": "idx", "path": str(folder)})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, f"{bad} ")
    assert message in r.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size", [(9000, 9000), (12000, 12000)])  # past the limit (a warning), past twice it
def test_a_decompression_bomb_image_is_one_line(cli, tmp_path, size):
    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (8, 8), color=40 * i).save(tmp_path / "imgs" / name / f"{i}.png")
    bomb = tmp_path / "imgs" / "dog" / "9.png"
    Image.new("1", size).save(bomb)  # a few kB on disk, 81 or 144 million pixels decoded
    study = tiny_study(tmp_path, data={"name": "pets", "format": "image-folder", "path": str(tmp_path / "imgs")},
                       model={"name": "mlp", "hidden": [8]})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, f"image {bomb} is too large to open safely (")
    assert "deepstudy opens images of at most 64,000,000 pixels — shrink it or remove it" in r.err
    assert not (tmp_path / "out").exists()
    assert Image.MAX_IMAGE_PIXELS != 64_000_000  # Pillow's own limit is restored for everything else


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from deepstudy.cli import main

    tmp = tmp_path_factory.mktemp("finished")
    assert main(["run", str(tiny_study(tmp, arms={"base": {}}, seeds=1)), "--out", str(tmp / "runs")]) == 0
    return next((tmp / "runs").glob("*/*"))


def _snapshot(folder) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("file, damage, message", [
    ("results.json", lambda t: t[:100], "results.json is damaged (not JSON: "),
    ("results.json", lambda t: b"[1, 2]\n", "results.json is damaged (not the results deepstudy writes"),
    ("arms/base/seed-0/metrics.jsonl", lambda t: b"garbage\n" + t, "metrics.jsonl is damaged (line 1 is not JSON: "),
    ("arms/base/seed-0/metrics.jsonl", lambda t: b"\xff\xfe\n" + t, "metrics.jsonl is damaged (not text: "),
    ("arms/base/seed-0/metrics.jsonl", lambda t: b'{"epoch": 0}\n', "is damaged (a row without epoch, train_loss"),
    ("arms/base/seed-0/result.json", lambda t: t[:50], "seed-0/result.json is damaged (not JSON: "),
])
def test_a_damaged_run_file_is_one_line_and_left_as_it_is(cli, tmp_path, finished_run, file, damage, message):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / file).write_bytes(damage((run / file).read_bytes()))
    before = _snapshot(run)
    r = cli("report", str(run))
    _one_line(r, f"error: {run / file} is damaged")
    assert message in r.err
    assert _snapshot(run) == before  # the report wrote nothing, the damaged file is as it was
    if file == "results.json":  # the advice: a resume rebuilds it from the seeds' results, retraining nothing
        assert f"`deepstudy run --resume {run}` rebuilds it from the seeds' results" in r.err
        assert cli("run", "--resume", str(run)).code == 0 and cli("report", str(run)).code == 0
        return
    assert f"delete the folder {run / 'arms/base/seed-0'} and `deepstudy run --resume {run}` trains that seed" in r.err
    r = cli("run", "--resume", str(run))
    _one_line(r, f"error: {run / file} is damaged")
    assert _snapshot(run) == before


def test_bf16_on_a_cpu_without_it_is_said_once_in_the_output_and_the_report(cli, tmp_path, monkeypatch, finished_run):
    import json

    from deepstudy.train import precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    r = cli("run", str(tiny_study(tmp_path, **{"train.precision": "bf16", "train.epochs": 1}, seeds=1)),
            "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    note = "bf16 asked, fp32 used: this CPU has no bf16 instructions (arm(s) small, wide)"
    assert r.out.count("bf16 asked") == 1 and note in r.out, r.out
    run = next((tmp_path / "runs").glob("*/*"))
    assert json.loads((run / "results.json").read_text())["notes"] == [note]
    assert f"Note: {note}." in (run / "report.md").read_text() and note in (run / "report.html").read_text()
    assert json.loads((finished_run / "results.json").read_text())["notes"] == []  # fp32 asked: nothing to say


# ---- found by tests/test_fuzz.py ------------------------------------------------------------------------------------

def test_a_split_left_empty_stops_before_the_run_directory(cli, tmp_path):
    """test_fraction 0.999 keeps one digit per class: nothing left to validate on (it crashed after the run
    directory was made, at the first validation)."""
    study = tiny_study(tmp_path, **{"data.test_fraction": 0.999, "data.train_limit": 100}, arms={"base": {}}, seeds=1)
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, "dataset 'digits' splits into 10 training, 0 validation and 1787 test examples; every split needs "
                 "at least one — lower data.test_fraction (0.999)")
    assert not (tmp_path / "out").exists()


def test_a_table_too_small_to_split_stops_before_the_run_directory(cli, tmp_path):
    (tmp_path / "t.csv").write_text("x,label\n" + "".join(f"{i},{i}\n" for i in range(6)))  # one row per class
    study = tiny_study(tmp_path, data={"name": "mine", "format": "csv-table", "path": str(tmp_path / "t.csv")})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, "dataset 'mine' splits into 6 training, 0 validation and 0 test examples")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, message", [
    ("name: x\x00\n", "study.yaml: character 8 is not valid YAML (unacceptable character #x0000: special characters "
                      "are not allowed); fix the file's syntax"),
    ('name: x\ntrain: {"a\\nb": 1}\n', "unknown key 'train.a\\nb'"),  # a line break in a key, shown escaped
    ('name: x\nmodel: {name: "ml\\u2028p"}\n', "unknown model 'ml\\u2028p'"),
])
def test_an_error_naming_a_line_break_is_still_one_line(cli, tmp_path, text, message):
    (tmp_path / "study.yaml").write_text(text, encoding="utf-8")
    r = cli("run", str(tmp_path / "study.yaml"), "--out", str(tmp_path / "out"))
    _one_line(r, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("header, drop, message", [
    ("label", (), "has no column to learn from: its columns are label and 'label' is the label"),
    ("x,label", ("x",), "has no column to learn from once data.drop (x) is left out: its columns are x, label"),
    ("x,x,label", (), "the header names column 'x' twice (columns 1 and 2); give each column its own name"),
])
def test_a_table_without_features_or_with_a_name_twice_is_one_line(cli, tmp_path, header, drop, message):
    """No feature left crashed in np.concatenate after the run directory existed; a name given twice silently read
    the second column for both."""
    width = len(header.split(","))
    (tmp_path / "t.csv").write_text(header + "\n" + "".join(",".join([str(i % 7)] * (width - 1) + [str(i % 2)]) + "\n"
                                                            for i in range(40)))
    study = tiny_study(tmp_path, data={"name": "mine", "format": "csv-table", "path": str(tmp_path / "t.csv"),
                                       "drop": list(drop)})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    _one_line(r, message)
    assert not (tmp_path / "out").exists()
