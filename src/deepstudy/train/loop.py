"""The training loop, written out (no callbacks, no hooks): read it top to bottom.

``fit`` yields one :class:`EpochResult` per epoch; the caller (the study) logs, checkpoints and
decides to stop. Randomness: torch's global stream (dropout) is re-seeded at every epoch from
``(seed, epoch)``, and the data iterator seeds itself per epoch the same way, so the state at
an epoch boundary is a function of the epoch number — a resumed run ends bit-identical.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from deepstudy.repro import derive_seed, seed_torch
from deepstudy.train.precision import autocast, grad_scaler

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Step = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class NonFiniteLoss(RuntimeError):
    def __init__(self, epoch: int, value: float):
        super().__init__(f"training loss became {value} in epoch {epoch + 1}")
        self.epoch, self.value = epoch, value


@dataclass
class EpochResult:
    epoch: int  # 0-based
    train_loss: float
    train_acc: float | None
    val_loss: float
    val_acc: float | None
    lr: float
    seconds: float  # training steps only
    eval_seconds: float
    steps: int
    grad_norms: dict[str, float] | None = None  # weight name -> mean over the epoch's steps of ||dL/dW||
    extra: dict | None = None  # what a task's ``validate`` measured beside val_loss / val_acc


@dataclass
class Monitor:
    """Tracks the validation metric that picks the best checkpoint and drives early stopping
    (metric "last": every epoch counts as the best, so the final weights are tested)."""

    metric: str = "val_loss"
    patience: int | None = None
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value: float | None, epoch: int) -> bool:
        if self.metric == "last":  # no selection: the final epoch's weights are the ones tested
            self.best_epoch = epoch
            return True
        sign = -1.0 if self.metric.endswith("loss") else 1.0
        improved = self.best is None or sign * (value - self.best) > self.min_delta
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]


def _to(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


@torch.no_grad()
def predict(model: nn.Module, batches: Batches, *, device: torch.device, precision: str = "fp32",
            channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(outputs, targets) over all batches in eval mode, as float32 on the CPU, in the batches' stored row order."""
    model.eval()
    context, _ = autocast(precision, device)
    outs, ys = [], []
    for x, y in batches:
        with context():
            outs.append(model(_to(x, device, channels_last)).float().cpu())
        ys.append(y.cpu())
    out, y = torch.cat(outs), torch.cat(ys)
    order = getattr(batches, "visit_order", lambda: None)()
    if order is None:
        return out, y
    stored_out, stored_y = torch.empty_like(out), torch.empty_like(y)  # e.g. text sorted by length: put rows back
    stored_out[order], stored_y[order] = out, y
    return stored_out, stored_y


def gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable) -> dict[str, float]:
    """||dL/dW|| of every weight (tensors of 2+ dims, as fit's grad_norms) on one batch, without an update —
    e.g. at initialization. Train mode, as during training; the model is left as it was: gradients cleared,
    buffers (batch-norm running statistics) restored, so measuring does not change the run."""
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    model.train()
    model.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    out = {n.removesuffix(".weight"): float(p.grad.norm()) for n, p in model.named_parameters()
           if p.requires_grad and p.dim() > 1 and p.grad is not None}
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for k, b in model.named_buffers():
            b.copy_(buffers[k])
    return out


def fit(model: nn.Module, train_batches: Callable[[int], Batches], val_batches: Batches | None, *,
        optimizer: torch.optim.Optimizer, scheduler, loss_fn: Callable | None, epochs: int, device: torch.device,
        seed: int, start_epoch: int = 0, precision: str = "fp32", channels_last: bool = False,
        grad_clip: float | None = None, scaler: torch.amp.GradScaler | None = None,
        grad_norms: bool = False, step: Step | None = None,
        validate: Callable[[nn.Module], dict] | None = None) -> Iterator[EpochResult]:
    """One :class:`EpochResult` per epoch from ``start_epoch`` on.

    ``step(model, x, y) -> (loss, outputs)`` is one batch's forward pass and loss, under autocast (default:
    ``loss_fn(model(x), y)``; knowledge distillation and language models bring their own). ``validate(model)``
    replaces the default validation (``loss_fn`` over ``val_batches``): it returns val_loss, val_acc and any
    other values, which land in ``EpochResult.extra``.
    """
    step = step or (lambda m, x, y: _plain_step(m, x, y, loss_fn))
    context, _ = autocast(precision, device)
    scaler = scaler or grad_scaler(precision, device)
    # gradient flow (Glorot & Bengio, 2010): the norm of each weight's gradient, layer by layer
    tracked = [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.dim() > 1] if grad_norms else []
    for epoch in range(start_epoch, epochs):
        seed_torch(derive_seed(seed, "epoch", epoch))
        model.train()
        losses, hits, sizes, norms, t0 = [], [], [], [], time.perf_counter()
        for x, y in train_batches(epoch):
            x, y = _to(x, device, channels_last), y.to(device, non_blocking=True)
            with context():
                loss, out = step(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if grad_clip is not None or tracked:
                scaler.unscale_(optimizer)  # a no-op without fp16 loss scaling
            if tracked:  # stays on the device: one stacked tensor per step, reduced once per epoch
                norms.append(torch.stack([p.grad.detach().float().norm() if p.grad is not None else
                                          torch.zeros((), device=device) for _, p in tracked]))
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            # keep per-step results on the device and reduce once per epoch: no host sync, two tiny
            # kernels per step (argmax, eq) — the whole overhead this loop adds to a bare one
            losses.append(loss.detach())
            sizes.append(len(y))
            if out.dim() == 2 and y.dim() == 1:
                hits.append(out.detach().argmax(1) == y)
        steps, seen = len(sizes), max(sum(sizes), 1)
        weights = torch.tensor(sizes, device=device, dtype=torch.float32)
        train_loss = float((torch.stack(losses).float() * weights).sum() / seen) if steps else math.nan
        seconds = time.perf_counter() - t0  # after float(): on a GPU that waits for the queued steps
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(epoch, train_loss)
        t1 = time.perf_counter()
        if validate is None:
            out, y = predict(model, val_batches, device=device, precision=precision, channels_last=channels_last)
            classify = out.dim() == 2 and y.dim() == 1
            val = {"val_loss": float(loss_fn(out, y)), "val_acc": float((out.argmax(1) == y).float().mean()) if classify
                   else None}
        else:
            val = validate(model)
        yield EpochResult(
            epoch=epoch, train_loss=train_loss, train_acc=float(torch.cat(hits).float().mean()) if hits else None,
            val_loss=val.pop("val_loss"), val_acc=val.pop("val_acc"),
            lr=optimizer.param_groups[0]["lr"], seconds=seconds, eval_seconds=time.perf_counter() - t1, steps=steps,
            grad_norms={n.removesuffix(".weight"): v for (n, _), v in zip(tracked, torch.stack(norms).mean(0).tolist())}
            if norms else None, extra=val or None,
        )


def _plain_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                loss_fn: Callable) -> tuple[torch.Tensor, torch.Tensor]:
    out = model(x)
    return loss_fn(out, y), out
