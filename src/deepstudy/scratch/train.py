"""Training utilities of the NumPy engine: ``fit`` yields one record per epoch, ``predict`` returns logits.

Randomness is re-seeded every epoch from ``(seed, epoch)`` (data order and dropout masks), so a run
resumed from an epoch boundary ends bit-identical — the same contract as the torch trainer.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import numpy as np

from deepstudy.scratch.core import Module
from deepstudy.scratch.layers import Dropout
from deepstudy.scratch.losses import l1_penalty, softmax_cross_entropy
from deepstudy.scratch.optim import Optimizer


class NonFiniteLoss(FloatingPointError):
    def __init__(self, epoch: int, value: float):
        super().__init__(f"training loss became {value} in epoch {epoch + 1}")
        self.epoch, self.value = epoch, value


def predict(model: Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs (logits) for ``x`` in eval mode, in batches of ``batch_size``.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> net = scratch.Sequential(scratch.Dense(4, 3, np.random.default_rng(0)))
        >>> scratch.predict(net, np.zeros((10, 4), dtype=np.float32), batch_size=4).shape
        (10, 3)
    """
    model.eval()
    return np.concatenate([model.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def fit(model: Module, optimizer: Optimizer, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
        epochs: int, batch_size: int, seed: int, start_epoch: int = 0, eval_batch_size: int = 1024,
        lr_at: Callable[[int], float] | None = None, l1: float = 0.0) -> Iterator[dict]:
    """``lr_at(step)`` sets the learning rate before every step (a schedule); None keeps it constant. ``l1``: the
    penalty ``l1 * sum |W|`` over weight tensors (``l1_penalty``; not biases or batch-norm parameters) joins each
    step's gradient; the logged loss stays the data term.

    Trains ``model`` in place with softmax cross-entropy, one epoch per iteration (a generator: nothing is trained
    until it is iterated); each epoch yields a dict of train/val loss and accuracy, learning rate, seconds and steps.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((200, 2)).astype(np.float32)
        >>> y = (x[:, 0] > 0).astype(np.int64)
        >>> net = scratch.Sequential(scratch.Dense(2, 16, rng), scratch.ReLU(), scratch.Dense(16, 2, rng))
        >>> epochs = scratch.fit(net, scratch.Adam(net.params(), lr=0.01), x, y, x, y, epochs=10, batch_size=32, seed=0)
        >>> history = list(epochs)
        >>> len(history), history[-1]["val_acc"] > 0.9
        (10, True)
    """
    steps_per_epoch = -(-len(x) // batch_size)
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng([seed, epoch])
        for k, layer in enumerate(model.modules()):  # dropout masks: a stream per layer and epoch
            if isinstance(layer, Dropout):
                layer.rng = np.random.default_rng([seed, epoch, k])
        model.train()
        order = rng.permutation(len(x))
        losses, hits, t0 = [], 0, time.perf_counter()
        for k, start in enumerate(range(0, len(x), batch_size)):
            if lr_at is not None:
                optimizer.lr = lr_at(epoch * steps_per_epoch + k)
            idx = order[start:start + batch_size]
            logits = model.forward(x[idx])
            loss, grad = softmax_cross_entropy(logits, y[idx])
            optimizer.zero_grad()
            model.backward(grad)
            if l1:
                l1_penalty(model.params(), l1)
            optimizer.step()
            losses.append(loss * len(idx))
            hits += int((logits.argmax(1) == y[idx]).sum())
        seconds = time.perf_counter() - t0
        train_loss = sum(losses) / len(x)
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(epoch, train_loss)
        t1 = time.perf_counter()
        val_logits = predict(model, x_val, eval_batch_size)
        val_loss, _ = softmax_cross_entropy(val_logits, y_val)
        yield {"epoch": epoch, "train_loss": train_loss, "train_acc": hits / len(x), "val_loss": val_loss,
               "val_acc": float((val_logits.argmax(1) == y_val).mean()), "lr": optimizer.lr, "seconds": seconds,
               "eval_seconds": time.perf_counter() - t1, "steps": steps_per_epoch}
