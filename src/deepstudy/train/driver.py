"""The epoch driver: the bookkeeping every trained task shares, written once.

A task supplies what happens in an epoch (``epochs(start)``: one metrics row per epoch from
``start`` on) and what must be saved to continue exactly (a :class:`State`); the driver does the
rest, in this order per epoch::

    row -> monitor (best weights) -> metrics.jsonl -> atomic checkpoint -> event -> fault point -> stop?

and, before the first epoch, resumes from the last checkpoint that passes its sha256 check (the
newest, or the one before it: event ``checkpoint_fallback``): it restores the state and the
monitor, cuts metrics.jsonl (and the task's other per-epoch logs) back to the checkpoint's epoch
and asks the task for the epochs after it. Every task seeds its randomness from (seed, epoch), so a
resumed seed ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from deepstudy import repro
from deepstudy.fileio import append_jsonl, keep_jsonl
from deepstudy.train import checkpoint
from deepstudy.train.averaging import Averages
from deepstudy.train.monitor import Monitor
from deepstudy.train.precision import grad_scaler


class State(Protocol):
    """What a seed must save to continue exactly: weights, optimizer, schedule, scaler (or the NumPy engine's)."""

    def exists(self, folder: Path) -> bool: ...
    def save(self, folder: Path, epoch: int, extra: dict) -> None: ...
    def load(self, folder: Path) -> tuple[int, dict, dict | None]: ...   # (epoch, extra, fallback or None)
    def save_best(self, path: Path) -> None: ...
    def load_best(self, path: Path) -> None: ...


class Optimizers:
    """Several optimizers as one (a GAN's generator and discriminator) for the checkpoint."""

    def __init__(self, **optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers

    def state_dict(self) -> dict:
        return {k: o.state_dict() for k, o in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, o in self.optimizers.items():
            o.load_state_dict(state[k])


@dataclass
class TorchState:
    """A torch seed's state for :func:`drive`: model, optimizer(s), scheduler, scaler and weight averages (EMA / SWA),
    saved in atomic checkpoints (safetensors weights + ``weights_only`` state) and restored exactly. The best weights
    are those validation scored: the EMA's when there is one.

    Example:
        >>> import tempfile, pathlib, torch
        >>> from deepstudy import train
        >>> model = torch.nn.Linear(4, 2)
        >>> state = train.TorchState(model, torch.optim.SGD(model.parameters(), lr=0.1))
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> state.save(folder, 0, {"note": "epoch 0"})
        >>> state.load(folder)
        (0, {'note': 'epoch 0'}, None)
    """
    model: nn.Module
    optimizer: torch.optim.Optimizer | Optimizers | None = None
    scheduler: object = None
    scaler: torch.amp.GradScaler | None = None
    averages: Averages | None = None

    def __post_init__(self):
        self.scaler = self.scaler or grad_scaler("fp32", torch.device("cpu"))  # disabled: an empty state

    def exists(self, folder: Path) -> bool:
        return checkpoint.exists(folder)

    def save(self, folder: Path, epoch: int, extra: dict) -> None:
        checkpoint.save(folder, epoch, self.model, self.optimizer, self.scheduler, self.scaler, extra, self.averages)

    def load(self, folder: Path) -> tuple[int, dict, dict | None]:
        state = checkpoint.load(folder, self.model, self.optimizer, self.scheduler, self.scaler, self.averages)
        return state["epoch"], state["extra"], state.get("fell_back_from")

    def save_best(self, path: Path) -> None:
        checkpoint.save_weights(self.model if self.averages is None else self.averages.evaluated(self.model), path)

    def load_best(self, path: Path) -> None:
        checkpoint.load_weights(self.model, path)


@dataclass
class Driven:
    """What the driver did: the first epoch it ran (0, or after the checkpoint) and whether it stopped early."""

    start: int
    stopped_early: bool
    extra: dict = field(default_factory=dict)  # the task's own checkpointed values, as last saved


def drive(folder: Path, state: State, epochs: Callable[[int], Iterable[dict]], *, total: int, monitor: Monitor,
          on_event: Callable[[dict], None], arm: str, seed: int, logs: tuple[str, ...] = (),
          on_resume: Callable[[int, dict], None] | None = None, after_epoch: Callable[[int], None] | None = None,
          extra: Callable[[], dict] | None = None, best: str = "best.safetensors",
          ckpt: str = "checkpoint") -> Driven:
    """Run (or continue) one seed's epochs in ``folder``. ``logs``: other per-epoch JSON-lines files the task
    appends to (cut back on resume like metrics.jsonl); ``extra()``: task values saved with each checkpoint (tensors,
    numbers, strings), handed back to ``on_resume(start, extra)`` before the epochs continue.

    Example:
        Three "epochs" that only report a number; the driver checkpoints each and keeps the best::

            >>> import tempfile, pathlib, torch
            >>> from deepstudy import train
            >>> model = torch.nn.Linear(2, 1)
            >>> def epochs(start):
            ...     for e in range(start, 3):
            ...         yield {"epoch": e, "val_loss": [0.5, 0.3, 0.4][e]}
            >>> folder = pathlib.Path(tempfile.mkdtemp())
            >>> monitor = train.Monitor("val_loss")
            >>> done = train.drive(folder, train.TorchState(model), epochs, total=3, monitor=monitor,
            ...                    on_event=lambda event: None, arm="a", seed=0)
            >>> done.start, monitor.best_epoch, (folder / "best.safetensors").is_file()
            (0, 1, True)
    """
    folder.mkdir(parents=True, exist_ok=True)
    metrics, ckpt_dir = folder / "metrics.jsonl", folder / ckpt
    start, saved = 0, {}
    if state.exists(ckpt_dir):
        last, saved, fallback = state.load(ckpt_dir)
        if fallback is not None:  # the newest checkpoint failed its sha256 check: the epochs after `last` re-train
            on_event({"kind": "checkpoint_fallback", "arm": arm, "seed": seed, "damaged": fallback["epoch"],
                      "epoch": last, "reason": fallback["reason"]})
        monitor.load_state_dict(saved["monitor"])
        start = last + 1
        for name in ("metrics.jsonl", *logs):
            keep_jsonl(folder / name, last)
        on_event({"kind": "resumed", "arm": arm, "seed": seed, "epoch": start})
        if on_resume is not None:
            on_resume(start, saved)
    else:
        for name in ("metrics.jsonl", *logs):
            (folder / name).write_text("")
    stopped = monitor.should_stop
    if stopped:
        return Driven(start, True, saved)
    rows: Iterator[dict] = iter(epochs(start))
    for row in rows:
        epoch = row["epoch"]
        if monitor.update(row.get(monitor.metric), epoch):
            state.save_best(folder / best)
        append_jsonl(metrics, row)
        saved = {"monitor": monitor.state_dict(), **(extra() if extra else {})}
        state.save(ckpt_dir, epoch, saved)
        on_event({"kind": "epoch", "arm": arm, "seed": seed, "epochs": total, **row})
        repro.fault_point(epoch)
        if after_epoch is not None:
            after_epoch(epoch)
        if monitor.should_stop:
            stopped = True
            break
    return Driven(start, stopped, saved)
