"""Damaged checkpoints are caught by their sha256 (hardening, item 7): flipped bytes inside a weight tensor used to load
silently and train on. The latest damaged -> the epoch before it, re-trained deterministically; both damaged -> one
line, exit 2. The NumPy engine's .npz checkpoints get the same; a planted torchvision checkpoint is hashed before
pretrain.task: imagenet loads it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from conftest import killed_and_clean_runs, tiny_study
from test_resume_tasks import _clean, _rows
from torch import nn

from deepstudy import scratch, weights
from deepstudy.errors import UserError
from deepstudy.fileio import read_json, write_json
from deepstudy.scratch.models import BUILDERS
from deepstudy.tasks.scratch import NumpyState, _save
from deepstudy.tasks.scratch import _load as _npz
from deepstudy.train import checkpoint
from deepstudy.train.precision import grad_scaler


def _flip_signs(path: Path, start: int, end: int) -> None:
    """Flip the sign bit of every float32 in bytes [start, end) of ``path`` (little-endian): finite, wrong weights."""
    raw = bytearray(path.read_bytes())
    for i in range(start + 3, end, 4):
        raw[i] ^= 0x80
    path.write_bytes(bytes(raw))


def _damage_weights(path: Path) -> None:
    """Flip bytes inside the largest tensor's data of a .safetensors file; the header stays valid."""
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + size])
    begin, end = max((v["data_offsets"] for k, v in header.items() if k != "__metadata__"), key=lambda o: o[1] - o[0])
    _flip_signs(path, 8 + size + begin, 8 + size + end)


def _torch_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, grad_scaler("fp32", torch.device("cpu"))


def _two_epochs(folder: Path) -> list[dict[str, torch.Tensor]]:
    """Epochs 0 and 1 saved, with different weights; returns both epochs' weights."""
    model, opt, scaler = _torch_state()
    saved = []
    for epoch in range(2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.5)
        checkpoint.save(folder, epoch, model, opt, None, scaler, {"epoch_note": epoch})
        saved.append({k: v.clone() for k, v in model.state_dict().items()})
    return saved


