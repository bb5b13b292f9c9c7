"""The learning-rate range test (Smith, 2017): where it stops, what it suggests, that it leaves the model alone, and
its two ways in — `analyses: [lr-range]` in a study and `deepstudy lr-find`."""
import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_study
from deepstudy import data, models, train
from deepstudy.fileio import read_json
from deepstudy.train.lr_range import suggest


class _Scalar(torch.nn.Module):
    """One weight w (float64: the loss falls by 20 orders of magnitude before it diverges); the output is w."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, x):
        return self.w


@pytest.mark.parametrize("a", [1.0, 4.0])
def test_the_sweep_stops_just_after_the_known_divergence_point_of_a_quadratic(a):
    """f(w) = a w² / 2 under plain SGD: w <- (1 - lr a) w shrinks for lr < 2/a and grows for lr > 2/a. The loss of
    step i is measured before its update, so it can only rise after a step whose rate passed 2/a."""
    start, end, steps = 1e-3, 10.0, 100
    factor = (end / start) ** (1 / (steps - 1))  # the rate's growth per step
    batches = [(torch.zeros(1), torch.zeros(1))]
    quadratic = lambda out, y: 0.5 * a * out ** 2  # noqa: E731
    # unsmoothed, the stopping rule sees the iteration itself
    found = train.lr_range_test(_Scalar(), batches, quadratic, "sgd", start=start, end=end, steps=steps, smooth=0.0)
    stop = found["stopped_at"]
    assert stop is not None, "a quadratic diverges above 2/a; the sweep must stop"
    assert stop["lr"] / factor > 2 / a * (1 - 1e-9), f"stopped at {stop['lr']}: before a rate above 2/a was used"
    assert stop["lr"] <= 2 / a * factor ** 6, f"stopped at {stop['lr']}: more than 6 steps after 2/a = {2 / a}"
    assert 2 / a / factor <= found["minimum"]["lr"] <= 2 / a * factor  # the loss is lowest right at the crossing
    assert found["lrs"][-1] == stop["lr"] and len(found["lrs"]) == stop["step"] + 1 < steps
    # smoothed (fast.ai's 0.98), the average lags the collapse of the loss: the stop may come later, never before
    smoothed = train.lr_range_test(_Scalar(), batches, quadratic, "sgd", start=start, end=end, steps=steps)
    assert smoothed["stopped_at"] is None or smoothed["stopped_at"]["lr"] > 2 / a


def _digits(batch_size=32):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return data.Batches(torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y), batch_size, shuffle=True, seed=0)


def test_the_suggestions_on_digits_lie_inside_the_range_and_below_the_divergence():
    torch.manual_seed(0)
    model = models.build("mlp", (64,), 10, hidden=[32])
    start, end = 1e-5, 100.0
    found = train.lr_range_test(model, _digits(), torch.nn.CrossEntropyLoss(), "adamw", start=start, end=end,
                                steps=100)
    s, stop, low = found["suggestion"], found["stopped_at"], found["minimum"]
    assert stop is not None and start < stop["lr"] < end, "Adam at a rate of 100 diverges on digits"
    for name in ("steepest", "min_div_10"):
        assert start < s[name] < low["lr"] < stop["lr"], (name, s, low, stop)
    assert found["smoothed"][0] > low["loss"] + 0.3  # the loss did fall before it rose
    assert all(math.isfinite(v) for v in found["losses"])
    # the suggestion's own reading, on a made-up curve: a logistic drop centred at 1e-2, flat after 40 points
    lrs = [10 ** (k / 10 - 4) for k in range(50)]
    curve = [1.0 - 0.8 / (1 + (lr / 1e-2) ** -2) for lr in lrs[:40]] + [1.0] * 10
    made_up = suggest(lrs, curve)
    assert 10 ** -2.15 < made_up["steepest"] < 10 ** -1.85 and made_up["min_div_10"] == pytest.approx(lrs[39] / 10)
    assert suggest(lrs[:4], curve[:4]) == {"steepest": None, "min_div_10": None}  # too short to read
    assert suggest(lrs, [1.0 + k for k in range(50)])["steepest"] is None  # a loss that never falls


def test_the_model_and_the_optimizer_are_left_as_they_were():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                torch.nn.Dropout(0.2), torch.nn.Linear(16, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = _digits()
    for x, y in list(batches.epoch(0))[:3]:  # some optimizer state (Adam's moments) and batch-norm statistics
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    weights, state = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    rng = torch.get_rng_state()
    found = train.lr_range_test(model, batches, torch.nn.CrossEntropyLoss(), optimizer, start=1e-4, end=10.0,
                                steps=40)
    assert len(found["lrs"]) > 10  # it did train (a copy)
    assert not model.training and optimizer.param_groups[0]["lr"] == 1e-3
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k
    after = optimizer.state_dict()
    assert after["param_groups"] == state["param_groups"]
    for i, s in state["state"].items():
        for k, v in s.items():
            assert torch.equal(after["state"][i][k], v), (i, k)
    assert torch.equal(torch.get_rng_state(), rng)  # torch's global stream as it was: the run's numbers stay


def test_the_same_seed_gives_the_same_curve():
    def sweep(seed):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                    torch.nn.Linear(32, 10))
        return train.lr_range_test(model, _digits(), torch.nn.CrossEntropyLoss(), "sgd", start=1e-4, end=10.0,
                                   steps=50, seed=seed)
    first, again, other = sweep(3), sweep(3), sweep(4)
    assert first == again
    assert first["losses"] != other["losses"]  # the seed is what makes it repeat (dropout draws from it)


@pytest.mark.parametrize("setting, says", [
    (["lr_range.start=1e-3", "lr_range.end=1e-5"], "the LR range ends (1e-05) below its start (0.001)"),
    (["lr_range.steps=5"], "'lr_range.steps': Input should be greater than or equal to 10"),
    (["lr_range.start=0"], "'lr_range.start': Input should be greater than 0"),
])
def test_a_bad_range_is_one_line_and_exit_2(cli, tmp_path, setting, says):
    sets = [a for s in setting for a in ("--set", s)]
    r = cli("lr-find", str(tiny_study(tmp_path)), *sets, "--out", str(tmp_path / "lr"))
    assert r.code == 2 and r.err.count("\n") == 1 and says in r.err, r.err
    assert any(r.err.startswith(f"error: --set {s}: ") for s in setting)  # blamed on an override that set it
    assert not (tmp_path / "lr").exists()


def test_lr_find_writes_its_json_and_figure(cli, tmp_path):
    out = tmp_path / "lr"
    r = cli("lr-find", str(tiny_study(tmp_path)), "--set", "lr_range.start=1e-5", "--set", "lr_range.end=100",
            "--set", "lr_range.steps=60", "--out", str(out))
    assert r.code == 0, r.err
    found = read_json(out / "lr-find.json")
    assert list(found["arms"]) == ["small", "wide"] and "Suggested rates" in found["caption"]
    assert (out / "lr-find.png").stat().st_size > 5000
    lines = r.out.splitlines()
    assert lines[0].split() == ["arm", "steepest", "min", "÷", "10", "stopped", "at", "trains", "at"]
    for arm, line in zip(("small", "wide"), lines[1:3]):
        s = found["arms"][arm]["suggestion"]
        assert line.split()[:3] == [arm, f"{s['steepest']:.2g}", f"{s['min_div_10']:.2g}"]
        assert len(found["arms"][arm]["lrs"]) <= 60
    assert lines[-2:] == [f"figure: {out / 'lr-find.png'}", f"results: {out / 'lr-find.json'}"]
    assert not (tmp_path / "runs").exists()  # no training, no run directory
    r = cli("lr-find", str(tiny_study(tmp_path)), "--arms", "wide", "--set", "lr_range.steps=20", "--out",
            str(tmp_path / "one"))
    assert r.code == 0 and list(read_json(tmp_path / "one" / "lr-find.json")["arms"]) == ["wide"]


def _run(cli, study: Path, out: Path) -> Path:
    r = cli("run", str(study), "--out", str(out))
    assert r.code == 0, r.err
    return Path(r.out.splitlines()[-1].removeprefix("report: ")).parent


def test_the_lr_range_analysis_adds_a_figure_and_a_block_and_changes_no_number(cli, tmp_path):
    common = {"seeds": 1, "train.epochs": 2, "lr_range": {"start": 1e-5, "end": 100, "steps": 40}}
    run = _run(cli, tiny_study(tmp_path, analyses=["curves", "lr-range"], **common), tmp_path / "with")
    res = read_json(run / "results.json")
    for arm in ("small", "wide"):
        block = res["arms"][arm]["lr_range"]
        assert set(block["suggestion"]) == {"steepest", "min_div_10"} and block["optimizer"] == "adamw"
        assert block["suggestion"] == read_json(run / "arms" / arm / "lr-range.json")["suggestion"]
    assert (run / "figures" / "lr-range.png").is_file()
    html, md = (run / "report.html").read_text(), (run / "report.md").read_text()
    assert "Learning-rate range test (Smith, 2017)" in html and "![Learning-rate range test" in md
    steepest = res["arms"]["small"]["lr_range"]["suggestion"]["steepest"]
    assert f"small: steepest descent at {steepest:.2g}" in md  # the line in the report's text
    plain = _run(cli, tiny_study(tmp_path, analyses=["curves"], **common), tmp_path / "without")
    before = read_json(plain / "results.json")
    assert "lr_range" not in before["arms"]["small"] and not (plain / "figures" / "lr-range.png").exists()
    for arm in ("small", "wide"):  # listing the analysis trains the same seeds to the same numbers
        assert res["arms"][arm]["seeds"][0]["test"] == before["arms"][arm]["seeds"][0]["test"]
        assert np.array_equal(np.load(run / "arms" / arm / "seed-0" / "predictions.npy"),
                              np.load(plain / "arms" / arm / "seed-0" / "predictions.npy"))
