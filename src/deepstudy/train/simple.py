"""``train``: :func:`~deepstudy.train.fit` run to the end in one call, with a summary of what happened.

``fit`` gives one epoch per iteration for callers that log, checkpoint or stop between epochs (the
study's epoch driver); ``train`` is for the notebook: pass a model and data, get the history back.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from deepstudy.train.loop import Batches, EpochResult, Step, TrainData, as_device, fit
from deepstudy.train.monitor import Monitor
from deepstudy.train.optim import build_optimizer


@dataclass
class TrainResult:
    """What :func:`train` did: every epoch's :class:`EpochResult` and the best one by ``metric``.

    ``model`` is the trained model itself (trained in place): its final weights, or the best epoch's
    with ``restore_best=True``.
    """

    model: nn.Module
    history: list[EpochResult]
    metric: str  # what picked the best epoch: "val_loss", "val_acc", "train_loss", ... (lower is better for *loss)
    best_epoch: int  # 0-based
    best: float | None  # the metric at best_epoch
    stopped_early: bool

    @property
    def best_result(self) -> EpochResult:
        """The :class:`EpochResult` of the best epoch."""
        return next(r for r in self.history if r.epoch == self.best_epoch)

    def __repr__(self) -> str:
        best = "n/a" if self.best is None else f"{self.best:.4g}"
        stop = ", stopped early" if self.stopped_early else ""
        return (f"TrainResult({len(self.history)} epochs{stop}; best {self.metric} {best} at epoch "
                f"{self.best_epoch}; final train_loss {self.history[-1].train_loss:.4g})" if self.history
                else "TrainResult(no epochs)")


def _value(result: EpochResult, metric: str) -> float | None:
    if hasattr(result, metric):
        return getattr(result, metric)
    if result.extra and metric in result.extra:
        return result.extra[metric]
    raise ValueError(f"monitor '{metric}' is not measured; use val_loss, val_acc, train_loss, train_acc or a key "
                     f"that validate returns ({', '.join(result.extra or {}) or 'none'})")


def train(model: nn.Module, train_data: TrainData, val_data: Batches | None = None, *, epochs: int,
          loss_fn: Callable | None = None, optimizer: torch.optim.Optimizer | str = "adamw", lr: float = 1e-3,
          scheduler=None, device: torch.device | str = "cpu", seed: int = 0, monitor: str | None = None,
          patience: int | None = None, restore_best: bool = False, precision: str = "fp32",
          channels_last: bool = False, grad_clip: float | None = None, grad_norms: bool = False,
          step: Step | None = None, validate: Callable[[nn.Module], dict] | None = None,
          on_epoch: Callable[[EpochResult], None] | None = None) -> TrainResult:
    """Train ``model`` in place for ``epochs`` epochs (fewer with ``patience``) and return a summary.

    This runs :func:`fit` to the end for you; ``fit`` is there when you want each epoch as it ends.

    Args:
        model: the ``nn.Module`` to train; it is moved to ``device``.
        train_data: ``(x, y)`` training batches: a ``deepstudy.data.Batches`` (use ``shuffle=True``),
            a callable ``epoch -> batches``, or a re-iterable such as a list or a ``DataLoader``.
        val_data: validation batches scored after every epoch, or ``None``.
        epochs: how many epochs to train.
        loss_fn: ``loss_fn(outputs, y)``; default ``nn.CrossEntropyLoss()`` (classification) unless
            ``step`` computes the loss.
        optimizer: a ``torch.optim.Optimizer`` built on the model's parameters, or the name of one
            (``"adamw"``, ``"adam"``, ``"sgd"``, ``"rmsprop"``) built with learning rate ``lr``
            (weight decay off; see :func:`build_optimizer`).
        lr: the learning rate of an optimizer given by name (ignored for an optimizer object).
        scheduler: a learning-rate scheduler stepped once per batch, or ``None``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"mps"`` or a ``torch.device``.
        seed: seeds torch's random stream per epoch (dropout): the same seed, the same run.
        monitor: the metric that picks the best epoch and drives ``patience``: ``"val_loss"`` (the
            default with validation data), ``"val_acc"``, ``"train_loss"`` (the default without), or
            a key ``validate`` returns. Names ending in ``loss`` are minimized, others maximized.
        patience: stop after this many epochs without improvement of ``monitor``; ``None``: never.
        restore_best: load the best epoch's weights into ``model`` at the end (else the last epoch's stay).
        precision, channels_last, grad_clip, grad_norms, step, validate: as for :func:`fit`.
        on_epoch: called with each :class:`EpochResult` as it ends, e.g. ``print``.

    Returns:
        A :class:`TrainResult`: ``history`` (one :class:`EpochResult` per epoch), ``best_epoch``,
        ``best`` (its ``metric`` value), ``stopped_early`` and the trained ``model``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from deepstudy import data, train
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(200, 2)
        >>> y = (x[:, 0] > 0).long()                       # a linearly separable toy problem
        >>> model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        >>> result = train.train(model, data.Batches(x, y, 32, shuffle=True), data.Batches(x, y, 200),
        ...                      epochs=10, lr=2e-2, device="cpu")
        >>> len(result.history), result.metric
        (10, 'val_loss')
        >>> result.best_result.val_acc > 0.9
        True
    """
    device = as_device(device)
    model.to(device)
    if step is None and loss_fn is None:
        loss_fn = nn.CrossEntropyLoss()
    if isinstance(optimizer, str):
        optimizer = build_optimizer(model, optimizer, lr=lr)
    has_val = val_data is not None or validate is not None
    metric = monitor or ("val_loss" if has_val else "train_loss")
    if metric.startswith("val_") and not has_val:
        raise ValueError(f"monitor '{metric}' needs validation data: pass val_data, or monitor='train_loss'")
    watch = Monitor(metric, patience=patience)
    history: list[EpochResult] = []
    best_state: dict[str, torch.Tensor] | None = None
    epochs_run = fit(model, train_data, val_data, optimizer=optimizer, scheduler=scheduler, loss_fn=loss_fn,
                     epochs=epochs, device=device, seed=seed, precision=precision, channels_last=channels_last,
                     grad_clip=grad_clip, grad_norms=grad_norms, step=step, validate=validate)
    for result in epochs_run:
        history.append(result)
        if watch.update(_value(result, metric), result.epoch) and restore_best:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(result)
        if watch.should_stop:
            epochs_run.close()
            break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(model, history, metric, watch.best_epoch,
                       _value(history[watch.best_epoch - history[0].epoch], metric) if history else None,
                       watch.should_stop and len(history) < epochs)
