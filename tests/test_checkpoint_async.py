"""The driver writes each epoch's checkpoint on a thread of its own while the next epoch trains (issue 25): the
files are the ones an in-line save writes, the copy is taken before training goes on, writes stay in epoch order,
and a failed write is not lost."""
from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from deepstudy import train
from deepstudy.train import checkpoint


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3)
        self.out = nn.Linear(3, 5, bias=False)
        self.out.weight = self.embed.weight  # tied: safetensors keeps one name, the other in the metadata


def test_frozen_weights_write_the_bytes_save_weights_writes(tmp_path):
    model = Tied()
    checkpoint.save_weights(model, tmp_path / "a.safetensors")
    checkpoint.write_weights(checkpoint.frozen_weights(model), tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert (tmp_path / "b.safetensors.sha256").read_text().split()[0] == \
        (tmp_path / "a.safetensors.sha256").read_text().split()[0]
    other = Tied()
    checkpoint.load_weights(other, tmp_path / "b.safetensors")
    assert torch.equal(other.out.weight, model.out.weight) and other.out.weight is other.embed.weight


def _trained(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    return model, opt, x, y


def _step(model, opt, x, y):
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def test_drive_writes_off_the_training_thread_what_an_inline_save_writes(tmp_path):
    model, opt, x, y = _trained()
    state = train.TorchState(model, opt)
    writers = set()
    snapshot = state.snapshot

    def recording(*args):
        taken = snapshot(*args)

        def run():
            writers.add(threading.current_thread().name)
            taken.checkpoint()
        return train.Snapshot(run, taken.best)
    state.snapshot = recording
    losses = [0.9, 0.5, 0.7]

    def epochs(start):
        for e in range(start, 3):
            _step(model, opt, x, y)
            yield {"epoch": e, "val_loss": losses[e]}
    monitor = train.Monitor("val_loss")
    train.drive(tmp_path / "a", state, epochs, total=3, monitor=monitor, on_event=lambda e: None, arm="a", seed=0)
    assert writers == {"deepstudy-checkpoint"}  # never the training thread
    # the same three epochs saved in line (the State protocol without snapshot): the same files
    model2, opt2, _, _ = _trained()
    inline = train.TorchState(model2, opt2)
    (tmp_path / "b").mkdir()
    best = None
    for e in range(3):
        _step(model2, opt2, x, y)
        if best is None or losses[e] < best:
            best = losses[e]
            inline.save_best(tmp_path / "b" / "best.safetensors")
        inline.save(tmp_path / "b" / "checkpoint", e, {"monitor": {"best": 0.5, "best_epoch": 1, "bad_epochs": 1}})
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "best.safetensors").read_bytes() == (b / "best.safetensors").read_bytes()  # epoch 1's weights
    assert (a / "checkpoint/epoch-0002.safetensors").read_bytes() == (b / "checkpoint/epoch-0002.safetensors").read_bytes()
    sa = torch.load(a / "checkpoint/epoch-0002.state.pt", weights_only=True)
    sb = torch.load(b / "checkpoint/epoch-0002.state.pt", weights_only=True)
    assert sa["extra"]["monitor"] == sb["extra"]["monitor"] and sa["epoch"] == 2
    for k, v in sb["optimizer"]["state"].items():
        assert all(torch.equal(v[n], sa["optimizer"]["state"][k][n]) for n in v)
    assert checkpoint.verified(a / "checkpoint")[0]["epoch"] == 2


def test_the_copy_is_taken_before_training_goes_on(tmp_path):
    model, opt, x, y = _trained()
    state = train.TorchState(model, opt)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    write = state.snapshot(tmp_path, 0, {"monitor": {}}, tmp_path / "best.safetensors")
    _step(model, opt, x, y)  # the next epoch trains before the write runs
    assert not torch.equal(model[0].weight, before["0.weight"])
    write()
    restored, _, _, _ = _trained(seed=1)
    checkpoint.load_weights(restored, tmp_path / "best.safetensors")
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in before.items())
    assert checkpoint.load(tmp_path, restored, None, None, train.grad_scaler("fp32", torch.device("cpu")))["epoch"] == 0


class Failing(train.TorchState):
    """The epoch-1 write fails after the files are written, before last.json moves (a full disk, a kill)."""

    def snapshot(self, folder, epoch, extra, best):
        taken = super().snapshot(folder, epoch, extra, best)
        if epoch < 1:
            return taken

        def broken():
            checkpoint.write_weights(checkpoint.frozen_weights(self.model), folder / f"epoch-{epoch:04d}.safetensors",
                                     sealed=False)
            raise OSError(28, "No space left on device")
        return train.Snapshot(broken, taken.best)


