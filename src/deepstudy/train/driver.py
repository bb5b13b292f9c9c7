"""The epoch driver: the bookkeeping every trained task shares, written once.

A task supplies what happens in an epoch (``epochs(start)``: one metrics row per epoch from
``start`` on) and what must be saved to continue exactly (a :class:`State`); the driver does the
rest, in this order per epoch::

    row -> monitor -> copy of the state -> metrics.jsonl -> event -> fault point -> stop?
                              `-> (thread) best weights -> atomic checkpoint

The copy (weights, optimizer, schedule, monitor: cloned) is written on a thread of its own while the next
epoch trains — serializing, fsync and sha256 off the training's path; each write waits for the one before,
and the last is waited for before ``drive`` returns or raises (Ctrl-C, a non-finite loss: the newest epoch
with a metrics line is then committed). Epochs shorter than ``every`` seconds (train.checkpoint_seconds) are
copied but not all written: a checkpoint goes out once ``every`` seconds have passed since the last, and
always for the last epoch; a skipped epoch that improved hands its best weights to the next one written. A
kill (SIGKILL, power) loses at most ``every`` seconds of training and the epoch under way, and mid-write leaves
``last.json`` at the checkpoint before. A State without ``snapshot`` (the NumPy engine's) is saved in line, every epoch.

and, before the first epoch, resumes from the last checkpoint that passes its sha256 check (the
newest, or the one before it: event ``checkpoint_fallback``): it restores the state and the
monitor, cuts metrics.jsonl (and the task's other per-epoch logs) back to the checkpoint's epoch
and asks the task for the epochs after it. Every task seeds its randomness from (seed, epoch), so a
resumed seed ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import queue
import threading
import time
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
class Snapshot:
    """One epoch's state, copied (training goes on): ``checkpoint()`` writes its checkpoint, ``best()`` (None: the
    epoch did not improve) its best weights; calling it writes both, the best first (as save_best before save: a
    committed epoch has its best file)."""

    checkpoint: Callable[[], None]
    best: Callable[[], None] | None = None

    def __call__(self) -> None:
        if self.best is not None:
            self.best()
        self.checkpoint()


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

    def snapshot(self, folder: Path, epoch: int, extra: dict, best: Path | None) -> Snapshot:
        """What ``save`` (and ``save_best`` to ``best``, unless None) would write, copied now; written later (on the
        driver's writer thread, while the next epoch trains)."""
        weights = checkpoint.frozen_weights(self.model)
        best_weights = None if best is None else (weights if self.averages is None else
                                                  checkpoint.frozen_weights(self.averages.evaluated(self.model)))
        state = checkpoint.copied(checkpoint.state_of(epoch, self.optimizer, self.scheduler, self.scaler, extra,
                                                      self.averages))
        return Snapshot(lambda: checkpoint.write(folder, epoch, weights, state),
                        None if best_weights is None else lambda: checkpoint.write_weights(best_weights, best))

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
          ckpt: str = "checkpoint", every: float = 0.0) -> Driven:
    """Run (or continue) one seed's epochs in ``folder``. ``logs``: other per-epoch JSON-lines files the task
    appends to (cut back on resume like metrics.jsonl); ``extra()``: task values saved with each checkpoint (tensors,
    numbers, strings), handed back to ``on_resume(start, extra)`` before the epochs continue. ``every``: the least
    seconds between two checkpoints written (train.checkpoint_seconds; 0: every epoch) — the last epoch, an early
    stop and an interruption (Ctrl-C, an error) are always written; a kill loses at most that much training and the
    epoch under way.

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
    writer = _Writer()
    # the newest epoch's snapshot not yet handed to the writer, and the newest improvement's best weights not yet
    # written (an epoch skipped by `every` may have improved: its weights go with the next checkpoint written)
    latest: tuple[int, Snapshot] | None = None
    best_due: Callable[[], None] | None = None
    handed = time.monotonic()

    def hand_over() -> None:
        nonlocal latest, best_due, handed
        writer.submit(Snapshot(latest[1].checkpoint, best_due))
        latest, best_due, handed = None, None, time.monotonic()
    try:
        for row in rows:
            epoch = row["epoch"]
            improved = monitor.update(row.get(monitor.metric), epoch)
            saved = {"monitor": monitor.state_dict(), **(extra() if extra else {})}
            if hasattr(state, "snapshot"):  # copied now, written while the next epoch trains
                taken = state.snapshot(ckpt_dir, epoch, saved, folder / best if improved else None)
                append_jsonl(metrics, row)
                latest, best_due = (epoch, taken), taken.best or best_due  # (once logged: what an interruption writes)
                # the resume tests kill the process after epoch k's checkpoint: it is written, whatever `every` says
                if time.monotonic() - handed >= every or repro.fault_armed(epoch):
                    hand_over()
            else:
                if improved:
                    state.save_best(folder / best)
                append_jsonl(metrics, row)
                state.save(ckpt_dir, epoch, saved)
            on_event({"kind": "epoch", "arm": arm, "seed": seed, "epochs": total, **row})
            if repro.fault_armed(epoch):
                writer.wait()
            repro.fault_point(epoch)
            if after_epoch is not None:
                after_epoch(epoch)
            if monitor.should_stop:
                stopped = True
                break
        if latest is not None:  # the last epoch is always written
            hand_over()
        writer.wait()
    except BaseException:  # a non-finite loss, Ctrl-C: the newest epoch with a metrics line is committed, then raised
        writer.wait(raising=False)
        with contextlib.suppress(Exception):  # the newest logged epoch not yet written (skipped by `every`, or
            # interrupted around the hand-over): written now (atomic: the same files, were they written already); an
            # epoch logged after it (interrupted before its copy was kept) is cut back and trained again on resume
            if latest is not None and not writer.failed:  # (kept only once its metrics line is written)
                Snapshot(latest[1].checkpoint, best_due)()  # (not after a failed write, a full disk say: the last
                # good checkpoint stays the last)
        raise
    finally:
        writer.close()
    return Driven(start, stopped, saved)


class _Writer:
    """Writes checkpoints on a thread of its own, one at a time, in the order handed over (``submit`` first waits
    for the write before). Every write is atomic and ``last.json`` is replaced last (checkpoint.write), so a kill
    during a write leaves the epoch before as the latest, from which a resume re-trains bit-identically. The
    hand-over is a ``SimpleQueue.put`` (one C call): Ctrl-C lands before or after it, never halfway."""

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self.failed = False  # a write raised (handed to the training thread): nothing more is written
        self._thread = threading.Thread(target=self._work, name="deepstudy-checkpoint", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except BaseException as e:  # handed to the training thread by wait()
                self._error, self.failed = self._error or e, True

    def submit(self, write: Callable[[], None]) -> None:
        self.wait()
        self._jobs.put(write)

    def wait(self, raising: bool = True) -> None:
        """Until every write handed over has ended; ``raising``: raise what one raised (a full disk, say)."""
        done = threading.Event()
        self._jobs.put(done.set)  # after the writes before it: the queue is worked in order
        while not done.wait(0.1) and self._thread.is_alive():
            pass
        error, self._error = self._error, None
        if error is not None and raising:
            raise error

    def close(self) -> None:
        self._jobs.put(None)
