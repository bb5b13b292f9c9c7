"""Every trained task resumes mid-seed through the one epoch driver: killed like a SIGKILL after an epoch,
resumed with `deepstudy run --resume`, it ends bit-identical to a run that was never interrupted.

(classify and scratch have their own, finer tests in test_cli.py and test_scratch_study.py.)
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, killed_and_clean_runs, make_idx_folder, tiny_study

from deepstudy.fileio import read_json

_TIMING = ("second", "wall", "time")


def _clean(node):
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items() if not any(w in k for w in _TIMING)}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def _rows(path: Path) -> list[dict]:
    return [_clean(json.loads(line)) for line in path.read_text().splitlines()]


def _study(task: str, tmp_path: Path) -> Path:
    epochs = {"train.epochs": 3}
    if task == "forecast":
        return tiny_study(tmp_path, task="forecast", data={"name": "air-quality", "lookback": 12, "stride": 8},
                          model={"name": "rnn", "cell": "gru", "hidden": 8}, arms={"gru": {}}, seeds=1,
                          analyses=["curves"], **epochs)
    if task == "som":
        return tiny_study(tmp_path, task="som", model={"name": "som", "rows": 4, "cols": 4}, arms={"m": {}}, seeds=1,
                          analyses=[], som={"rule": "online"}, **epochs)
    if task == "reconstruct":
        return tiny_study(tmp_path, task="reconstruct", data={"name": "nab", "series": [
            "realKnownCause/nyc_taxi.csv", "realKnownCause/ambient_temperature_system_failure.csv"]},
                          model={"name": "dense-ae", "hidden": [8, 4]}, arms={"dense": {}}, seeds=1, analyses=["curves"],
                          anomaly={"window": 24}, **epochs, **{"train.batch_size": 64})
    if task == "reconstruct-images":
        return tiny_study(tmp_path, task="reconstruct", model={"name": "dense-ae", "hidden": [16, 4]}, arms={"d": {}},
                          seeds=1, analyses=["curves"], anomaly={"normal_classes": ["0", "1", "2"]}, **epochs)
    if task == "generate":
        folder = make_idx_folder(tmp_path / "mnistlike", n_train=200, n_test=60, size=28)
        return tiny_study(tmp_path, task="generate", data={"name": "blobs", "format": "idx", "path": str(folder)},
                          model={"name": "dcgan", "latent": 8, "width": 8}, arms={"bn": {}}, seeds=1,
                          analyses=["curves"], train={"epochs": 3, "batch_size": 64,
                                                      "optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}})
    assert task == "language-model"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log. " * 200)
    return tiny_study(tmp_path, task="language-model", data={"name": "toy", "format": "text-corpus", "path": str(corpus)},
                      model={"name": "char-rnn", "hidden": 16, "embed_dim": 8}, arms={"lstm": {}}, seeds=1,
                      analyses=["curves"], lm={"seq_len": 16, "steps_per_epoch": 4, "sample_length": 10},
                      train={"epochs": 3, "batch_size": 8, "optimizer": {"name": "adamw", "lr": 1e-2}})


@pytest.mark.parametrize("task, after_epoch", [("forecast", 1), ("som", 1), ("reconstruct", 1), ("reconstruct-images", 1),
                                               ("generate", 1), ("generate", 2), ("language-model", 1)])
def test_every_trained_task_resumes_bit_identical(task, after_epoch, tmp_path):
    """after_epoch 2 of 3: killed after the last checkpoint, the resumed seed only tests (nothing left to train)."""
    if task in ("forecast", "reconstruct") and not (SHARED_DATA / "nab").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set DEEPSTUDY_DATA)")
    clean, killed, resume = killed_and_clean_runs(_study(task, tmp_path), tmp_path, after_epoch=after_epoch)
    assert not (killed / "results.json").exists()
    resumed = resume()
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from its checkpoint at epoch {after_epoch + 2}" in resumed.stdout
    a, b = read_json(clean / "results.json"), read_json(killed / "results.json")
    for arm in a["arms"]:
        assert _clean(a["arms"][arm]["seeds"]) == _clean(b["arms"][arm]["seeds"]), arm
        seed = Path("arms") / arm / "seed-0"
        assert _rows(clean / seed / "metrics.jsonl") == _rows(killed / seed / "metrics.jsonl")
        for extra in ("samples.jsonl",):
            if (clean / seed / extra).is_file():
                assert (clean / seed / extra).read_text() == (killed / seed / extra).read_text()
