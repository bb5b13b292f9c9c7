"""What ``fit`` accepts, made uniform before any epoch runs: devices as strings or ``torch.device``, training
data as ``Batches``, a callable or a re-iterable; and what it returns, an iterator that warns when it is dropped
unread (a generator would train nothing, silently).
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from deepstudy.train.loop import EpochResult

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
# what fit trains on: an object with .epoch(epoch) (deepstudy.data.Batches), a callable epoch -> batches, or a
# re-iterable of batches (a list, a DataLoader). train never imports data, so Batches is recognized by its method.
TrainData = Callable[[int], Batches] | Batches
_ACCEPTED = ("a deepstudy.data.Batches (or any object with an epoch(epoch) method), a callable epoch -> (x, y) "
             "batches, or a re-iterable of (x, y) batches such as a list or a DataLoader")


def as_device(device: torch.device | str) -> torch.device:
    """``device`` as a ``torch.device``: accepts ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"mps"`` or a ``torch.device``.

    Example:
        >>> as_device("cpu")
        device(type='cpu')
        >>> as_device("cuda:1")
        device(type='cuda', index=1)
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu', 'cuda' or 'cuda:0', or a torch.device; "
                        f"got {type(device).__name__}")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"device '{device}' is not a device torch knows; use 'cpu', 'cuda', 'cuda:0', 'mps' "
                         "or a torch.device") from None


def check_reiterable(batches, name: str) -> None:
    if isinstance(batches, torch.Tensor) or (isinstance(batches, (tuple, list)) and len(batches) == 2
                                             and all(isinstance(b, torch.Tensor) for b in batches)):
        raise TypeError(f"{name} got tensors; wrap them as batches: deepstudy.data.Batches(x, y, batch_size)")
    if isinstance(batches, Iterator):
        raise TypeError(f"{name} is a one-shot iterator (a generator?), which would be empty after the first "
                        f"epoch; pass {_ACCEPTED}")
    if not isinstance(batches, Iterable):
        raise TypeError(f"{name} must be {_ACCEPTED}; got {type(batches).__name__}")


def per_epoch(batches: TrainData) -> Callable[[int], Batches]:
    """The training data as a function epoch -> batches."""
    by_epoch = getattr(batches, "epoch", None)
    if callable(by_epoch):  # deepstudy.data.Batches: a permutation and augmentation seeded per epoch
        return by_epoch
    if callable(batches):
        return batches
    check_reiterable(batches, "train_batches")
    return lambda epoch: batches


class Epochs(Iterator):
    """What :func:`fit` returns: an iterator that trains one epoch per ``next()``.

    If it is dropped without ever being iterated it warns (``RuntimeWarning``, pointing at the line
    that called ``fit``), as Python does for a coroutine that is never awaited: nothing was trained.
    """

    def __init__(self, epochs: Iterator[EpochResult]):
        self._epochs, self._started = epochs, False
        caller = sys._getframe(2)  # fit's caller: where the warning points
        self._where = (caller.f_code.co_filename, caller.f_lineno)

    def __iter__(self) -> Epochs:
        return self

    def __next__(self) -> EpochResult:
        self._started = True
        return next(self._epochs)

    def close(self) -> None:
        """Stop early: the epochs not yet run are never run (no warning)."""
        self._started = True
        self._epochs.close()

    def __del__(self) -> None:
        if getattr(self, "_started", True):
            return
        try:
            warnings.warn_explicit("deepstudy.train.fit(...) was never iterated, so nothing was trained: it runs "
                                   "one epoch per iteration (for result in fit(...): ...); to train to the end in "
                                   "one call use deepstudy.train.train(...)", RuntimeWarning, *self._where)
        except Exception:  # noqa: BLE001  (interpreter shutdown: the warnings machinery may be gone)
            pass
