"""The SOM against MiniSom (the oracle: same initial weights, order and schedule -> same weights), the batch rule
against a hand computation, and task: som end to end (outliers, hybrid ranking, labels never used, bad input)."""
import itertools

import numpy as np
import pytest
import torch
from minisom import MiniSom

from conftest import tiny_study
from deepstudy.fileio import read_json
from deepstudy.models.som import SOM, decay

MINISOM_DECAYS = {"asymptotic": ("asymptotic_decay", "asymptotic_decay"),
                  "linear": ("linear_decay_to_zero", "linear_decay_to_one"),
                  "inverse": ("inverse_decay_to_zero", "inverse_decay_to_one")}


@pytest.mark.parametrize("neighborhood,schedule", list(itertools.product(("gaussian", "bubble"), MINISOM_DECAYS)))
def test_online_rule_matches_minisom(neighborhood, schedule):
    x = np.random.default_rng(0).normal(size=(120, 4))
    lr_decay, sigma_decay = MINISOM_DECAYS[schedule]
    m = MiniSom(5, 6, 4, sigma=2.0, learning_rate=0.5, neighborhood_function=neighborhood, decay_function=lr_decay,
                sigma_decay_function=sigma_decay, random_seed=3)
    ours = SOM(5, 6, 4, neighborhood=neighborhood).double()
    ours.weight.copy_(torch.from_numpy(m.get_weights().reshape(30, 4)))
    m.train(x, 240)  # two passes in order: step t out of 240, as ours
    xt = torch.from_numpy(x)
    t = ours.online_epoch(xt, torch.arange(120), 0, 240, 0.5, 2.0, schedule, schedule)
    ours.online_epoch(xt, torch.arange(120), t, 240, 0.5, 2.0, schedule, schedule)
    np.testing.assert_allclose(ours.weight.numpy(), m.get_weights().reshape(30, 4), atol=1e-12)
    assert ours.quantization_error(xt) == pytest.approx(m.quantization_error(x), abs=1e-12)
    assert ours.topographic_error(xt) == pytest.approx(m.topographic_error(x))
    u = ours.u_matrix("sum").numpy()
    np.testing.assert_allclose(u / u.max(), m.distance_map(), atol=1e-12)
    hits = ours.hits(xt).numpy()
    np.testing.assert_array_equal(hits, m.activation_response(x))


