"""NAB scoring against hand computations from the paper's definitions, the NAB reader on the shared files, the
autoencoders, and task: reconstruct end to end (its exported CSVs re-score to the reported numbers)."""
import json
import math

import numpy as np
import pytest
import torch

from conftest import tiny_study
from deepstudy import nab
from deepstudy.data import nab as nab_data
from deepstudy.errors import UserError
from deepstudy.fileio import read_json
from deepstudy.models import autoencoder

WINDOW = [(400, 499)]  # one window of 100 rows in a 1,000-row file (probation: the first 150 rows)


def _detect(n, rows):
    d = np.zeros(n, dtype=bool)
    d[list(rows)] = True
    return d


def test_scaled_sigmoid_matches_the_paper():
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert nab.scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(3.0) == -1.0 and nab.scaled_sigmoid(7.5) == -1.0
    assert nab.probation(1000) == 150 and nab.probation(10320) == 750  # 15 %, at most 750 rows


def test_raw_score_by_hand():
    n = 1000
    assert nab.raw_score(_detect(n, []), WINDOW)["raw"] == -1.0  # the window is missed
    assert nab.raw_score(_detect(n, [400]), WINDOW)["raw"] == pytest.approx(1.0)  # at its left edge: A_TP
    late = (2 / (1 + math.exp(5 * -0.01)) - 1) / nab.scaled_sigmoid(-1.0)  # y = -(499 - 499 + 1) / 100
    assert nab.raw_score(_detect(n, [499]), WINDOW)["raw"] == pytest.approx(late)
    assert nab.raw_score(_detect(n, [450, 420, 480]), WINDOW)["raw"] == pytest.approx(
        nab.raw_score(_detect(n, [420]), WINDOW)["raw"])  # only the earliest detection in a window counts
    assert nab.raw_score(_detect(n, [100]), WINDOW)["raw"] == -1.0  # probationary rows are not scored
    assert nab.raw_score(_detect(n, [200]), WINDOW)["raw"] == pytest.approx(-1 - 0.11)  # FP before any window: -A_FP
    after = 0.11 * (2 / (1 + math.exp(5 * 50 / 99)) - 1)  # 50 rows past the end, in units of width - 1
    r = nab.raw_score(_detect(n, [400, 549]), WINDOW)
    assert r["raw"] == pytest.approx(1 + after) and r["false_positives"] == 1 and r["detected_windows"] == 1
    assert nab.raw_score(_detect(n, [400, 900]), WINDOW)["raw"] == pytest.approx(1 - 0.11)  # y >= 3: a full -A_FP
    assert nab.raw_score(_detect(n, [200]), WINDOW, "reward_low_FP_rate")["raw"] == pytest.approx(-1 - 0.22)
    assert nab.raw_score(_detect(n, []), WINDOW, "reward_low_FN_rate")["raw"] == -2.0


def test_normalized_score_runs_from_null_to_perfect_over_a_corpus():
    n = 1000
    files = [(_detect(n, []), WINDOW), (_detect(n, []), [(300, 349), (700, 749)])]
    for profile in nab.PROFILES:
        assert nab.normalized([nab.raw_score(d, w, profile) for d, w in files], profile) == 0.0
        perfect = [(_detect(n, [s for s, _ in w]), w) for _, w in files]
        assert nab.normalized([nab.raw_score(d, w, profile) for d, w in perfect], profile) == pytest.approx(100.0)
    half = [(_detect(n, [400]), WINDOW), (_detect(n, []), [(300, 349), (700, 749)])]  # 1 of 3 windows, at its start
    raws = [nab.raw_score(d, w) for d, w in half]
    assert nab.normalized(raws, "standard") == pytest.approx(100 * ((1 - 2) - (-3)) / (3 - (-3)))


def test_events_f1_and_refractory_alarms():
    d = _detect(1000, [160, 161, 162, 420, 421, 700])
    assert nab.events(d) == [(160, 162), (420, 421), (700, 700)]
    e = nab.event_scores(d, WINDOW)
    assert e == {"alarms": 3, "true_alarms": 1, "windows": 1, "found": 1}
    assert nab.f1([e]) == pytest.approx({"precision": 1 / 3, "recall": 1.0, "f1": 0.5})
    s = np.zeros(20)
    s[[2, 3, 4, 9, 15]] = 1.0
    assert np.flatnonzero(nab.alarms(s, 1.0, refractory=5)).tolist() == [2, 9, 15]
    assert np.flatnonzero(nab.alarms(s, 1.0)).tolist() == [2, 3, 4, 9, 15]


