"""The trainer: a written-out loop (``fit``), optimizers and schedules, precision, checkpoints.

``train`` never imports ``models`` or ``data``: it gets a module and iterables of batches.
"""
from deepstudy.train import checkpoint
from deepstudy.train.driver import Driven, Optimizers, State, TorchState, drive
from deepstudy.train.loop import EpochResult, Monitor, NonFiniteLoss, fit, gradient_norms, predict
from deepstudy.train.optim import build_optimizer, build_schedule, from_settings, param_groups
from deepstudy.train.precision import FALLBACK_NOTE, FELL_BACK, autocast, cpu_supports_bf16, grad_scaler

__all__ = ["drive", "Driven", "Optimizers", "State", "TorchState", "fit", "gradient_norms", "predict", "EpochResult",
           "Monitor", "NonFiniteLoss", "build_optimizer", "build_schedule", "from_settings",
           "param_groups", "autocast", "grad_scaler", "cpu_supports_bf16", "checkpoint", "FALLBACK_NOTE",
           "FELL_BACK"]
