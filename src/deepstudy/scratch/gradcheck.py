"""Numerical gradient check by central differences, on any layer or whole model (use float64)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x, perturbing ``x`` in place one element at a time (restored afterwards).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> x = np.array([1.0, 2.0])
        >>> scratch.numerical_grad(lambda: float((x ** 2).sum()), x).round(4).tolist()
        [2.0, 4.0]
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|): 0 for equal arrays, ~1e-7 or less for a correct float64 backward.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> a = np.array([1.0, 2.0])
        >>> scratch.relative_error(a, a.copy()), scratch.relative_error(a, -a)
        (0.0, 1.0)
    """
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-12))


def check_layer(layer, x: np.ndarray, seed: int = 0, eps: float = 1e-6) -> dict[str, float]:
    """Relative errors of the input and parameter gradients of ``sum(w * layer(x))`` for a random w.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> layer = scratch.Dense(3, 2, np.random.default_rng(0), dtype=np.float64)
        >>> errors = scratch.check_layer(layer, np.random.default_rng(1).standard_normal((4, 3)))
        >>> max(errors.values()) < 1e-6
        True
    """
    w = np.random.default_rng(seed).standard_normal(layer.forward(x).shape)

    def f() -> float:
        return float((w * layer.forward(x)).sum())

    f()
    for p in layer.params():
        p.grad[...] = 0
    dx = layer.backward(w)
    errors = {"input": relative_error(dx, numerical_grad(f, x, eps))}
    analytic = [p.grad.copy() for p in layer.params()]
    for k, (p, g) in enumerate(zip(layer.params(), analytic)):
        errors[f"param{k}{p.data.shape}"] = relative_error(g, numerical_grad(f, p.data, eps))
    return errors