def test_best_threshold_is_an_upper_bound_on_the_labels():
    scores = np.zeros(1000)
    scores[[200, 405, 800]] = [0.6, 0.9, 0.7]
    t, value = nab.best_threshold([(scores, WINDOW)], "standard")
    assert t == pytest.approx(0.9) and value == pytest.approx(100 * (nab.raw_score(scores >= 0.9, WINDOW)["raw"] + 1) / 2)


def test_nab_reader_maps_windows_to_rows(shared_data):
    found = {s.key: s for s in nab_data.read(shared_data / "nab")}
    taxi = found["realKnownCause/nyc_taxi.csv"]
    assert len(taxi.values) == 10320 and len(taxi.windows) == 5
    labels = json.loads((shared_data / "nab" / "labels" / "combined_windows.json").read_text())[taxi.key]
    start, end = taxi.windows[0]
    assert str(taxi.times[start]) == labels[0][0][:19].replace(" ", "T") and str(taxi.times[end]) == labels[0][1][:19].replace(" ", "T")
    one = nab_data.read(shared_data / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv")  # a file by path finds its labels
    assert one[0].key == taxi.key and one[0].windows == taxi.windows


def test_nab_reader_bad_files(tmp_path):
    (tmp_path / "x.csv").write_text("time,v\n1,2\n")
    with pytest.raises(UserError, match="labels/combined_windows.json"):
        nab_data.read(tmp_path / "x.csv")
    root = tmp_path / "nab"
    (root / "data" / "c").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps({"c/a.csv": [["2020-01-01 00:10:00", "2020-01-01 00:20:00"]]}))
    (root / "data" / "c" / "a.csv").write_text("time,v\n1,2\n")
    with pytest.raises(UserError, match="header must be 'timestamp,value'"):
        nab_data.read(root)
    rows = "\n".join(f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{i}" for i in range(100))
    (root / "data" / "c" / "a.csv").write_text("timestamp,value\n" + rows + "\n")
    assert nab_data.read(root)[0].windows == [(10, 20)]
    with pytest.raises(UserError, match="c/b.csv"):
        nab_data.read(root, ("c/b.csv",))


@pytest.mark.parametrize("name", list(autoencoder.FAMILIES))
def test_autoencoders_reconstruct_their_input_shape_and_learn(name):
    torch.manual_seed(0)
    model = autoencoder.create(name, 32)
    x = torch.sin(torch.linspace(0, 20, 64 * 32)).reshape(64, 32)
    assert model(x).shape == x.shape
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    model.train()
    first = None
    for _ in range(150):
        loss = ((model(x) - x) ** 2).mean()
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.3 * first
    with pytest.raises(ValueError, match="multiple of 4"):
        autoencoder.create("conv-ae", 30)


def test_reconstruct_study_end_to_end(cli, tmp_path, shared_data):
    study = tiny_study(tmp_path, task="reconstruct", data={"name": "nab", "series": ["realKnownCause/nyc_taxi.csv"]},
                       model={"name": "dense-ae", "hidden": [16, 4]}, arms={"dense": {}}, seeds=2, analyses=["curves"],
                       anomaly={"window": 24, "export": True}, **{"train.epochs": 2, "train.batch_size": 32})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    res = read_json(run / "results.json")
    a = res["arms"]["dense"]
    assert res["metric"] == "nab_standard" and set(a["anomaly"]["baselines"]) == {"zscore", "random"}
    for m in ("nab_standard", "nab_reward_low_FP_rate", "nab_reward_low_FN_rate", "f1"):
        assert a["summary"][m]["n"] == 2 and math.isfinite(a["summary"][m]["mean"])
    tuned = a["anomaly"]["tuned_on_labels"]["model"]["standard"]["mean"]
    assert tuned >= a["summary"]["nab_standard"]["mean"] - 1e-9  # the label-tuned threshold is an upper bound
    # the exported NAB-format file re-scores, at NAB's threshold 0.5, to the number the run reports
    seed0 = run / "arms" / "dense" / "seed-0"
    csv = (seed0 / "nab-results" / "deepstudy-model" / "realKnownCause" / "deepstudy-model_nyc_taxi.csv").read_text().splitlines()
    assert csv[0] == "timestamp,value,anomaly_score,label" and len(csv) == 10321
    score = np.asarray([float(line.split(",")[2]) for line in csv[1:]])
    label = np.asarray([int(line.split(",")[3]) for line in csv[1:]])
    assert label.sum() == 5 * 207
    taxi = nab_data.read(shared_data / "nab", ("realKnownCause/nyc_taxi.csv",))[0]
    reported = read_json(seed0 / "result.json")["test"]["per_file"]["realKnownCause/nyc_taxi.csv"]
    assert nab.raw_score(score >= 0.5, taxi.windows)["raw"] == pytest.approx(reported["raw"])
    html = (run / "report.html").read_text()
    assert "tuned on labels" in html and "rolling z-score" in html and "Per file" in html


def test_reconstruct_bad_inputs(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, task="reconstruct", model={"name": "dense-ae"}, arms={"a": {}})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "anomaly.normal_classes" in r.err  # images need their normal classes named
    r = cli("run", str(tiny_study(tmp_path, task="reconstruct", data={"name": "moons"}, model={"name": "dense-ae"}, arms={"a": {}})),
            "--out", str(tmp_path / "r"))
    assert r.code == 2 and "NAB series" in r.err
    r = cli("run", str(tiny_study(tmp_path, task="reconstruct", data={"name": "nab"}, model={"name": "conv-ae"}, arms={"a": {}},
                                  anomaly={"window": 30})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "multiple of 4" in r.err
    r = cli("run", str(tiny_study(tmp_path, task="reconstruct", model={"name": "mlp"}, arms={"a": {}})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "dense-ae, conv-ae" in r.err
    assert not any((tmp_path / "r").rglob("results.json")) if (tmp_path / "r").exists() else True


def test_image_anomaly_study(cli, tmp_path):
    """One-class: digits 0-4 are normal; the autoencoder never sees 5-9 before the test."""
    study = tiny_study(tmp_path, task="reconstruct", data={"name": "digits"}, model={"name": "dense-ae", "hidden": [32, 8]},
                       arms={"dense": {}, "conv": {"model": {"name": "conv-ae", "channels": [8, 4]}}}, seeds=2,
                       analyses=["curves"], anomaly={"normal_classes": ["0", "1", "2", "3", "4"], "quantile": 0.95},
                       **{"train.epochs": 15, "train.batch_size": 32})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    res = read_json(run / "results.json")
    assert res["metric"] == "roc_auc"
    dense = res["arms"]["dense"]
    assert dense["summary"]["roc_auc"]["mean"] > 0.6  # unseen digits reconstruct worse
    assert abs(dense["anomaly"]["baselines"]["random"]["roc_auc"]["mean"] - 0.5) < 0.1
    with np.load(run / "arms" / "dense" / "seed-0" / "scores.npz") as z:
        assert z["anomalous"].mean() == pytest.approx(0.5, abs=0.05)  # half the test digits are from unseen classes
    assert "Normal classes: 0, 1, 2, 3, 4" in (run / "report.html").read_text()
    bad = tiny_study(tmp_path, task="reconstruct", model={"name": "dense-ae"}, arms={"a": {}}, anomaly={"normal_classes": ["cat"]})
    r = cli("run", str(bad), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "'cat' is not a class" in r.err


def test_a_file_without_labelled_windows_has_no_score_and_beats_nothing():
    """NAB's corpus has files with no anomaly window (artificialNoAnomaly): their per-file NAB score is undefined
    (NaN, null in result.json); the summary counts no seed above a baseline there instead of failing."""
    from deepstudy import nab
    from deepstudy.tasks import reconstruct

    def record(a, b):
        return {"per_file": {"none.csv": {"nab_standard": a}, "one.csv": {"nab_standard": b}},
                "tuned_on_labels": dict.fromkeys(nab.PROFILES, 0.0), **dict.fromkeys(reconstruct.METRICS, 0.0)}
    seed = {"test": record(float("nan"), 2.0),
            "baselines": {d: record(None, 1.0) for d in reconstruct.DETECTORS[1:]}}
    out = reconstruct.summary([seed, seed])
    assert out["per_file"]["none.csv"]["beats"] == dict.fromkeys(reconstruct.DETECTORS[1:], 0)
    assert out["per_file"]["one.csv"]["beats"] == dict.fromkeys(reconstruct.DETECTORS[1:], 2)
