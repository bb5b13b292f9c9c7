"""task: forecast end to end on the Air Quality file, scores against a hand computation, bad input."""
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_study
from deepstudy import config, data
from deepstudy.fileio import read_json
from deepstudy.tasks.forecast import scores


def _run_dir(out: str) -> Path:
    line = [ln for ln in out.splitlines() if ln.startswith("report: ")][-1]
    return Path(line.removeprefix("report: ")).parent


def test_scores_match_a_hand_computation(shared_data):
    ds = data.load(config.DataConfig(name="air-quality", targets=("T", "RH"), horizon=2), split_seed=0)
    y = ds.y_test.numpy()
    pred = y + np.random.default_rng(0).normal(0, 0.3, y.shape)
    s = scores(pred, y, ds)
    t = y.reshape(-1, 2)[:, 0]
    p = pred.reshape(-1, 2)[:, 0]
    assert s["per_target"]["T"]["r2"] == pytest.approx(1 - ((p - t) ** 2).sum() / ((t - t.mean()) ** 2).sum())
    assert s["per_target"]["T"]["mae"] == pytest.approx(np.abs(p - t).mean() * ds.extra["std"][0])  # back in °C
    assert scores(y, y, ds)["r2"] == pytest.approx(1.0)


def test_forecast_study_end_to_end(cli, tmp_path, shared_data):
    study = tiny_study(tmp_path, task="forecast", data={"name": "air-quality", "lookback": 12, "stride": 4},
                       model={"name": "rnn", "cell": "gru", "hidden": 16},
                       arms={"gru": {}, "cnn": {"model": {"name": "conv1d", "channels": [16]}}}, seeds=1,
                       analyses=["curves"], **{"train.epochs": 2})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    res = read_json(run / "results.json")
    assert res["metric"] == "r2" and res["dataset"]["kind"] == "series" and len(res["dataset"]["classes"]) == 12
    for arm in ("gru", "cnn"):
        a = res["arms"][arm]
        assert a["summary"]["r2"]["mean"] > 0.3 and set(a["forecast"]["per_target"]) == set(res["dataset"]["classes"])
    persistence = res["arms"]["gru"]["forecast"]["persistence"]["r2"]
    assert 0.3 < persistence < 1.0
    html = (run / "report.html").read_text()
    assert "persistence" in html and "the persistence forecast" in html and "Per target" in html


def test_forecast_bad_inputs(cli, tmp_path, shared_data):
    r = cli("run", str(tiny_study(tmp_path, task="forecast")), "--out", str(tmp_path / "r"))  # digits are not a series
    assert r.code == 2 and "time-series data" in r.err
    r = cli("run", str(tiny_study(tmp_path, data={"name": "air-quality"}, model={"name": "rnn"})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "task: forecast" in r.err
    r = cli("run", str(tiny_study(tmp_path, task="forecast", data={"name": "air-quality", "targets": ["ozone"]},
                                  model={"name": "rnn"})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "ozone" in r.err and "PT08.S5(O3)" in r.err


def test_numeric_sequence_attributions_keep_time_and_variables():
    """(N, T, F) inputs: maps keep both axes (they once folded time away as if it were image channels); on a
    linear forecaster integrated gradients from zero are exactly w * x, and deletion along that order beats
    random orders."""
    import torch

    from deepstudy import explain
    from deepstudy.tasks.explaining import ForecastOutput

    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12 * 3, 2, bias=False))
    x = torch.randn(5, 12, 3)
    wrapped = ForecastOutput(lin).eval()
    target = torch.zeros(5, dtype=torch.long)
    ig = explain.attribute(wrapped, x, target, "integrated-gradients", steps=32)
    w = lin[1].weight.detach().mean(0).view(12, 3)
    assert ig.shape == (5, 12, 3) and torch.allclose(ig, w * x, atol=1e-5)
    for method in ("saliency", "occlusion"):
        assert explain.attribute(wrapped, x, target, method).shape == (5, 12, 3)
    scores = explain.deletion_insertion(wrapped, x, target, ig, probabilities=False, random_orders=4)
    assert scores["deletion_curve"][0] == pytest.approx(1.0) and scores["deletion_curve"][-1] == pytest.approx(0.0, abs=1e-6)
    assert scores["deletion_auc"] < scores["deletion_auc_random"]


def test_forecast_study_explains_lags_and_variables(cli, tmp_path, shared_data):
    study = tiny_study(tmp_path, task="forecast", data={"name": "air-quality", "lookback": 12, "stride": 4, "targets": ["T"]},
                       model={"name": "rnn", "cell": "gru", "hidden": 16}, arms={"gru": {}}, seeds=1,
                       analyses=["curves", "saliency", "integrated-gradients", "occlusion", "gradcam"],
                       explain={"examples": 8, "sanity_examples": 4, "steps": 16}, **{"train.epochs": 2})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))  # Grad-CAM needs a spatial layer: refused at load
    assert r.code == 2 and "gradcam" in r.err and "task: forecast" in r.err and not (tmp_path / "runs").exists()
    study = tiny_study(tmp_path, task="forecast", data={"name": "air-quality", "lookback": 12, "stride": 4, "targets": ["T"]},
                       model={"name": "rnn", "cell": "gru", "hidden": 16}, arms={"gru": {}}, seeds=1,
                       analyses=["curves", "saliency", "integrated-gradients", "occlusion"],
                       explain={"examples": 8, "sanity_examples": 4, "steps": 16}, **{"train.epochs": 2})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    seed = run / "arms" / "gru" / "seed-0"
    res = read_json(run / "results.json")
    lags, variables = res["dataset"]["input_shape"]
    assert lags == 12 and variables > 10
    with np.load(seed / "explain.npz") as z:
        assert z["map:integrated-gradients"].shape == z["windows"].shape == (8, 12, variables)
    e = res["arms"]["gru"]["explain"]
    assert set(e["methods"]) == {"saliency", "integrated-gradients", "occlusion"}
    assert e["methods"]["integrated-gradients"]["n"] == 1
    assert (run / "figures" / "explain-gru.png").is_file()
    assert "Can the explanations be trusted?" in (run / "report.html").read_text()
