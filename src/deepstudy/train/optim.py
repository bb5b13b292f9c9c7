"""Optimizers and learning-rate schedules from plain values.

Weight decay goes to weight matrices and kernels only: biases and normalization parameters
(every tensor with ndim <= 1) are not decayed (Loshchilov & Hutter, 2019; as in timm / nanoGPT); the L1 penalty
(``l1_penalty``) follows the same rule.
Fused kernels are used where torch has them for the device.
"""
from __future__ import annotations

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """The model's trainable parameters as two optimizer groups: weight matrices and kernels (``ndim > 1``) with
    ``weight_decay``, biases and normalization parameters without.

    Example:
        >>> import torch
        >>> from deepstudy import train
        >>> groups = train.param_groups(torch.nn.Linear(4, 2), weight_decay=0.01)
        >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
        [(1, 0.01), (1, 0.0)]
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def l1_penalty(model: nn.Module, lam: float) -> torch.Tensor:
    """``lam * sum |w|`` over the trainable weights that weight decay reaches (``ndim > 1``; never biases or
    normalization parameters), a scalar to add to the loss: its gradient is ``lam * sign(w)`` (0 where w is 0).

    Example:
        >>> import torch
        >>> from deepstudy import train
        >>> layer = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.tensor([[1.0, -2.0]])), layer.bias.fill_(5.0)
        >>> penalty = train.l1_penalty(layer, 0.1)
        >>> penalty.backward()
        >>> round(penalty.item(), 4), layer.weight.grad.tolist(), layer.bias.grad
        (0.3, [[0.10000000149011612, -0.10000000149011612]], None)
    """
    weights = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    if not weights:
        return torch.zeros(())
    return lam * torch.stack([p.abs().sum() for p in weights]).sum()


def build_optimizer(model: nn.Module, name: str, *, lr: float, momentum: float = 0.0, nesterov: bool = False,
                    weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                    alpha: float = 0.99, fused: bool = True) -> torch.optim.Optimizer:
    """A torch optimizer by name — ``"sgd"``, ``"adam"``, ``"adamw"`` or ``"rmsprop"`` — over ``model``'s
    parameters, weight decay on weights only (:func:`param_groups`); the fused kernel where torch has one.

    Example:
        >>> import torch
        >>> from deepstudy import train
        >>> opt = train.build_optimizer(torch.nn.Linear(4, 2), "sgd", lr=0.1, momentum=0.9, nesterov=True)
        >>> type(opt).__name__, opt.param_groups[0]["lr"]
        ('SGD', 0.1)
    """
    groups = param_groups(model, weight_decay)
    if name == "sgd":
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        make = lambda **kw: torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov, **kw)  # noqa: E731
    elif name == "adam":
        make = lambda **kw: torch.optim.Adam(groups, lr=lr, betas=betas, eps=eps, **kw)  # noqa: E731
    elif name == "adamw":
        make = lambda **kw: torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, **kw)  # noqa: E731
    elif name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=alpha, eps=eps, momentum=momentum)
    else:
        raise ValueError(f"unknown optimizer '{name}'")
    if fused:
        try:
            return make(fused=True)
        except (RuntimeError, TypeError, ValueError):
            pass  # this build / device has no fused kernel: foreach is next best
    return make()


def build_schedule(optimizer: torch.optim.Optimizer, name: str, *, total_steps: int, steps_per_epoch: int,
                   step_epochs: int = 5, gamma: float = 0.1, warmup_fraction: float = 0.25):
    """A torch scheduler stepped once per batch, or None for a constant rate.

    Schedules: ``"constant"`` (None), ``"step"`` (times ``gamma`` every ``step_epochs`` epochs), ``"cosine"``
    (annealed to 0 over ``total_steps``), ``"onecycle"`` (warm-up over ``warmup_fraction`` of the steps).

    Example:
        >>> import torch
        >>> from deepstudy import train
        >>> opt = torch.optim.SGD(torch.nn.Linear(4, 2).parameters(), lr=0.1)
        >>> sched = train.build_schedule(opt, "cosine", total_steps=100, steps_per_epoch=10)
        >>> for _ in range(50):
        ...     opt.step(); sched.step()
        >>> round(opt.param_groups[0]["lr"], 4)
        0.05
    """
    if name == "constant":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_epochs * steps_per_epoch, gamma=gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if name == "onecycle":  # Smith & Topin 2018: warm up to lr, then anneal far below it
        group = optimizer.param_groups[0]
        cycle = "betas" in group or group.get("momentum", 0) > 0
        total = max(total_steps, 1)
        # a warm-up of exactly one step (0.25 of 4 steps): torch's OneCycleLR divides by the warm-up's steps minus 1
        # (0 / 0); a hair more than one step is torch's schedule in the limit: step 0 at lr / 25, then the annealing
        pct = warmup_fraction * (1 + 1e-9) if warmup_fraction * total == 1 else warmup_fraction
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                   total_steps=total, pct_start=pct, cycle_momentum=cycle)
    raise ValueError(f"unknown schedule '{name}'")


def from_settings(model: nn.Module, train_settings, steps_per_epoch: int | None = None):
    """(optimizer, scheduler) from a study's ``train`` section (read by attribute: train never imports config);
    without ``steps_per_epoch`` the scheduler is None (a constant rate).

    Example:
        >>> import torch
        >>> from deepstudy import config, train
        >>> settings = config.load("mlp-vs-cnn").train
        >>> opt, sched = train.from_settings(torch.nn.Linear(4, 2), settings, steps_per_epoch=10)
        >>> settings.optimizer.name, type(opt).__name__
        ('adamw', 'AdamW')
    """
    o, t = train_settings.optimizer, train_settings
    optimizer = build_optimizer(model, o.name, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                                weight_decay=o.weight_decay, betas=o.betas, eps=o.eps, alpha=o.alpha)
    if steps_per_epoch is None:
        return optimizer, None
    return optimizer, build_schedule(optimizer, t.schedule, total_steps=t.epochs * steps_per_epoch,
                                     steps_per_epoch=steps_per_epoch, step_epochs=t.step_epochs, gamma=t.gamma,
                                     warmup_fraction=t.warmup_fraction)
