"""Averages of a model's weights taken while it trains: an exponential moving average (EMA) or stochastic weight
averaging (SWA; Izmailov et al., 2018, https://arxiv.org/abs/1803.05407), both torch's
``torch.optim.swa_utils.AveragedModel``.

- EMA (``get_ema_multi_avg_fn(decay)``, buffers too, as timm's ModelEmaV3): updated after every optimizer step; the
  first update copies the weights. It is what validation scores and what the best checkpoint holds.
- SWA: from epoch ``swa_start`` on the per-batch schedule stops, ``SWALR`` takes the rate to ``swa_lr`` over
  ``swa_anneal_epochs`` epochs (stepped once per epoch, as in torch's example) and the weights at the end of each
  epoch join an equal-weight average. Its batch-norm statistics are recomputed at the end (``update_bn``, see
  :meth:`Averages.final`); validation keeps scoring the raw weights.

``fit`` calls :meth:`Averages.begin_epoch`, :meth:`Averages.after_step` and :meth:`Averages.after_epoch`;
``TorchState`` checkpoints :meth:`Averages.state_dict`, so a resumed run continues the averages bit-identical.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.swa_utils import SWALR, AveragedModel, get_ema_multi_avg_fn, update_bn


class Averages:
    """One running average of ``model``'s weights: EMA (``ema_decay``) or SWA (``swa_start``, ``swa_lr``), not both.

    ``swa_start`` is the first epoch averaged, counted from 0 as ``EpochResult.epoch``; ``optimizer`` is the one whose
    rate SWALR sets from then on (needed for SWA only).

    Example:
        >>> import torch
        >>> from deepstudy import data, train
        >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        >>> model = torch.nn.Linear(4, 2)
        >>> ema = train.Averages(model, ema_decay=0.9)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> for r in train.fit(model, data.Batches(x, y, 16), data.Batches(x, y, 64), optimizer=opt,
        ...                    loss_fn=torch.nn.CrossEntropyLoss(), epochs=2, averages=ema):
        ...     pass
        >>> ema.kind, int(ema.model.n_averaged), ema.evaluated(model) is ema.model.module
        ('ema', 8, True)
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                 ema_decay: float | None = None, swa_start: int | None = None, swa_lr: float | None = None,
                 swa_anneal_epochs: int = 5):
        if (ema_decay is None) == (swa_start is None):
            raise ValueError("Averages needs ema_decay or swa_start (one of them)")
        if ema_decay is not None and not 0 < ema_decay < 1:
            raise ValueError(f"ema_decay must lie in (0, 1), got {ema_decay}")
        if swa_start is not None and (optimizer is None or swa_lr is None or swa_start < 0):
            raise ValueError("SWA needs the optimizer, swa_lr and a swa_start >= 0")
        self.kind = "ema" if ema_decay is not None else "swa"
        self.ema_decay, self.swa_start, self.swa_lr, self.swa_anneal_epochs = (ema_decay, swa_start, swa_lr,
                                                                               swa_anneal_epochs)
        self.optimizer = optimizer
        if self.kind == "ema":  # buffers averaged too: batch-norm statistics that belong to the averaged weights
            self.model = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        else:  # buffers follow the model; update_bn recomputes them for the average at the end
            self.model = AveragedModel(model)
        self.swa_scheduler: SWALR | None = None  # made when the first SWA epoch begins (it sets the rate at once)

    def swa_phase(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) is averaged by SWA: then SWALR, not the per-batch schedule, sets the rate."""
        return self.kind == "swa" and epoch >= self.swa_start

    def begin_epoch(self, epoch: int) -> None:
        if self.swa_phase(epoch) and self.swa_scheduler is None:
            self._make_swa_scheduler()

    def after_step(self, model: nn.Module) -> None:
        if self.kind == "ema":
            self.model.update_parameters(model)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        if self.swa_phase(epoch):
            self.model.update_parameters(model)
            self.swa_scheduler.step()

    def evaluated(self, model: nn.Module) -> nn.Module:
        """The network validation scores and the best checkpoint holds: the EMA, or for SWA the raw ``model``."""
        return self.model.module if self.kind == "ema" else model

    @torch.no_grad()
    def final(self, model: nn.Module, batches: Iterable, device: torch.device | str | None = None) -> nn.Module:
        """The network to test after training. SWA: the average, its batch-norm running statistics recomputed by one
        pass over ``batches`` (train mode: seed torch first if the model has dropout); EMA: the average. An SWA that
        has averaged nothing yet returns ``model``."""
        if self.kind == "swa" and int(self.model.n_averaged) == 0:
            return model
        if self.kind == "swa":
            update_bn(batches, self.model.module, device=device)
        return self.model.module

    def _make_swa_scheduler(self) -> None:
        self.swa_scheduler = SWALR(self.optimizer, swa_lr=self.swa_lr, anneal_epochs=self.swa_anneal_epochs)

    def state_dict(self) -> dict:
        return {"kind": self.kind, "model": self.model.state_dict(),
                "swa_scheduler": self.swa_scheduler.state_dict() if self.swa_scheduler is not None else None}

    def load_state_dict(self, state: dict) -> None:
        """Restore after the optimizer (SWALR reads the rate it left in the optimizer's groups)."""
        if state.get("kind") != self.kind:
            raise ValueError(f"the checkpoint holds a {state.get('kind')} average, not {self.kind}")
        self.model.load_state_dict(state["model"])
        if state["swa_scheduler"] is not None:
            self._make_swa_scheduler()
            self.swa_scheduler.load_state_dict(state["swa_scheduler"])