@pytest.mark.parametrize("neighborhood", ("gaussian", "bubble"))
def test_online_rule_is_the_plain_update_to_the_bit(neighborhood):
    """The fast loop (NumPy views, precomputed schedules) against the rule written out in torch, step by step, in
    float32 as the studies train: the same weights to the bit, so the studies' online maps did not move. A 10 x 10
    map: 100 units is not a multiple of the SIMD width, so exp's vector and scalar tails are both exercised."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(150, 7, generator=g)
    fast, plain = SOM(10, 10, 7, neighborhood=neighborhood), SOM(10, 10, 7, neighborhood=neighborhood)
    fast.init_sample(x, g)
    plain.weight.copy_(fast.weight)
    order = torch.randperm(150, generator=g)
    t = fast.online_epoch(x, order, 0, 300, 0.5, 3.0, "linear", "linear")
    assert fast.online_epoch(x, order.flip(0), t, 300, 0.5, 3.0, "linear", "linear") == 300
    w = plain.weight
    for t, i in enumerate(torch.cat([order, order.flip(0)]).tolist()):
        c = ((w - x[i]) ** 2).sum(1).argmin()
        h = plain.neighbourhood(c[None], decay("linear", 3.0, t, 300, sigma=True))[0]
        w += (decay("linear", 0.5, t, 300, sigma=False) * h)[:, None] * (x[i] - w)
    assert fast.weight.dtype == torch.float32 and torch.equal(fast.weight, w)


def test_decay_schedules_end_where_minisom_says():
    assert decay("asymptotic", 3.0, 100, 100, sigma=True) == pytest.approx(1.0)  # a third of the start
    assert decay("linear", 5.0, 100, 100, sigma=True) == pytest.approx(1.0)
    assert decay("linear", 0.5, 100, 100, sigma=False) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="decay must be"):
        decay("cosine", 1.0, 0, 10, sigma=True)


def test_batch_rule_is_the_neighbourhood_weighted_mean():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g, dtype=torch.float64)
    som = SOM(3, 4, 3).double()
    som.init_sample(x, g)
    w0 = som.weight.clone()
    som.batch_epoch(x, 1.3, chunk=37)  # chunking must not change the result
    d = torch.cdist(x, w0)
    c = d.argmin(1)
    grid = torch.tensor([(i, j) for i in range(3) for j in range(4)], dtype=torch.float64)
    h = torch.exp(-((grid[c][:, None] - grid[None]) ** 2).sum(-1) / (2 * 1.3 ** 2))  # (N, U)
    np.testing.assert_allclose(som.weight.numpy(), ((h.T @ x) / h.sum(0)[:, None]).numpy(), atol=1e-10)


def test_pca_init_spans_the_first_two_components():
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * torch.tensor([5, 3, 1, 1, 1, 1.0])
    som = SOM(4, 5, 6).double()
    som.init_pca(x)
    centred = som.weight - x.mean(0)
    assert torch.linalg.matrix_rank(centred, atol=1e-8) == 2
    assert centred[:, 2:].abs().max() < 0.3 * centred[:, :2].abs().max()  # lies (mostly) along the two big axes


def test_som_fraud_study_end_to_end(cli, tmp_path, shared_data):
    study = tiny_study(tmp_path, task="som", data={"name": "credit-card-applications"},
                       model={"name": "som", "rows": 6, "cols": 6}, arms={"batch": {}, "online": {"som.rule": "online"}},
                       seeds=2, analyses=["curves"], som={"sigma": 2.0, "hybrid": True, "hybrid_epochs": 5},
                       **{"train.epochs": 4})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    res = read_json(run / "results.json")
    assert res["metric"] == "quantization_error" and res["task"] == "som"
    for arm in ("batch", "online"):
        a = res["arms"][arm]
        assert 0 < a["summary"]["quantization_error"]["mean"] < 5 and a["summary"]["accuracy"]["mean"] > 0.6
        assert a["som"]["rows"] == 690 and 0 <= a["som"]["jaccard"]["mean"] <= 1 and a["som"]["agreement_auc"]["n"] == 2
    ranking = (run / "arms" / "batch" / "seed-0" / "ranking.csv").read_text().splitlines()
    assert ranking[0].startswith("id,") and len(ranking) == 691
    probs = [float(line.split(",")[2]) for line in ranking[1:]]
    assert probs == sorted(probs, reverse=True)
    assert {line.split(",")[0] for line in ranking[1:]} >= {"15776156", "15739548"}  # every customer, by CustomerID
    with np.load(run / "arms" / "batch" / "seed-0" / "outliers.npz") as z:
        assert z["flagged"].sum() == round(0.05 * 690)
    html = (run / "report.html").read_text()
    assert "What can and cannot be concluded" in html and "U-matrix" in html and "Jaccard" in html


def test_som_ignores_labels_and_repeats_bit_for_bit(cli, tmp_path):
    """The flags come from the map alone: permuting the labels changes nothing; the same seed gives the same map."""
    runs = []
    for k, permute in enumerate((False, False, True)):
        (tmp_path / str(k)).mkdir()
        study = tiny_study(tmp_path / str(k), task="som", model={"name": "som", "rows": 5, "cols": 5}, arms={"m": {}},
                           seeds=1, analyses=[], som={"rule": "online"}, **{"data.permute_labels": permute, "train.epochs": 2})
        assert cli("run", str(study), "--out", str(tmp_path / f"r{k}")).code == 0
        folder = next((tmp_path / f"r{k}" / "tiny").iterdir()) / "arms" / "m" / "seed-0"
        with np.load(folder / "outliers.npz") as z, np.load(folder / "maps.npz") as m:
            runs.append((z["flagged"].copy(), m["weight"].copy()))
    for flagged, weight in runs[1:]:
        np.testing.assert_array_equal(flagged, runs[0][0])
        np.testing.assert_array_equal(weight, runs[0][1])


def test_som_bad_inputs(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, task="som")), "--out", str(tmp_path / "r"))  # model mlp
    assert r.code == 2 and "model 'som'" in r.err
    r = cli("run", str(tiny_study(tmp_path, task="som", model={"name": "som", "depth": 3})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "depth" in r.err and "rows, cols" in r.err
    r = cli("run", str(tiny_study(tmp_path, task="som", model={"name": "som", "rows": 1, "cols": 1})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "at least 2 units" in r.err
    r = cli("run", str(tiny_study(tmp_path, task="som", model={"name": "som"}, analyses=["gradcam"])), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "gradcam" in r.err
    r = cli("run", str(tiny_study(tmp_path, task="som", model={"name": "som"}, som={"rule": "kohonen"})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "som.rule" in r.err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("results.json"))
