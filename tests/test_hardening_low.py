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
