"""`task: classical`, the new analyses (roc, generalization, boundary, bias-variance, gradients) and their checks."""
import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from conftest import tiny_study
from deepstudy import evaluate
from deepstudy.fileio import read_json
from deepstudy.report import roc_points


def _run(cli, tmp_path, **kw):
    path = tiny_study(tmp_path, **kw)
    r = cli("run", str(path), "--out", str(tmp_path / "runs"))
    return r, (next((tmp_path / "runs" / "tiny").iterdir()) if r.code == 0 else None)


def test_knn_bias_variance_study_on_moons(cli, tmp_path):
    r, run = _run(cli, tmp_path, task="classical", data={"name": "moons", "resample": "bootstrap"},
                  model={"name": "knn"}, arms={"k1": {"model.k": 1}, "k31": {"model.k": 31}}, seeds=3,
                  analyses=["generalization", "boundary", "bias-variance"])
    assert r.code == 0, r.err
    res = read_json(run / "results.json")
    k1, k31 = res["arms"]["k1"], res["arms"]["k31"]
    assert k1["summary"]["train_accuracy"]["mean"] == 1.0  # 1-NN remembers its (bootstrap) training set
    assert k31["summary"]["accuracy"]["mean"] > k1["summary"]["accuracy"]["mean"]  # noise 0.3: 1-NN overfits
    assert k1["bias_variance"]["variance"] > k31["bias_variance"]["variance"]
    assert k1["summary"]["accuracy"]["std"] > 0  # bootstrap samples differ from seed to seed
    assert {p.name for p in (run / "figures").iterdir()} >= {"generalization.png", "boundaries.png"}
    assert "Bias and variance" in (run / "report.html").read_text()
    assert (run / "arms" / "k1" / "seed-0" / "boundary.npz").is_file()
    assert not (run / "arms" / "k1" / "seed-1" / "boundary.npz").exists()  # the first seed only


def test_naive_bayes_cross_validation_matches_scikit_learn(cli, tmp_path, shared_data):
    r, run = _run(cli, tmp_path, task="classical", data={"name": "ag-news", "cv_folds": 3}, model={"name": "naive-bayes"},
                  arms={"ours": {}, "sklearn": {"model.name": "sklearn-naive-bayes"}}, seeds=3, analyses=["confusion"])
    assert r.code == 0, r.err
    res = read_json(run / "results.json")
    ours, theirs = res["arms"]["ours"], res["arms"]["sklearn"]
    assert ours["summary"]["accuracy"]["values"] == pytest.approx(theirs["summary"]["accuracy"]["values"], abs=1e-12)
    assert 0.75 < ours["summary"]["accuracy"]["mean"] < 0.9
    assert "paired t-test over folds" in res["comparison"]["comparisons"][0]["text"]  # folds are shared by the arms
    labels = [np.load(run / "arms" / "ours" / f"seed-{i}" / "test_labels.npy") for i in range(3)]
    assert sum(len(y) for y in labels) == 7600  # the folds cover every row once
    assert any("3-fold stratified cross-validation over all 7600" in n for n in res["dataset"]["notes"])
    for i in range(3):
        assert np.array_equal(np.load(run / "arms" / "ours" / f"seed-{i}" / "predictions.npy"),
                              np.load(run / "arms" / "sklearn" / f"seed-{i}" / "predictions.npy"))


