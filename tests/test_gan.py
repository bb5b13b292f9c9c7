"""DCGAN shapes and init, the judge's Fréchet distance against a hand computation, task: generate end to end."""
import numpy as np
import pytest
import torch
from scipy import linalg

from conftest import make_idx_folder, tiny_study
from deepstudy.fileio import read_json
from deepstudy.models import gan


def test_dcgan_shapes_range_and_init():
    g, d = gan.create(latent=16, width=8)
    z = torch.randn(5, 16)
    x = g(z)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (5,)
    conv = g.up[0].weight
    assert abs(float(conv.detach().std()) - 0.02) < 0.005  # DCGAN: N(0, 0.02)
    g2, _ = gan.create(latent=16, width=8, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in g2.modules())


def test_frechet_distance_matches_the_formula():
    from deepstudy.tasks.generate import Judge

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 4)), rng.normal(1.0, 2.0, size=(500, 4))
    judge = Judge.__new__(Judge)
    judge.real_mean, judge.real_cov = a.mean(0), np.cov(a, rowvar=False)
    judge.features = lambda images: (b, np.full((len(b), 3), 1 / 3))
    s = judge.score(torch.zeros(1))
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real)
    assert s["frechet_distance"] == pytest.approx(expected)
    assert s["inception_score"] == pytest.approx(1.0) and s["diversity"] == pytest.approx(1.0)  # uniform p(y|x)


def test_generate_study_end_to_end(cli, tmp_path):
    folder = make_idx_folder(tmp_path / "mnistlike", n_train=300, n_test=100, size=28)
    study = tiny_study(tmp_path, task="generate", data={"name": "blobs", "format": "idx", "path": str(folder)},
                       model={"name": "dcgan", "latent": 8, "width": 8}, arms={"bn": {}, "plain": {"model.batch_norm": False}},
                       seeds=1, analyses=["curves"], train={"epochs": 2, "batch_size": 64,
                                                             "optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    res = read_json(run / "results.json")
    assert res["metric"] == "frechet_distance" and (run / "judge" / "judge.safetensors").is_file()
    assert (run / "judge" / "real.npz").is_file()
    for arm in ("bn", "plain"):
        a = res["arms"][arm]
        assert a["summary"]["frechet_distance"]["mean"] > 0 and 1 <= a["summary"]["inception_score"]["mean"] <= 3
        assert a["gan"]["judge"]["test_accuracy"] > 0.5  # the judge learned the real classes
    with np.load(run / "arms" / "bn" / "seed-0" / "samples.npz") as z:
        assert z["grids"].shape == (2, 64, 28, 28) and z["grids"].dtype == np.uint8
    html = (run / "report.html").read_text()
    assert "Fréchet distance" in html and "final generator loss" in html


def test_generate_bad_inputs(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, task="generate", model={"name": "dcgan"}, arms={"a": {}})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "28x28" in r.err  # digits are 8x8
    r = cli("run", str(tiny_study(tmp_path, task="generate", model={"name": "cnn"}, arms={"a": {}})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "model 'dcgan'" in r.err
