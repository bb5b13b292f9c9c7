"""The training loop, written out (no callbacks, no hooks): read it top to bottom.

``fit`` gives one :class:`EpochResult` per epoch, as it is iterated; the caller (the study) logs, checkpoints and
decides to stop. Randomness: torch's global stream (dropout) is re-seeded at every epoch from
``(seed, epoch)``, and the data iterator seeds itself per epoch the same way, so the state at
an epoch boundary is a function of the epoch number — a resumed run ends bit-identical.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from deepstudy.repro import derive_seed, seed_torch
from deepstudy.train.averaging import Averages
from deepstudy.train.inputs import Batches, Epochs, TrainData, as_device, check_reiterable, per_epoch
from deepstudy.train.optim import l1_penalty
from deepstudy.train.precision import autocast, grad_scaler

Step = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class NonFiniteLoss(RuntimeError):
    def __init__(self, epoch: int, value: float):
        super().__init__(f"training loss became {value} in epoch {epoch + 1}")
        self.epoch, self.value = epoch, value


@dataclass
class EpochResult:
    """One epoch of :func:`fit`: mean training loss and accuracy, validation loss and accuracy (``None`` without
    validation data; accuracies ``None`` unless outputs are class scores ``(N, C)`` for labels ``(N,)``), the learning
    rate at the epoch's end, seconds spent training and validating, the number of steps, and optionally gradient
    norms and what a ``validate`` function measured (``extra``).

    Example:
        >>> import torch
        >>> from deepstudy import data, train
        >>> x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
        >>> result = train.train(torch.nn.Linear(4, 2), data.Batches(x, y, 8), data.Batches(x, y, 32), epochs=1)
        >>> r = result.history[0]
        >>> r.epoch, r.steps, 0 <= r.val_acc <= 1
        (0, 4, True)
    """
    epoch: int  # 0-based
    train_loss: float
    train_acc: float | None
    val_loss: float | None  # None: no validation data
    val_acc: float | None
    lr: float
    seconds: float  # training steps only
    eval_seconds: float
    steps: int
    grad_norms: dict[str, float] | None = None  # weight name -> mean over the epoch's steps of ||dL/dW||
    extra: dict | None = None  # what a task's ``validate`` measured beside val_loss / val_acc


def _to(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


@torch.no_grad()
def predict(model: nn.Module, batches: Batches, *, device: torch.device | str = "cpu", precision: str = "fp32",
            channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(outputs, targets) over all batches in eval mode, as float32 on the CPU, in the batches' stored row order.

    Example:
        >>> import torch
        >>> from deepstudy import data, train
        >>> model = torch.nn.Linear(4, 3)
        >>> out, y = train.predict(model, data.Batches(torch.randn(10, 4), torch.arange(10), 4), device="cpu")
        >>> out.shape, y.tolist() == list(range(10))
        (torch.Size([10, 3]), True)
    """
    device = as_device(device)
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
    buffers (batch-norm running statistics) restored, so measuring does not change the run.

    Example:
        >>> import torch
        >>> from deepstudy import train
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        >>> x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
        >>> norms = train.gradient_norms(model, x, y, torch.nn.CrossEntropyLoss())
        >>> sorted(norms)
        ['0', '2']
    """
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


def fit(model: nn.Module, train_batches: TrainData, val_batches: Batches | None = None, *,
        optimizer: torch.optim.Optimizer, scheduler=None, loss_fn: Callable | None = None, epochs: int,
        device: torch.device | str = "cpu", seed: int = 0, start_epoch: int = 0, precision: str = "fp32",
        channels_last: bool = False, grad_clip: float | None = None, scaler: torch.amp.GradScaler | None = None,
        grad_norms: bool = False, step: Step | None = None,
        validate: Callable[[nn.Module], dict] | None = None, l1: float = 0.0,
        averages: Averages | None = None) -> Epochs:
    """Train ``model`` in place, one epoch per iteration: a lazy iterator of :class:`EpochResult`.

    Nothing is trained until the result is iterated — each ``next()`` runs one epoch and returns
    its :class:`EpochResult`, so the caller can log, checkpoint or stop between epochs. Dropping the
    result unread trains nothing and warns (``RuntimeWarning``). To train to the end in one call and
    get a summary, use :func:`deepstudy.train.train`. The arguments are checked when ``fit`` is called.

    Args:
        model: the ``nn.Module`` to train, already on ``device`` (``fit`` does not move it).
        train_batches: the training data, ``(x, y)`` batches, one of: a ``deepstudy.data.Batches``
            (or any object with an ``epoch(epoch)`` method: reshuffled per epoch from its seed), a
            callable ``epoch -> iterable of (x, y)``, or a re-iterable such as a list of batches or a
            ``torch.utils.data.DataLoader`` (iterated once per epoch). A one-shot iterator or
            generator is refused: it would be empty after the first epoch.
        val_batches: validation ``(x, y)`` batches (re-iterable, e.g. ``Batches``), scored with
            ``loss_fn`` after every epoch; ``None`` (and no ``validate``): no validation, the
            results' ``val_loss`` and ``val_acc`` are ``None``.
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters
            (e.g. from :func:`deepstudy.train.build_optimizer`).
        scheduler: a learning-rate scheduler stepped once per batch (not per epoch), or ``None``.
        loss_fn: ``loss_fn(outputs, y) -> scalar loss``, e.g. ``nn.CrossEntropyLoss()``; needed
            unless both ``step`` and ``validate`` replace its uses.
        epochs: the epoch to stop before (the total number of epochs, counted from 0).
        device: where batches are moved: ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"mps"`` or a ``torch.device``.
        seed: torch's global random stream (dropout) is re-seeded from ``(seed, epoch)`` at every
            epoch, so the same seed gives the same run and a resumed run ends bit-identical.
        start_epoch: the first epoch to run (after loading a checkpoint of epoch ``start_epoch - 1``).
        precision: ``"fp32"``, ``"bf16"`` (autocast; on a CPU without bf16 instructions it falls
            back to fp32) or ``"fp16"`` (CUDA only, with loss scaling).
        channels_last: move 4-D inputs to channels-last memory format (faster convolutions on GPUs).
        grad_clip: clip the global gradient norm to this value before each update; ``None``: no clipping.
        scaler: a ``torch.amp.GradScaler`` to use (and checkpoint); default: one made for ``precision``.
        grad_norms: record ``||dL/dW||`` of every weight, averaged over the epoch's steps, in
            ``EpochResult.grad_norms`` (gradient flow; Glorot & Bengio, 2010).
        step: ``step(model, x, y) -> (loss, outputs)``, one batch's forward pass and loss, run under
            autocast; default ``loss_fn(model(x), y)``. Knowledge distillation passes one that adds
            the teacher's soft targets; language models one that scores every position.
        validate: ``validate(model) -> dict`` replaces the default validation (``loss_fn`` over
            ``val_batches``): it returns ``val_loss``, ``val_acc`` and any other values, which land in
            ``EpochResult.extra``.
        l1: add ``l1 * sum |w|`` over the weights (:func:`deepstudy.train.l1_penalty`: ``ndim > 1``, not biases
            or normalization parameters) to each step's loss before the backward pass; ``train_loss`` stays the
            data term. 0: nothing is added.
        averages: an :class:`Averages` (EMA or SWA) updated after every step / epoch; validation (and ``validate``)
            scores its ``evaluated`` network. SWA epochs skip ``scheduler``: SWALR sets the rate.

    Returns:
        An iterator of :class:`EpochResult`, one per epoch from ``start_epoch`` to ``epochs - 1``.

    Raises:
        NonFiniteLoss: the epoch's mean training loss is NaN or infinite (lower the learning rate
            or set ``grad_clip``).
        TypeError, ValueError: an argument of the wrong kind, when ``fit`` is called.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from deepstudy import data, train
        >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        >>> model = nn.Linear(4, 2)
        >>> epochs = train.fit(model, data.Batches(x, y, 16, shuffle=True), data.Batches(x, y, 64),
        ...                    optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        ...                    loss_fn=nn.CrossEntropyLoss(), epochs=3, device="cpu")
        >>> for result in epochs:        # each iteration trains one epoch
        ...     print(result.epoch, result.steps, result.val_loss < 2)
        0 4 True
        1 4 True
        2 4 True
    """
    device = as_device(device)
    train_batches = per_epoch(train_batches)
    if val_batches is not None:
        check_reiterable(val_batches, "val_batches")
    if step is None and loss_fn is None:
        raise TypeError("fit needs loss_fn (e.g. torch.nn.CrossEntropyLoss()) or a step function")
    if validate is None and val_batches is not None and loss_fn is None:
        raise TypeError("fit scores val_batches with loss_fn: pass loss_fn, or validate=, or val_batches=None")
    if not (l1 >= 0 and math.isfinite(l1)):
        raise ValueError(f"l1 must be a finite number >= 0, got {l1}")
    return Epochs(_epochs(model, train_batches, val_batches, optimizer, scheduler, loss_fn, epochs, device, seed,
                          start_epoch, precision, channels_last, grad_clip, scaler, grad_norms, step, validate, l1,
                          averages))


def _epochs(model, train_batches, val_batches, optimizer, scheduler, loss_fn, epochs, device, seed, start_epoch,
            precision, channels_last, grad_clip, scaler, grad_norms, step, validate, l1,
            averages) -> Iterator[EpochResult]:
    step = step or (lambda m, x, y: _plain_step(m, x, y, loss_fn))
    context, _ = autocast(precision, device)
    scaler = scaler or grad_scaler(precision, device)
    # gradient flow (Glorot & Bengio, 2010): the norm of each weight's gradient, layer by layer
    tracked = [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.dim() > 1] if grad_norms else []
    for epoch in range(start_epoch, epochs):
        seed_torch(derive_seed(seed, "epoch", epoch))
        model.train()
        stepped = scheduler
        if averages is not None:
            averages.begin_epoch(epoch)
            stepped = None if averages.swa_phase(epoch) else scheduler  # SWA: SWALR sets the rate, once per epoch
        losses, hits, sizes, norms, t0 = [], [], [], [], time.perf_counter()
        for x, y in train_batches(epoch):
            x, y = _to(x, device, channels_last), y.to(device, non_blocking=True)
            with context():
                loss, out = step(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            # L1 outside autocast, on the fp32 weights; the logged loss stays the data term (comparable with val_loss)
            scaler.scale(loss + l1_penalty(model, l1) if l1 else loss).backward()
            if grad_clip is not None or tracked:
                scaler.unscale_(optimizer)  # a no-op without fp16 loss scaling
            if tracked:  # stays on the device: one stacked tensor per step, reduced once per epoch
                norms.append(torch.stack([p.grad.detach().float().norm() if p.grad is not None else
                                          torch.zeros((), device=device) for _, p in tracked]))
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if averages is not None:
                averages.after_step(model)
            if stepped is not None:
                stepped.step()
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
        scored = model
        if averages is not None:
            averages.after_epoch(model, epoch)
            scored = averages.evaluated(model)
        t1 = time.perf_counter()
        if validate is None and val_batches is None:
            val = {"val_loss": None, "val_acc": None}
        elif validate is None:
            out, y = predict(scored, val_batches, device=device, precision=precision, channels_last=channels_last)
            classify = out.dim() == 2 and y.dim() == 1
            val = {"val_loss": float(loss_fn(out, y)), "val_acc": float((out.argmax(1) == y).float().mean()) if classify
                   else None}
        else:
            val = validate(scored)
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
