"""Losses return (mean loss, gradient w.r.t. the prediction); penalties return (value, grads added)."""
from __future__ import annotations

import numpy as np

from deepstudy.scratch.core import Param
from deepstudy.scratch.layers import sigmoid


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Numerically stable: log-softmax by the log-sum-exp trick. logits (N, K), integer labels (N,).

    Returns (mean loss, dL/dlogits).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> loss, grad = scratch.softmax_cross_entropy(np.array([[0.0, 0.0]]), np.array([1]))
        >>> round(loss, 4), grad.tolist()
        (0.6931, [[0.5, -0.5]])
    """
    z = logits - logits.max(1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(1, keepdims=True))
    n = len(y)
    loss = -log_probs[np.arange(n), y].mean()
    grad = np.exp(log_probs)
    grad[np.arange(n), y] -= 1
    return float(loss), grad / n


def bce_with_logits(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """max(z, 0) - z*y + log(1 + exp(-|z|)): no overflow for large |z|.

    Returns (mean loss, dL/dlogits).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> loss, grad = scratch.bce_with_logits(np.array([0.0, 1000.0]), np.array([1.0, 1.0]))
        >>> round(loss, 4), grad.tolist()
        (0.3466, [-0.25, 0.0])
    """
    z = logits
    loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return float(loss.mean()), (sigmoid(z) - y) / z.size


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error and its gradient: (mean (pred - target)², 2 (pred - target) / size).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> loss, grad = scratch.mse(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
        >>> loss, grad.tolist()
        (2.0, [0.0, 2.0])
    """
    diff = pred - target
    return float((diff ** 2).mean()), 2 * diff / diff.size


def l2_penalty(params: list[Param], lam: float) -> float:
    """lam/2 * sum ||W||^2 over weight tensors (ndim > 1); adds lam * W to their gradients.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> w = scratch.Param(np.array([[1.0, 2.0]]))
        >>> scratch.l2_penalty([w], lam=0.1), w.grad.tolist()
        (0.25, [[0.1, 0.2]])
    """
    total = 0.0
    for p in params:
        if p.data.ndim > 1:
            total += 0.5 * lam * float((p.data ** 2).sum())
            p.grad += lam * p.data
    return total


def l1_penalty(params: list[Param], lam: float) -> float:
    """lam * sum |W| over weight tensors; adds lam * sign(W) (the subgradient, 0 at 0).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> w = scratch.Param(np.array([[1.0, -2.0]]))
        >>> scratch.l1_penalty([w], lam=0.1), w.grad.tolist()
        (0.30000000000000004, [[0.1, -0.1]])
    """
    total = 0.0
    for p in params:
        if p.data.ndim > 1:
            total += lam * float(np.abs(p.data).sum())
            p.grad += lam * np.sign(p.data)
    return total
