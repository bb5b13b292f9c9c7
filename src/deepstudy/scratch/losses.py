"""Losses return (mean loss, gradient w.r.t. the prediction); penalties return (value, grads added)."""
from __future__ import annotations

import numpy as np

from deepstudy.scratch.core import Param
from deepstudy.scratch.layers import sigmoid


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Numerically stable: log-softmax by the log-sum-exp trick. logits (N, K), integer labels (N,)."""
    z = logits - logits.max(1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(1, keepdims=True))
    n = len(y)
    loss = -log_probs[np.arange(n), y].mean()
    grad = np.exp(log_probs)
    grad[np.arange(n), y] -= 1
    return float(loss), grad / n


def bce_with_logits(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """max(z, 0) - z*y + log(1 + exp(-|z|)): no overflow for large |z|."""
    z = logits
    loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return float(loss.mean()), (sigmoid(z) - y) / z.size


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    diff = pred - target
    return float((diff ** 2).mean()), 2 * diff / diff.size


def l2_penalty(params: list[Param], lam: float) -> float:
    """lam/2 * sum ||W||^2 over weight tensors (ndim > 1); adds lam * W to their gradients."""
    total = 0.0
    for p in params:
        if p.data.ndim > 1:
            total += 0.5 * lam * float((p.data ** 2).sum())
            p.grad += lam * p.data
    return total


def l1_penalty(params: list[Param], lam: float) -> float:
    """lam * sum |W| over weight tensors; adds lam * sign(W) (the subgradient, 0 at 0)."""
    total = 0.0
    for p in params:
        if p.data.ndim > 1:
            total += lam * float(np.abs(p.data).sum())
            p.grad += lam * np.sign(p.data)
    return total
