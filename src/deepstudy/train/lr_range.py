"""The learning-rate range test (Smith, 2017, "Cyclical Learning Rates for Training Neural Networks", §3.3;
fast.ai's ``lr_find``, Lightning's LR finder): train for a few hundred steps while the learning rate grows
exponentially from ``start`` to ``end``, and read off where the loss falls fastest and where it blows up.

One step per rate: ``lr_i = start * (end / start) ** (i / (steps - 1))``. The loss of step ``i`` is the batch's
loss *before* the update at ``lr_i`` (as fast.ai and Lightning record it), so it reflects the rates up to
``lr_{i-1}``. The curve is smoothed by an exponential moving average with bias correction (fast.ai's
``beta = 0.98``); the sweep stops at the first step whose smoothed loss exceeds ``diverge`` times the best
smoothed loss so far, or whose loss is not finite.

The caller's model and optimizer are never touched: the sweep trains a deep copy of both (and torch's global
random stream is restored afterwards), so a study can run it before or after training without changing a number.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from deepstudy.train.inputs import TrainData, as_device, per_epoch
from deepstudy.train.optim import build_optimizer
from deepstudy.train.precision import autocast, grad_scaler

OptimizerSpec = str | Callable[[nn.Module], torch.optim.Optimizer] | torch.optim.Optimizer


def lr_range_test(model: nn.Module, batches: TrainData, loss_fn: Callable, optimizer: OptimizerSpec = "sgd", *,
                  start: float = 1e-7, end: float = 10.0, steps: int = 200, smooth: float = 0.98,
                  diverge: float = 4.0, device: torch.device | str = "cpu", seed: int = 0, precision: str = "fp32",
                  grad_clip: float | None = None) -> dict:
    """Sweep the learning rate exponentially from ``start`` to ``end`` over ``steps`` training steps on a copy of
    ``model``; returns the curve, where it stopped and the suggested rates.

    Args:
        model: the network, already on ``device``; it is copied, never changed.
        batches: training ``(x, y)`` batches, as :func:`deepstudy.train.fit` takes them; they are cycled (epoch
            0, 1, ...) until ``steps`` steps are done.
        loss_fn: ``loss_fn(outputs, y) -> scalar loss``.
        optimizer: a name for :func:`deepstudy.train.build_optimizer` (``"sgd"``, ``"adam"``, ``"adamw"``,
            ``"rmsprop"``; default settings), a function ``model -> optimizer`` (called on the copy), or an
            optimizer over ``model``'s parameters (copied with its state). Its rate is replaced at every step.
        start, end: the first and last learning rate (``0 < start < end``).
        steps: training steps of the sweep (at least 2; a few hundred is usual).
        smooth: the moving average's ``beta`` (0: no smoothing).
        diverge: stop when the smoothed loss exceeds this many times its best value.
        device: where batches are moved.
        seed: torch's random stream (dropout) during the sweep; the same seed gives the same curve.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``, as in ``fit``.
        grad_clip: clip the global gradient norm to this value before each update.

    Returns:
        ``{"lrs", "losses", "smoothed"}`` (one entry per step run), ``"stopped_at"`` (``{"step", "lr", "why"}`` or
        ``None`` when the sweep reached ``end``), ``"minimum"`` (``{"step", "lr", "loss"}`` of the smoothed curve)
        and ``"suggestion"``: ``"steepest"``, the rate where the smoothed loss falls fastest per decade of rate
        before its minimum, and ``"min_div_10"``, the rate of the minimum divided by 10 (``None`` where the
        curve has no such point), with the settings it ran with.

    Example:
        >>> import torch
        >>> from deepstudy import data, train
        >>> x = torch.randn(256, 4)
        >>> y = (x[:, 0] > 0).long()
        >>> model = torch.nn.Linear(4, 2)
        >>> found = train.lr_range_test(model, data.Batches(x, y, 32, shuffle=True), torch.nn.CrossEntropyLoss(),
        ...                             "sgd", start=1e-4, end=100.0, steps=60)
        >>> found["suggestion"]["steepest"] < found["minimum"]["lr"], len(found["lrs"]) <= 60
        (True, True)
    """
    if not 0 < start < end:
        raise ValueError(f"the learning-rate range needs 0 < start < end, got start={start:g}, end={end:g}")
    if steps < 2 or not 0 <= smooth < 1 or diverge <= 1:
        raise ValueError(f"lr_range_test needs steps >= 2, 0 <= smooth < 1 and diverge > 1; got steps={steps}, "
                         f"smooth={smooth}, diverge={diverge}")
    device = as_device(device)
    work, opt = _copies(model, optimizer, start)
    epoch_batches = per_epoch(batches)
    lrs = start * (end / start) ** (np.arange(steps) / (steps - 1))
    context, _ = autocast(precision, device)
    scaler = grad_scaler(precision, device)
    out_lrs, losses, smoothed, stopped = [], [], [], None
    average, best = 0.0, math.inf
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        work.train()
        for i, (x, y) in enumerate(_cycle(epoch_batches, steps)):
            lr = float(lrs[i])
            for group in opt.param_groups:
                group["lr"] = lr
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with context():
                loss = loss_fn(work(x), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                stopped = {"step": i, "lr": lr, "why": f"the loss became {value}"}
                break
            average = smooth * average + (1 - smooth) * value
            s = average / (1 - smooth ** (i + 1))  # bias correction: the average starts at 0
            out_lrs.append(lr), losses.append(value), smoothed.append(s)
            if s > diverge * best:
                stopped = {"step": i, "lr": lr, "why": f"the smoothed loss passed {diverge:g} x its best"}
                break
            best = min(best, s)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(work.parameters(), grad_clip)
            scaler.step(opt)
            scaler.update()
    k = int(np.argmin(smoothed)) if smoothed else None
    return {"start": start, "end": end, "steps": steps, "smooth": smooth, "diverge": diverge,
            "lrs": out_lrs, "losses": losses, "smoothed": smoothed, "stopped_at": stopped,
            "minimum": None if k is None else {"step": k, "lr": out_lrs[k], "loss": smoothed[k]},
            "suggestion": suggest(out_lrs, smoothed)}


def suggest(lrs: list[float], smoothed: list[float]) -> dict:
    """The two usual readings of a range-test curve: ``steepest``, the rate at the most negative slope of the
    smoothed loss against log10(rate) between the start and the minimum (the first and, when the curve never
    turns up, the last few points skipped, as fast.ai does: the average is still warming up there and the end is
    noise); ``min_div_10``, the rate of the minimum / 10 (fast.ai's "minimum"). ``None`` where a curve is too short
    or never falls.

    Example:
        >>> lrs = [10 ** (k / 10 - 4) for k in range(50)]       # 1e-4 ... ~8
        >>> loss = [1.0 - 0.8 / (1 + (10 ** (k / 10 - 4) / 1e-2) ** -2) for k in range(40)] + [1.0] * 10
        >>> found = suggest(lrs, loss)
        >>> 5e-3 < found["steepest"] < 2e-2, found["min_div_10"] < lrs[40]
        (True, True)
    """
    n = len(smoothed)
    if n < 5:
        return {"steepest": None, "min_div_10": None}
    loss, log_lr = np.asarray(smoothed, dtype=np.float64), np.log10(np.asarray(lrs, dtype=np.float64))
    k_min = int(np.argmin(loss))
    skip_start, skip_end = min(10, n // 10), min(5, n // 20)
    window = slice(skip_start, min(k_min + 1, n - skip_end))
    if window.stop - window.start < 3:  # the minimum comes early: the falling part is too short to skip into
        window = slice(0, k_min + 1)
    steepest = None
    if window.stop - window.start >= 3:
        slope = np.gradient(loss[window], log_lr[window])
        j = int(np.argmin(slope))
        steepest = float(lrs[window.start + j]) if slope[j] < 0 else None
    return {"steepest": steepest, "min_div_10": float(lrs[k_min]) / 10}


def _copies(model: nn.Module, optimizer: OptimizerSpec, lr: float) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A deep copy of the model and an optimizer over the copy's parameters (a given optimizer copied with the
    model in one deepcopy, so its parameter references and state map onto the copy's tensors)."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return copy.deepcopy((model, optimizer))
    work = copy.deepcopy(model)
    if isinstance(optimizer, str):
        return work, build_optimizer(work, optimizer, lr=lr)
    if callable(optimizer):
        return work, optimizer(work)
    raise TypeError(f"optimizer must be a name ('sgd', 'adam', 'adamw', 'rmsprop'), a function model -> "
                    f"optimizer, or a torch.optim.Optimizer; got {type(optimizer).__name__}")


def _cycle(epoch_batches: Callable[[int], object], steps: int):
    """``steps`` batches, taken epoch after epoch."""
    done, epoch = 0, 0
    while done < steps:
        empty = True
        for batch in epoch_batches(epoch):
            empty = False
            yield batch
            done += 1
            if done == steps:
                return
        if empty:
            raise ValueError("lr_range_test got no batches (an empty training split?)")
        epoch += 1