def test_a_failed_write_reaches_the_caller_and_the_epoch_before_stays_the_latest(tmp_path):
    model, opt, x, y = _trained()

    def epochs(start):
        for e in range(start, 3):
            _step(model, opt, x, y)
            yield {"epoch": e, "val_loss": 1.0 - e / 10}
    with pytest.raises(OSError, match="No space left"):
        train.drive(tmp_path, Failing(model, opt), epochs, total=3, monitor=train.Monitor("val_loss"),
                    on_event=lambda e: None, arm="a", seed=0)
    entry, fallback = checkpoint.verified(tmp_path / "checkpoint")
    assert entry["epoch"] == 0 and fallback is None  # epoch 1's files exist, uncommitted: last.json names epoch 0
    fresh, opt2, _, _ = _trained(seed=1)
    assert train.TorchState(fresh, opt2).load(tmp_path / "checkpoint")[0] == 0


def _epochs_of(model, opt, x, y, losses, weights: dict):
    """Epochs that train one step each, keep a copy of each epoch's weights and report ``losses[e]``."""
    def epochs(start):
        for e in range(start, len(losses)):
            _step(model, opt, x, y)
            weights[e] = {k: v.clone() for k, v in model.state_dict().items()}
            yield {"epoch": e, "val_loss": losses[e]}
    return epochs


def test_every_skips_checkpoints_but_writes_the_last_and_the_best_of_a_skipped_epoch(tmp_path):
    """train.checkpoint_seconds: epochs faster than `every` are not written, but the last epoch is, and the best
    weights of an epoch that was skipped go with it (a resume from that checkpoint finds its best file)."""
    model, opt, x, y = _trained()
    weights: dict = {}
    losses = [0.9, 0.4, 0.6, 0.7]  # the best epoch (1) is not the last
    train.drive(tmp_path, train.TorchState(model, opt), _epochs_of(model, opt, x, y, losses, weights), total=4,
                monitor=train.Monitor("val_loss"), on_event=lambda e: None, arm="a", seed=0, every=3600.0)
    assert sorted(p.name for p in (tmp_path / "checkpoint").glob("epoch-*.safetensors")) == ["epoch-0003.safetensors"]
    assert checkpoint.verified(tmp_path / "checkpoint")[0]["epoch"] == 3
    best, _, _, _ = _trained(seed=1)
    checkpoint.load_weights(best, tmp_path / "best.safetensors")
    assert all(torch.equal(best.state_dict()[k], v) for k, v in weights[1].items())
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4  # every epoch is still logged


def test_every_0_writes_each_epoch_and_an_interruption_commits_the_newest_logged_epoch(tmp_path):
    model, opt, x, y = _trained()
    weights: dict = {}
    epochs = _epochs_of(model, opt, x, y, [0.9, 0.8, 0.7, 0.6], weights)
    train.drive(tmp_path / "each", train.TorchState(model, opt), epochs, total=4, monitor=train.Monitor("val_loss"),
                on_event=lambda e: None, arm="a", seed=0, every=0.0)
    assert len(list((tmp_path / "each" / "checkpoint").glob("epoch-*.safetensors"))) >= 2  # the newest two kept

    model, opt, x, y = _trained()

    def interrupt(event):  # Ctrl-C as epoch 2's progress event is shown
        if event["kind"] == "epoch" and event["epoch"] == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train.drive(tmp_path / "cut", train.TorchState(model, opt), _epochs_of(model, opt, x, y, [0.9, 0.8, 0.7, 0.6],
                    weights), total=4, monitor=train.Monitor("val_loss"), on_event=interrupt, arm="a", seed=0,
                    every=3600.0)
    assert checkpoint.verified(tmp_path / "cut" / "checkpoint")[0]["epoch"] == 2  # not written by `every`, yet kept
    fresh, opt2, _, _ = _trained(seed=1)
    assert train.TorchState(fresh, opt2).load(tmp_path / "cut" / "checkpoint")[0] == 2
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in weights[2].items())
    checkpoint.load_weights(fresh, tmp_path / "cut" / "best.safetensors")  # epoch 2 improved: its weights
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in weights[2].items())


def test_a_failed_metrics_line_still_commits_the_epoch_before_it(tmp_path, monkeypatch):
    """An epoch whose metrics line cannot be written (a full disk) ends the run; the epoch before it, logged but not
    yet written because of `every`, is committed on the way out."""
    from deepstudy.train import driver

    append = driver.append_jsonl

    def full_disk_at_epoch_2(path, row):
        if row["epoch"] == 2:
            raise OSError(28, "No space left on device")
        append(path, row)
    monkeypatch.setattr(driver, "append_jsonl", full_disk_at_epoch_2)
    model, opt, x, y = _trained()
    weights: dict = {}
    with pytest.raises(OSError, match="No space left"):
        train.drive(tmp_path, train.TorchState(model, opt), _epochs_of(model, opt, x, y, [0.9, 0.8, 0.7, 0.6], weights),
                    total=4, monitor=train.Monitor("val_loss"), on_event=lambda e: None, arm="a", seed=0, every=3600.0)
    assert checkpoint.verified(tmp_path / "checkpoint")[0]["epoch"] == 1
    fresh, opt2, _, _ = _trained(seed=1)
    train.TorchState(fresh, opt2).load(tmp_path / "checkpoint")
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in weights[1].items())
