"""Optimizer trajectories on 2-D test surfaces (deepstudy.train.surfaces) and analyses: [trajectories]."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_study
from deepstudy.train import surfaces


def test_sgd_on_the_stable_manifold_stays_there_while_momentum_and_adam_off_it_leave():
    """The must-hold: plain SGD from (x0, 0) on x² − y² keeps y == 0 exactly and converges to the saddle point;
    momentum SGD and Adam started 1e-3 off the manifold leave (|y| past 1); plain SGD off it leaves too, later."""
    s = surfaces.SURFACES["saddle"]
    on = surfaces.trajectory(s, "SGD", start=s.start)
    assert (on[:, 1] == 0).all()
    assert abs(on[-1, 0]) < 0.01 < abs(on[0, 0])  # x -> 0: into the saddle point
    assert surfaces.classify_path(s, on)["outcome"] == "stalled at the saddle"
    left = {}
    for name in ("momentum", "Adam", "SGD"):
        path = surfaces.trajectory(s, name, start=s.perturbed, steps=600)
        result = surfaces.classify_path(s, path)
        assert result["outcome"] == "escaped the saddle", (name, result)
        assert np.abs(path[:, 1]).max() > 1
        left[name] = result["escaped_at"]
    assert left["SGD"] > 2 * max(left["momentum"], left["Adam"])  # measured: 72, 72 and over 300


def test_every_optimizer_started_exactly_on_the_saddles_manifold_keeps_y_zero():
    for name in ("saddle", "monkey-saddle"):
        for opt in surfaces.OPTIMIZERS:
            assert (surfaces.trajectory(name, opt, steps=50)[:, 1] == 0).all(), (name, opt)


def _rosenbrock_gradient(x, y):
    return np.array([-2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2)])


def _beale_gradient(x, y):
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y ** 2, 2.625 - x + x * y ** 3
    return np.array([2 * a * (y - 1) + 2 * b * (y ** 2 - 1) + 2 * c * (y ** 3 - 1),
                     2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y ** 2])


ANALYTIC = {"rosenbrock": _rosenbrock_gradient, "beale": _beale_gradient,
            "saddle": lambda x, y: np.array([2 * x, -2 * y]),
            "monkey-saddle": lambda x, y: np.array([3 * x ** 2 - 3 * y ** 2, -6 * x * y])}


@pytest.mark.parametrize("name", list(ANALYTIC))
def test_gradients_match_the_analytic_ones(name):
    s = surfaces.SURFACES[name]
    for point in [(-1.5, 2.0), (0.3, -0.7), (1.0, 1.0), (3.0, 0.5), (2.2, 1.3)]:
        np.testing.assert_allclose(surfaces.gradient(s, point), ANALYTIC[name](*point), rtol=1e-12, atol=1e-12)
    for known in (s.minimum, s.saddle):  # the stationary points are stationary
        if known is not None:
            np.testing.assert_allclose(surfaces.gradient(s, known), [0, 0], atol=1e-12)


def test_adam_on_rosenbrock_gets_closer_to_the_minimum():
    s = surfaces.SURFACES["rosenbrock"]
    path = surfaces.trajectory(s, "Adam", steps=300)
    start, end = (np.hypot(*(p - np.array(s.minimum))) for p in (path[0], path[-1]))
    assert end < start / 2
    assert surfaces.classify_path(s, surfaces.trajectory(s, "Adam"))["outcome"] == "reached the minimum"


def test_paths_are_deterministic_and_torch_rng_untouched():
    state = torch.get_rng_state()
    a = surfaces.trajectory("beale", "RMSProp", steps=200)
    b = surfaces.trajectory("beale", "RMSProp", steps=200)
    assert a.shape == (201, 2) and np.array_equal(a, b)
    assert torch.equal(state, torch.get_rng_state())


def test_classify_path_outcomes():
    s = surfaces.SURFACES["rosenbrock"]
    assert surfaces.classify_path(s, surfaces.trajectory(s, "SGD", lr=0.1, steps=50))["outcome"] == "diverged"
    moving = surfaces.classify_path(s, surfaces.trajectory(s, "SGD", steps=20))
    assert moving["outcome"] == "still moving" and moving["steps_to_within_eps"] is None
    reached = surfaces.classify_path(s, np.array([[-1.5, 2.0], [0.9, 0.9], [1.0, 1.0 + 1e-3]]))
    assert reached["outcome"] == "reached the minimum" and reached["steps_to_within_eps"] == 2


def test_weight_decay_reaches_adamw():
    """The point is a (1, 2) weight, so build_optimizer's weight decay applies: AdamW and Adam part ways."""
    assert not np.array_equal(surfaces.trajectory("beale", "Adam", steps=100, lr=0.1),
                              surfaces.trajectory("beale", "AdamW", steps=100, lr=0.1))


@pytest.mark.slow
def test_analysis_in_a_tiny_study_adds_figure_and_block_without_changing_numbers(tmp_path):
    """Two 1-epoch tiny studies (about 20 s on a busy CPU, most of it the 2-D paths)."""
    from deepstudy import config, study
    from deepstudy.fileio import read_json

    base = {"train.epochs": 1, "seeds": 1,
            "arms": {"adamw": {}, "sgd-m": {"train.optimizer.name": "sgd", "train.optimizer.momentum": 0.9}}}
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    with_it = study.run(config.load(str(tiny_study(tmp_path / "a", **base, analyses=["curves", "trajectories"]))),
                        out_root=tmp_path / "runs-a")
    without = study.run(config.load(str(tiny_study(tmp_path / "b", **base, analyses=["curves"]))),
                        out_root=tmp_path / "runs-b")
    r, plain = read_json(with_it / "results.json"), read_json(without / "results.json")
    for arm in ("adamw", "sgd-m"):
        assert r["arms"][arm]["seeds"][0]["test"] == plain["arms"][arm]["seeds"][0]["test"]
    assert "trajectories" not in plain and not (without / "trajectories.json").exists()
    block = r["trajectories"]
    assert set(block["surfaces"]) == set(surfaces.SURFACES)
    assert block["optimizers"]["momentum"]["arms"] == ["sgd-m"]  # the arm with exactly the standard settings
    assert any(label.startswith("arm adamw") for label in block["optimizers"])  # weight decay 0: its own path
    saddle = block["surfaces"]["saddle"]["runs"]
    assert saddle["SGD"]["result"]["outcome"] == "stalled at the saddle"
    assert saddle["momentum"]["perturbed"]["outcome"] == "escaped the saddle"
    found = read_json(with_it / "trajectories.json")
    assert len(found["surfaces"]["rosenbrock"]["runs"]["Adam"]["path"]) == surfaces.SURFACES["rosenbrock"].steps + 1
    assert (with_it / "figures" / "trajectories.png").is_file()
    html, md = (with_it / "report.html").read_text(), (with_it / "report.md").read_text()
    assert "figures/trajectories.png" in md and "which stall, which escape" in html
    escaped = saddle["momentum"]["perturbed"]["escaped_at"]
    assert f"momentum escaped at step {escaped}" in md  # the sentence carries the measured step


def test_analysis_refused_for_a_task_without_train_optimizer(tmp_path):
    from deepstudy import config
    from deepstudy.errors import UserError

    with pytest.raises(UserError, match="analysis trajectories .* remove it for task: som"):
        config.load(str(tiny_study(tmp_path, task="som", analyses=["trajectories"])))
