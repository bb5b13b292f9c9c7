"""`task: scratch` through the whole study machinery: report, checks, resume bit-identical."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, tiny_study
from deepstudy.fileio import read_json


def _study(tmp_path, **kw):
    base = {"task": "scratch", "model": {"name": "mlp", "hidden": [32], "dropout": 0.1},
            "arms": {"mlp": {}, "lenet": {"model": {"name": "lenet", "channels": [4, 8], "kernel_size": 3, "hidden": 16}}}}
    return tiny_study(tmp_path, **{**base, **kw})


def test_scratch_study_end_to_end(cli, tmp_path):
    r = cli("run", str(_study(tmp_path, **{"train.epochs": 8})), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    res = read_json(run / "results.json")
    for arm in ("mlp", "lenet"):
        assert res["arms"][arm]["summary"]["accuracy"]["mean"] > 0.6  # chance is 0.1
        assert res["arms"][arm]["seeds"][0]["precision"] == "fp32 (NumPy engine)"
    assert res["arms"]["mlp"]["params"] == 64 * 32 + 32 + 32 * 10 + 10
    assert "Conclusions" in (run / "report.html").read_text()


def test_scratch_rejects_what_it_cannot_do(cli, tmp_path):
    r = cli("run", str(_study(tmp_path)), "--set", "train.precision=bf16", "--out", str(tmp_path / "runs"))
    assert r.code == 2 and "'train.precision' is not used by task: scratch" in r.err  # refused by its config
    r = cli("run", str(_study(tmp_path)), "--set", "model.hiden=[3]", "--out", str(tmp_path / "runs"))
    assert r.code == 2 and "hidden" in r.err
    r = cli("run", str(_study(tmp_path, arms={"x": {"model.name": "resnet"}})), "--out", str(tmp_path / "runs"))
    assert r.code == 2 and "lenet" in r.err


def test_scratch_resume_after_kill_is_bit_identical(tmp_path):
    study = _study(tmp_path, **{"train.epochs": 3, "seeds": 1})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "deepstudy", "run", str(study), "--out"]
    assert subprocess.run(cmd + [str(tmp_path / "clean")], capture_output=True, env=env).returncode == 0
    killed = subprocess.run(cmd + [str(tmp_path / "k")], capture_output=True, env={**env, "DEEPSTUDY_FAULT_AFTER_EPOCH": "0"})
    assert killed.returncode == 137
    run = next((tmp_path / "k" / "tiny").iterdir())
    r = subprocess.run([sys.executable, "-m", "deepstudy", "run", "--resume", str(run)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    clean = next((tmp_path / "clean" / "tiny").iterdir())
    for arm in ("mlp", "lenet"):
        a = np.load(clean / "arms" / arm / "seed-0" / "best.npz")
        b = np.load(run / "arms" / arm / "seed-0" / "best.npz")
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files), arm


def test_scratch_schedules_follow_torch_curves():
    import torch

    from deepstudy import config
    from deepstudy.tasks import scratch as study_scratch

    for name, ref in [("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40)),
                      ("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5))]:
        cfg = config.validate({"name": "x", "task": "scratch", "train": {"epochs": 4, "schedule": name, "step_epochs": 1,
                                                                          "gamma": 0.5, "optimizer": {"lr": 0.1}}})
        lr_at = study_scratch.schedule(cfg, steps_per_epoch=10)
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = ref(opt)
        for step in range(40):
            assert lr_at(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9), (name, step)
            opt.step()
            sched.step()


@pytest.mark.parametrize("batch_norm", [False, True])
def test_torch_model_starts_from_the_numpy_engines_weights(batch_norm):
    """train.init: numpy-engine: the torch MLP computes what the NumPy MLP of the same seed computes, before training."""
    import torch

    from deepstudy import config, models
    from deepstudy.tasks import scratch as study_scratch

    cfg = config.validate({"name": "x", "task": "classify", "data": {"name": "digits"},
                           "model": {"name": "mlp", "hidden": [32, 16], "batch_norm": batch_norm},
                           "train": {"init": "numpy-engine"}})
    x = np.random.default_rng(3).standard_normal((8, 1, 8, 8)).astype(np.float32)
    twin = study_scratch.build(cfg, (1, 8, 8), 10, seed=123)
    model = models.build("mlp", (1, 8, 8), 10, hidden=[32, 16], batch_norm=batch_norm)
    before = model(torch.from_numpy(x)).detach().numpy()
    info = study_scratch.copy_initial_weights(model, cfg, (1, 8, 8), 10, run_seed=123)
    out = model(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(out, twin.forward(x), atol=1e-5) and not np.allclose(before, out, atol=1e-2)
    assert "3 layers" in info["source"] if not batch_norm else "5 layers" in info["source"]


def test_numpy_engine_init_in_a_study_and_its_bad_uses(cli, tmp_path):
    arms = {"numpy": {}, "torch": {"task": "classify", "train.init": "numpy-engine"}}
    r = cli("run", str(_study(tmp_path, arms=arms, seeds=1)), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    assert "torch: starts from the initial weights of the NumPy engine" in (run / "report.md").read_text()
    torch_arm = {"task": "classify", "train.init": "numpy-engine"}
    bad = {"cnn": ({"torch": {**torch_arm, "model": {"name": "cnn", "channels": [4]}}}, "no model 'cnn'"),
           "scratch": ({"numpy": {"train.init": "numpy-engine"}}, "'train.init' is not used by task: scratch"),
           "gelu": ({"torch": {**torch_arm, "model.activation": "gelu"}}, "activation must be one of"),
           "pretrain": ({"torch": {**torch_arm, "pretrain.task": "rotation"}}, "keep one of them")}
    for name, (arms, message) in bad.items():
        r = cli("run", str(_study(tmp_path, arms=arms)), "--out", str(tmp_path / name))
        assert r.code == 2 and message in r.err and "Traceback" not in r.err, (name, r.err)
        assert not (tmp_path / name).exists()
