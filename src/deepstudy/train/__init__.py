"""The trainer: a written-out loop (``fit``), ``train`` (fit run to the end), optimizers and schedules,
precision, checkpoints.

Two ways to train a ``torch.nn.Module``:

- :func:`train` trains to the end in one call and returns a :class:`TrainResult` (history, best epoch);
- :func:`fit` is a lazy iterator, one :class:`EpochResult` per epoch, for callers that act between epochs.

:func:`lr_range_test` sweeps the learning rate on a copy of a model to suggest one (Smith, 2017).

``train`` never imports ``models`` or ``data``: it gets a module and iterables of batches.

Example:
    >>> import torch
    >>> from deepstudy import data, train
    >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    >>> result = train.train(torch.nn.Linear(4, 2), data.Batches(x, y, 16, shuffle=True), epochs=2)
    >>> [r.epoch for r in result.history]
    [0, 1]
"""
from deepstudy.train import checkpoint, distributed
from deepstudy.train.averaging import Averages
from deepstudy.train.driver import Driven, Optimizers, Snapshot, State, TorchState, drive
from deepstudy.train.loop import (EpochResult, Epochs, NonFiniteLoss, as_device, fit, gradient_norms,
                                  predict)
from deepstudy.train.lr_range import lr_range_test
from deepstudy.train.monitor import Monitor
from deepstudy.train.optim import build_optimizer, build_schedule, from_settings, l1_penalty, param_groups
from deepstudy.train.precision import FALLBACK_NOTE, FELL_BACK, autocast, cpu_supports_bf16, grad_scaler
from deepstudy.train.simple import TrainResult, train

__all__ = ["train", "TrainResult", "fit", "Epochs", "EpochResult", "predict", "gradient_norms", "as_device",
           "Monitor", "NonFiniteLoss", "build_optimizer", "build_schedule", "from_settings", "param_groups",
           "l1_penalty", "Averages",
           "autocast", "grad_scaler", "cpu_supports_bf16", "drive", "Driven", "Optimizers", "Snapshot", "State",
           "TorchState",
           "checkpoint", "distributed", "FALLBACK_NOTE", "FELL_BACK", "lr_range_test"]
