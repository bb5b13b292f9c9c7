"""The task seam: a task added from outside the package is one class plus one registration, and then runs
through `deepstudy run`, a crash and `--resume`, results.json and the report like a built-in one."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_study
from torch import nn

from deepstudy import config, evaluate, repro, tasks, train
from deepstudy.fileio import read_json, read_jsonl

CRASH_AFTER = {"epoch": None}  # the toy task raises after this epoch once (an in-process stand-in for a kill)


class Prototypes(nn.Module):
    def __init__(self, classes: int, features: int):
        super().__init__()
        self.register_buffer("centres", torch.zeros(classes, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B, K): minus squared distance
        return -torch.cdist(x.flatten(1), self.centres) ** 2


class PrototypeTask(tasks.Task):
    """prototype: class centres moved a step towards noisy class means each epoch (a toy task of the test)."""

    name = "prototype"
    predictions = True
    config_keys = {"train": ("eval_batch_size",), "data": ("val_fraction", "test_fraction", "train_limit",
                                                           "normalize")}

    def check_data(self, arm, cfg, ds):
        if ds.kind not in ("image", "table"):
            raise config.UserError(f"arm '{arm}': task prototype reads images or tables")

    def train_seed(self, ctx: tasks.SeedContext) -> dict:
        ds, t = ctx.dataset, ctx.cfg.train
        x, y = ds.float_inputs(ds.x_train).flatten(1), ds.y_train.long()
        model = Prototypes(ds.num_classes, x.shape[1])

        def epochs(start: int):
            for epoch in range(start, t.epochs):
                g = repro.generator(repro.derive_seed(ctx.run_seed, "epoch", epoch))
                for c in range(ds.num_classes):
                    target = x[y == c].mean(0) + 0.1 * torch.randn(x.shape[1], generator=g)
                    model.centres[c] += 0.5 * (target - model.centres[c])
                val = model(ds.float_inputs(ds.x_val).flatten(1))
                yield {"epoch": epoch, "train_loss": None, "train_acc": None, "val_loss": None,
                       "val_acc": float((val.argmax(1) == ds.y_val).float().mean()), "seconds": 0.0,
                       "eval_seconds": 0.0, "steps": ds.num_classes}
                if CRASH_AFTER["epoch"] == epoch:
                    CRASH_AFTER["epoch"] = None
                    raise RuntimeError("simulated crash")

        monitor = train.Monitor("val_acc")
        train.drive(ctx.seed.path, train.TorchState(model), epochs, total=t.epochs, monitor=monitor,
                    on_event=ctx.on_event, arm=ctx.arm, seed=ctx.index)
        train.checkpoint.load_weights(model, ctx.seed.best)
        logits = model(ds.float_inputs(ds.x_test).flatten(1)).numpy()
        evaluate.save_predictions(ctx.seed.path, logits)
        return evaluate.run_record(read_jsonl(ctx.seed.metrics), best_epoch=monitor.best_epoch,
                                   monitor={"metric": monitor.metric, "best": monitor.best}, stopped_early=False,
                                   precision="fp32", test_seconds=0.0, train_accuracy=0.0,
                                   test=evaluate.classification_metrics(logits, ds.y_test.numpy(), ds.classes))

    def size(self, cfg, data_info, ok):
        return tasks.Size(int(np.prod(data_info["input_shape"])) * len(data_info["classes"]))


@pytest.fixture
def prototype_task():
    task = tasks.register(PrototypeTask())
    yield task
    tasks._REGISTRY.pop("prototype", None)
    config.STUDY_TYPES.pop("prototype", None)


def _study(tmp_path):
    return tiny_study(tmp_path, task="prototype", model={"name": "prototypes"}, arms={"a": {}}, seeds=2,
                      analyses=["curves", "confusion"], **{"train.epochs": 4})


def test_a_registered_task_runs_crashes_resumes_and_reports(cli, tmp_path, prototype_task):
    clean = cli("run", str(_study(tmp_path)), "--out", str(tmp_path / "clean"))
    assert clean.code == 0, clean.err
    CRASH_AFTER["epoch"] = 1
    with pytest.raises(RuntimeError, match="simulated crash"):  # an internal error keeps its traceback
        cli("run", str(_study(tmp_path)), "--out", str(tmp_path / "crashed"))
    assert CRASH_AFTER["epoch"] is None
    run = next((tmp_path / "crashed" / "tiny").iterdir())
    assert not (run / "results.json").exists() and (run / "arms/a/seed-0/checkpoint/last.json").is_file()
    resumed = cli("run", "--resume", str(run))
    assert resumed.code == 0, resumed.err
    assert "resumed from its checkpoint at epoch 3" in resumed.out
    a = read_json(next((tmp_path / "clean" / "tiny").iterdir()) / "results.json")
    b = read_json(run / "results.json")
    assert a["task"] == b["task"] == "prototype" and a["metric"] == "accuracy"
    for s, r in zip(a["arms"]["a"]["seeds"], b["arms"]["a"]["seeds"]):
        assert s["test"] == r["test"] and s["best_epoch"] == r["best_epoch"]
    assert a["arms"]["a"]["summary"]["accuracy"]["mean"] > 0.8  # digits' class means separate the classes
    assert a["arms"]["a"]["params"] == 64 * 10 and a["arms"]["a"]["confusion"] is not None
    html = (run / "report.html").read_text()
    assert "Task prototype" in html and "test accuracy %" in html


def test_a_registered_task_refuses_keys_it_does_not_read(cli, tmp_path, prototype_task):
    r = cli("run", str(_study(tmp_path)), "--set", "train.grad_clip=1.0", "--out", str(tmp_path / "r"))
    assert r.code == 2 and "'train.grad_clip' is not used by task: prototype" in r.err
    schema = config.json_schema()
    assert "prototype" in str(schema)


def test_an_unregistered_task_is_one_clear_error(cli, tmp_path):
    r = cli("run", str(_study(tmp_path)), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "unknown task 'prototype'" in r.err and "Traceback" not in r.err