def test_logistic_regression_curves_and_roc(cli, tmp_path, shared_data):
    r, run = _run(cli, tmp_path, task="classical", data={"name": "churn"}, model={"name": "logistic-regression"},
                  train={"epochs": 40, "optimizer": {"lr": 0.5}}, arms={"base": {}}, seeds=1, analyses=["curves", "roc"])
    assert r.code == 0, r.err
    res = read_json(run / "results.json")
    rows = (run / "arms" / "base" / "seed-0" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 40
    assert res["arms"]["base"]["params"] == len(res["dataset"]["feature_names"]) + 1
    assert res["arms"]["base"]["summary"]["roc_auc"]["mean"] > 0.7
    assert (run / "figures" / "roc.png").is_file() and (run / "figures" / "curves.png").is_file()


def test_tfidf_logistic_regression_beside_a_torch_arm_matches_scikit_learn(cli, tmp_path, shared_data):
    """The TF-IDF baseline of the text studies: a deterministic arm repeats its result on every seed beside an arm
    that varies with the seed (spread 0), and equals a hand-built scikit-learn pipeline on the same rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from deepstudy import data as _data
    from deepstudy.tasks import classical as study_classical
    from deepstudy.config import validate
    r, run = _run(cli, tmp_path, task="classical", data={"name": "ag-news", "train_limit": 1500},
                  model={"name": "sklearn-logistic-regression", "C": 5.0},
                  arms={"tfidf": {}, "gru": {"task": "classify", "model": {"name": "rnn", "cell": "gru", "embed_dim": 16,
                                                                            "hidden": 16}, "train.batch_size": 64}},
                  train={"epochs": 1}, seeds=2, analyses=["confusion"])  # batch size: the torch arm's (classical has none)
    assert r.code == 0, r.err
    res = read_json(run / "results.json")
    acc = res["arms"]["tfidf"]["summary"]["accuracy"]
    assert acc["std"] == 0 and acc["n"] == 2 and 0.6 < acc["mean"] < 0.9
    cfg = validate({"name": "t", "task": "classical", "data": {"name": "ag-news", "train_limit": 1500},
                    "model": {"name": "sklearn-logistic-regression", "C": 5.0}, "arms": {"a": {}}, "seeds": 1})
    ds = _data.load(cfg.data, read_json(run / "env.json")["determinism"]["seeds"]["data_split"])
    x_tr, y_tr, _, _, x_te, y_te = study_classical.splits(cfg, ds, 0, 0)
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
    ref = LogisticRegression(C=5.0, max_iter=1000).fit(vec.fit_transform(x_tr), y_tr).predict(vec.transform(x_te))
    ours = np.load(run / "arms" / "tfidf" / "seed-0" / "predictions.npy")
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("kw, message", [
    ({"data": {"name": "moons"}, "model": {"name": "knn"}, "seeds": 2}, "deterministic given its data"),
    ({"data": {"name": "moons", "cv_folds": 3}, "model": {"name": "knn"}, "seeds": 2}, "seeds: 3"),
    ({"data": {"name": "moons", "cv_folds": 3, "resample": "bootstrap"}, "model": {"name": "knn"}, "seeds": 3}, "not both"),
    ({"data": {"name": "moons"}, "model": {"name": "knn", "kk": 3}, "seeds": 1}, "no argument 'kk'"),
    ({"data": {"name": "moons"}, "model": {"name": "svm"}, "seeds": 1}, "no model 'svm'"),
    ({"data": {"name": "digits"}, "model": {"name": "logistic-regression"}, "seeds": 1}, "is binary"),
    ({"data": {"name": "moons"}, "model": {"name": "naive-bayes"}, "seeds": 1}, "non-negative"),
    ({"data": {"name": "moons"}, "model": {"name": "sklearn-logistic-regression", "features": "tfidf"}, "seeds": 1},
     "describe text features"),
    ({"data": {"name": "moons"}, "model": {"name": "sklearn-logistic-regression", "features": "bm25"}, "seeds": 1},
     "counts, tfidf"),
    ({"data": {"name": "moons"}, "model": {"name": "sklearn-logistic-regression", "C": 0}, "seeds": 1}, "must be a number > 0"),
])
def test_classical_bad_input_is_one_clear_message(cli, tmp_path, kw, message):
    r, _ = _run(cli, tmp_path, task="classical", arms={"a": {}}, **kw)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err
    assert not (tmp_path / "runs" / "tiny").exists() or not any((tmp_path / "runs" / "tiny").iterdir())


def test_text_and_cross_validation_are_refused_by_other_tasks(cli, tmp_path, shared_data):
    r, _ = _run(cli, tmp_path, data={"name": "ag-news"}, arms={"a": {}}, seeds=1)  # an MLP cannot read token ids
    assert r.code == 2 and "does not read text" in r.err and "rnn, conv1d or transformer" in r.err
    r, _ = _run(cli, tmp_path, data={"name": "digits", "cv_folds": 2}, arms={"a": {}}, seeds=2)
    assert r.code == 2 and "'data.cv_folds' is not used by task: classify" in r.err


def test_rnn_gradient_analysis(cli, tmp_path, shared_data):
    r, run = _run(cli, tmp_path, task="scratch", data={"name": "mnist", "train_limit": 300}, model={"name": "rnn", "hidden": 16},
                  train={"epochs": 1, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.003}},
                  arms={"rnn": {"model.cell": "rnn"}, "lstm": {"model.forget_bias": 1.0}}, seeds=1, analyses=["gradients"])
    assert r.code == 0, r.err
    g = read_json(run / "results.json")["arms"]["rnn"]["gradients"]
    assert len(g["init"]["mean"]) == 28 and len(g["trained"]["mean"]) == 28  # one value per row of the image
    assert g["init"]["mean"][27] < 1e-3 * g["init"]["mean"][0]  # vanilla RNN at init: the gradient vanishes
    assert (run / "figures" / "gradients.png").is_file()
    r, _ = _run(cli, tmp_path, task="scratch", model={"name": "mlp"}, arms={"a": {}}, seeds=1, analyses=["gradients"])
    assert r.code == 2 and "needs model rnn" in r.err
    r, _ = _run(cli, tmp_path, task="scratch", data={"name": "mnist", "train_limit": 300},
                model={"name": "rnn", "cell": "gru"}, arms={"a": {}}, seeds=1)
    assert r.code == 2 and "cell must be" in r.err


def test_roc_points_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * y, 2)  # rounded: many ties
    fpr, tpr = roc_points(y, scores)
    ref_fpr, ref_tpr, _ = skm.roc_curve(y, scores, drop_intermediate=False)
    assert np.allclose(fpr, ref_fpr) and np.allclose(tpr, ref_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(skm.roc_auc_score(y, scores))


def test_bias_variance_decomposition_two_classes():
    y = np.array([0, 0, 1, 1])
    preds = [np.array([0, 1, 1, 0]), np.array([0, 0, 1, 0]), np.array([0, 0, 0, 0])]
    bv = evaluate.bias_variance(preds, y)
    # main prediction [0, 0, 1, 0]: wrong on the last example -> bias 1/4
    assert bv["bias"] == 0.25
    assert bv["variance"] == pytest.approx((0 + 1 / 3 + 1 / 3 + 0) / 4)
    assert bv["loss"] == pytest.approx(bv["bias"] + bv["unbiased_variance"] - bv["biased_variance"])


def test_rnn_grad_norms_match_torch_autograd():
    from deepstudy.scratch import RNN

    rng = np.random.default_rng(0)
    layer = RNN(3, 5, rng, dtype=np.float64)
    x = rng.standard_normal((4, 7, 3))
    out = layer.forward(x)
    dout = np.zeros_like(out)
    dout[:, -1] = rng.standard_normal((4, 5))
    layer.backward(dout)
    cell = torch.nn.RNNCell(3, 5, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(torch.from_numpy(getattr(layer, name).data))
    h, hs = torch.zeros(4, 5, dtype=torch.float64), []
    for t in range(7):
        h = cell(torch.from_numpy(x[:, t]), h)
        h.retain_grad()
        hs.append(h)
    (hs[-1] * torch.from_numpy(dout[:, -1])).sum().backward()
    expected = [float(hh.grad.norm(dim=1).mean()) for hh in hs]
    assert np.allclose(layer.grad_norms, expected, rtol=1e-10)


def test_boundary_for_both_neural_engines_and_monitor_last(cli, tmp_path):
    r, run = _run(cli, tmp_path, data={"name": "moons"}, model={"name": "mlp", "hidden": [8]},
                  train={"epochs": 4, "batch_size": 64, "early_stopping": {"monitor": "last"}},
                  arms={"torch": {}, "numpy": {"task": "scratch"}}, seeds=1, analyses=["boundary"])
    assert r.code == 0, r.err
    res = read_json(run / "results.json")
    for arm in ("torch", "numpy"):
        assert res["arms"][arm]["seeds"][0]["best_epoch"] == 3  # monitor: last tests the final weights
        with np.load(run / "arms" / arm / "seed-0" / "boundary.npz") as b:
            assert b["probs"].shape == (120, 120, 2) and np.allclose(b["probs"].sum(-1), 1, atol=1e-5)
    assert (run / "figures" / "boundaries.png").is_file()
    r, _ = _run(cli, tmp_path, train={"early_stopping": {"monitor": "last", "patience": 2}}, arms={"a": {}}, seeds=1)
    assert r.code == 2 and "patience" in r.err
