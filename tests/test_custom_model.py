"""A model of your own from the study file: ``model: {class_path: "module:Class", kwargs: {...}}`` trains, resumes
and is explained like a zoo model, also from another folder; bad class paths are one line, exit 2."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import tiny_study
from deepstudy.fileio import read_json

NET = '''
import torch
from torch import nn


class SmallNet(nn.Module):
    """A two-layer perceptron of our own."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 8):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.body(x)


class Picky(nn.Module):
    def __init__(self, num_classes: int, width: int = 4):
        super().__init__()
        if width > 100:
            raise ValueError("width above 100 is not supported")
        self.fc = nn.LazyLinear(num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


not_a_class = 3
'''


@pytest.fixture
def forget_modules():
    """Each test imports its module afresh (no class cached from an earlier test, no folder left on sys.path)."""
    from deepstudy.models import custom, registry

    def forget():
        for name in [n for n in sys.modules if n.startswith("ds_custom_")]:
            del sys.modules[name]
        for name in [n for n in registry._MODELS if custom.is_class_path(n)]:
            del registry._MODELS[name]
        sys.path[:] = [p for p in sys.path if p not in {str(f) for f in custom._FOLDERS}]
        custom._FOLDERS.clear()
    forget()
    yield forget
    forget()


def _study(folder: Path, module: str, **model) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = tiny_study(folder, model={"class_path": f"{module}:SmallNet", "kwargs": {"hidden": 8}, **model},
                      arms={"mine": {}, "wider": {"model.kwargs.hidden": 16}}, seeds=2, **{"train.epochs": 2})
    return path


def _run_dir(out: str) -> Path:
    return Path(out.strip().splitlines()[-1].removeprefix("report: ")).parent


def test_class_path_runs_resumes_and_explains_from_another_folder(cli, tmp_path, monkeypatch, forget_modules):
    code = tmp_path / "code"
    code.mkdir()
    (code / "ds_custom_nets.py").write_text(NET)
    study = _study(code, "ds_custom_nets")
    monkeypatch.chdir(tmp_path)  # the module is beside the study file, not in the current folder
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["class_path"] == "ds_custom_nets:SmallNet" and config["model"]["kwargs"] == {"hidden": 8}
    recorded = read_json(run / "models.json")["ds_custom_nets:SmallNet"]
    assert recorded["file"] == str(code / "ds_custom_nets.py") and len(recorded["sha256"]) == 64
    results = read_json(run / "results.json")
    assert results["arms"]["wider"]["params"] > results["arms"]["mine"]["params"]  # kwargs reach the constructor

    # a new process would know nothing of the module: resume finds it where the run recorded it
    forget_modules()
    monkeypatch.chdir(tmp_path / "runs")
    (run / "arms" / "wider" / "seed-1" / "result.json").unlink()  # as if killed after its last epoch
    before = read_json(run / "arms" / "mine" / "seed-0" / "result.json")
    r = cli("run", "--resume", str(run))
    assert r.code == 0, r.err
    assert (run / "arms" / "wider" / "seed-1" / "result.json").is_file()
    assert read_json(run / "arms" / "mine" / "seed-0" / "result.json") == before

    forget_modules()
    (code / "ds_custom_nets.py").write_text(NET + "\n# edited after the run\n")
    r = cli("explain", str(run), "--method", "saliency", "--n", "4")
    assert r.code == 0, r.err
    assert "changed since the run recorded it" in r.out
    assert set(read_json(run / "results.json")["arms"]["mine"]["explain"]["methods"]) == {"saliency"}

    # predict and export, from yet another folder, in a process that has not imported the module
    forget_modules()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    stored = read_json(run / "arms" / "mine" / "preprocessing.json")["image"]["stored_shape"]
    np.save(elsewhere / "x.npy", np.zeros((3, *stored), np.uint8))
    r = cli("predict", str(run), "x.npy", "--arm", "mine")
    assert r.code == 0, r.err
    assert "changed since the run recorded it" in r.out and len((elsewhere / "predictions.csv").read_text().splitlines()) == 4
    forget_modules()
    r = cli("export", str(run), "--arm", "wider", "--format", "torchscript", "--out", "wider.pt")
    assert r.code == 0 and (elsewhere / "wider.pt").is_file(), r.err


@pytest.mark.parametrize("model, message", [
    ({"class_path": "ds_custom_missing:SmallNet"}, "no module 'ds_custom_missing'"),
    ({"class_path": "ds_custom_bad:SmallNett"}, "has no 'SmallNett' (did you mean: SmallNet?)"),
    ({"class_path": "ds_custom_bad:not_a_class"}, "is a int, not a torch.nn.Module subclass"),
    ({"class_path": "ds_custom_bad:SmallNet", "kwargs": {"hiden": 3}}, "has no argument 'hiden' (did you mean: hidden"),
    ({"class_path": "ds_custom_bad:Picky", "kwargs": {"width": 101}}, "ValueError: width above 100"),
    ({"class_path": "ds_custom_bad:SmallNet", "hidden": 3}, "under model.kwargs"),
    ({"class_path": "ds_custom_bad"}, "must be 'package.module:ClassName'"),
])
def test_bad_class_paths_are_one_line(cli, tmp_path, monkeypatch, forget_modules, model, message):
    (tmp_path / "ds_custom_bad.py").write_text(NET)
    monkeypatch.chdir(tmp_path)  # the current folder is searched too
    study = tiny_study(tmp_path, model=model, arms={"a": {}}, seeds=1)
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 2 and message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()  # before any run folder