def _load(folder: Path):
    model, opt, scaler = _torch_state()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return checkpoint.load(folder, model, opt, None, scaler), model.state_dict()


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("damage", ["flipped weights", "flipped state", "missing weights"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(tmp_path, damage):
    w0, w1 = _two_epochs(tmp_path)
    state, loaded = _load(tmp_path)
    assert state == {"epoch": 1, "extra": {"epoch_note": 1}} and _equal(loaded, w1)  # intact: the latest, no fallback
    latest = tmp_path / ("epoch-0001.state.pt" if damage == "flipped state" else "epoch-0001.safetensors")
    if damage == "missing weights":
        latest.unlink()
    elif damage == "flipped weights":
        _damage_weights(latest)
        damaged = safetensors.torch.load_file(latest)  # the flip is silent to safetensors: it parses, values wrong
        assert not _equal(damaged, w1)
    else:
        raw = bytearray(latest.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        latest.write_bytes(bytes(raw))
    state, loaded = _load(tmp_path)
    assert state["epoch"] == 0 and state["extra"] == {"epoch_note": 0} and _equal(loaded, w0)
    assert state["fell_back_from"]["epoch"] == 1 and latest.name in state["fell_back_from"]["reason"]


def test_both_generations_damaged_is_one_line(tmp_path):
    _two_epochs(tmp_path)
    _damage_weights(tmp_path / "epoch-0001.safetensors")
    _damage_weights(tmp_path / "epoch-0000.safetensors")
    with pytest.raises(UserError) as e:
        _load(tmp_path)
    message = str(e.value)
    assert "\n" not in message and str(tmp_path) in message and "delete that folder" in message
    assert "epoch-0001.safetensors" in message and "epoch-0000.safetensors" in message


def test_after_a_fallback_the_retrained_epoch_keeps_the_good_one_before(tmp_path):
    w0, _ = _two_epochs(tmp_path)
    _damage_weights(tmp_path / "epoch-0001.safetensors")
    model, opt, scaler = _torch_state()
    assert checkpoint.load(tmp_path, model, opt, None, scaler)["epoch"] == 0
    checkpoint.save(tmp_path, 1, model, opt, None, scaler, {})  # epoch 1 trained again (here: the same weights)
    pointer = read_json(tmp_path / "last.json")
    assert pointer["epoch"] == 1 and pointer["previous"]["epoch"] == 0  # not the damaged epoch-1 entry
    assert set(pointer["sha256"]) == {"epoch-0001.safetensors", "epoch-0001.state.pt"}
    state, loaded = _load(tmp_path)
    assert "fell_back_from" not in state and _equal(loaded, w0)


def test_a_checkpoint_without_hashes_still_loads(tmp_path):
    """last.json as written before sha256s were recorded: followed as it is (nothing to check it against)."""
    _, w1 = _two_epochs(tmp_path)
    write_json(tmp_path / "last.json", {"epoch": 1, "weights": "epoch-0001.safetensors", "state": "epoch-0001.state.pt"})
    state, loaded = _load(tmp_path)
    assert state == {"epoch": 1, "extra": {"epoch_note": 1}} and _equal(loaded, w1)
    model, opt, scaler = _torch_state()
    checkpoint.save(tmp_path, 2, model, opt, None, scaler, {})
    assert read_json(tmp_path / "last.json")["previous"] == {"epoch": 1, "weights": "epoch-0001.safetensors",
                                                            "state": "epoch-0001.state.pt"}


def _numpy_state(seed: int) -> NumpyState:
    model = BUILDERS["mlp"](6, 3, np.random.default_rng(seed), hidden=[5])
    return NumpyState(model, scratch.SGD(model.params(), 0.1, momentum=0.9))


def test_the_numpy_engines_checkpoint_falls_back_too(tmp_path):
    folder = tmp_path / "checkpoint"
    state, saved = _numpy_state(0), []
    for epoch in range(2):
        for p in state.model.params():
            p.data += 0.5
        state.save(folder, epoch, {"monitor": {"best": float(epoch)}})
        saved.append({k: v.copy() for k, v in state.model.state_dict().items()})
    latest = folder / "epoch-0001.npz"
    weight = saved[1]["param0"].tobytes()
    at = latest.read_bytes().index(weight)  # np.savez stores arrays uncompressed: flip inside the first weight matrix
    _flip_signs(latest, at, at + len(weight))
    fresh = _numpy_state(1)
    epoch, extra, fallback = fresh.load(folder)
    assert epoch == 0 and extra == {"monitor": {"best": 0.0}}
    assert fallback["epoch"] == 1 and "epoch-0001.npz" in fallback["reason"]
    assert all(np.array_equal(v, saved[0][k]) for k, v in fresh.model.state_dict().items())
    with pytest.raises(UserError, match="unreadable"):  # read directly (best.npz, a pre-hash checkpoint): one line
        _npz(latest)
    at = (folder / "epoch-0000.npz").read_bytes().index(saved[0]["param0"].tobytes())
    _flip_signs(folder / "epoch-0000.npz", at, at + 8)
    with pytest.raises(UserError) as e:
        _numpy_state(1).load(folder)
    assert "\n" not in str(e.value) and "epoch-0000.npz" in str(e.value) and str(folder) in str(e.value)


def test_the_numpy_engines_single_file_checkpoint_of_earlier_versions_still_loads(tmp_path):
    folder, state = tmp_path / "checkpoint", _numpy_state(0)
    _save(folder.with_suffix(".npz"), model=state.model.state_dict(), optim=state.optimizer.state_dict(),
          meta={"epoch": np.asarray(4), "monitor": np.asarray(json.dumps({"best": 1.5}))})
    fresh = _numpy_state(1)
    assert fresh.exists(folder) and fresh.load(folder) == (4, {"monitor": {"best": 1.5}}, None)
    assert all(np.array_equal(v, state.model.state_dict()[k]) for k, v in fresh.model.state_dict().items())
    fresh.save(folder, 5, {"monitor": {"best": 1.0}})
    assert not folder.with_suffix(".npz").exists() and fresh.load(folder)[0] == 5


def test_resume_past_a_damaged_checkpoint_is_bit_identical(tmp_path, cli):
    """Killed after its second epoch (of 3), the latest weights damaged: the resumed run goes back to the first
    epoch's checkpoint, trains the second again and ends as the uninterrupted run; both damaged: one line, exit 2."""
    study = tiny_study(tmp_path, seeds=1, arms={"a": {}}, analyses=["curves"])
    clean, killed, resume = killed_and_clean_runs(study, tmp_path, after_epoch=1)
    seed = Path("arms") / "a" / "seed-0"
    ckpt = killed / seed / "checkpoint"
    both = shutil.copytree(killed, tmp_path / "both-damaged")
    _damage_weights(ckpt / "epoch-0001.safetensors")
    resumed = resume()
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 2 failed its sha256 check" in resumed.stdout and "epoch-0001.safetensors" in resumed.stdout
    assert "resumed from its checkpoint at epoch 2" in resumed.stdout  # epoch 1 of 3 done: the second trains again
    a, b = read_json(clean / "results.json"), read_json(killed / "results.json")
    assert _clean(a["arms"]["a"]["seeds"]) == _clean(b["arms"]["a"]["seeds"])
    assert _rows(clean / seed / "metrics.jsonl") == _rows(killed / seed / "metrics.jsonl")
    for name in ("epoch-0001.safetensors", "epoch-0000.safetensors"):
        _damage_weights(both / seed / "checkpoint" / name)
    r = cli("run", "--resume", str(both))
    assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    assert r.err.startswith("error: checkpoint in ") and "is damaged" in r.err and "delete that folder" in r.err
    assert not (both / "results.json").exists()


def test_a_planted_imagenet_checkpoint_is_hashed_before_pretraining(cli, tmp_path, monkeypatch, shared_data):
    """A loadable resnet18 checkpoint with the published file name but other weights: pretrain.task imagenet used to
    load it; now it is checked like `weights fetch` checks a copy on disk, before the run directory exists."""
    from deepstudy.data import registry
    monkeypatch.setattr(registry, "cache_dir", lambda: tmp_path / "cache")
    planted = tmp_path / "cache" / weights.FOLDER / weights.spec("resnet18").file
    planted.parent.mkdir(parents=True)
    torch.save(weights.model("resnet18").state_dict(), planted)
    study = tiny_study(tmp_path, data={"name": "digits", "imagenet_input": 64, "train_limit": 100},
                       model={"name": "resnet18"}, arms={"imagenet-probe": {}}, pretrain={"task": "imagenet"},
                       seeds=1, analyses=["curves"], **{"train.epochs": 1, "train.freeze_backbone": True})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert f"not {weights.spec('resnet18').sha256_prefix}" in r.err and "deepstudy weights fetch resnet18" in r.err
    assert not (tmp_path / "runs").exists()
    with pytest.raises(UserError, match="sha256 starts with"):
        weights.load("resnet18")  # the library's loader checks a present copy the same way


def test_best_weights_are_sealed_and_checked_before_use(tmp_path):
    model, _, _ = _torch_state()
    best = tmp_path / "best.safetensors"
    checkpoint.save_weights(model, best)
    seal = tmp_path / "best.safetensors.sha256"
    assert seal.read_text().split() == [checkpoint.sha256_file(best), "best.safetensors"]  # sha256sum -c format
    checkpoint.load_weights(_torch_state()[0], best)  # intact: loads
    _damage_weights(best)
    with pytest.raises(UserError, match=r"best.safetensors is damaged: its sha256 is .*delete its seed folder"):
        checkpoint.load_weights(_torch_state()[0], best)
    checkpoint.save(tmp_path / "ckpt", 0, model, None, None, grad_scaler("fp32", torch.device("cpu")), {})
    assert not list((tmp_path / "ckpt").glob("*.sha256"))  # a checkpoint's files are hashed in last.json instead


def test_the_numpy_engines_best_weights_are_sealed_too(tmp_path):
    state, best = _numpy_state(0), tmp_path / "best.npz"
    state.save_best(best)
    state.load_best(best)
    raw = bytearray(best.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    best.write_bytes(bytes(raw))  # np.savez stores uncompressed: a flipped weight byte still parses
    with pytest.raises(UserError, match="best.npz is damaged"):
        state.load_best(best)


def test_a_finished_seed_leaves_its_best_weights_sealed(tmp_path, cli):
    import subprocess

    r = cli("run", str(tiny_study(tmp_path, seeds=1, arms={"small": {}})), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    seals = list((tmp_path / "runs").rglob("best.safetensors.sha256"))
    assert len(seals) == 1
    check = subprocess.run(["sha256sum", "-c", seals[0].name], cwd=seals[0].parent, capture_output=True, text=True)
    assert check.returncode == 0 and "OK" in check.stdout
