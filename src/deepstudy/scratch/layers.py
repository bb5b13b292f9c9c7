"""Dense, Flatten, activations, Softmax, Dropout and BatchNorm: forward and backward side by side."""
from __future__ import annotations

import numpy as np

from deepstudy.scratch.core import Module, Param, kaiming_uniform


class Dense(Module):
    """y = x W^T + b, W of shape (out, in) as in torch.nn.Linear (so weights copy across)."""

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator, dtype=np.float32,
                 bias: bool = True):
        self.W = Param(kaiming_uniform(rng, (out_features, in_features), in_features, dtype))
        self.b = Param(kaiming_uniform(rng, (out_features,), in_features, dtype)) if bias else None

    def forward(self, x):  # (N, in) -> (N, out)
        self.x = x
        return x @ self.W.data.T + (self.b.data if self.b is not None else 0)

    def backward(self, dout):  # (N, out) -> (N, in)
        self.W.grad += dout.T @ self.x
        if self.b is not None:
            self.b.grad += dout.sum(0)
        return dout @ self.W.data


class Flatten(Module):
    """(N, ...) -> (N, features). ``channels_last``: the input is (N, H, W, C) and is flattened in
    (C, H, W) order, as torch flattens NCHW — so the next Dense layer's weights mean the same thing."""

    def __init__(self, channels_last: bool = False):
        self.channels_last = channels_last

    def forward(self, x):
        self.shape = x.shape
        if self.channels_last:
            x = x.transpose(0, 3, 1, 2)
        return x.reshape(len(x), -1)

    def backward(self, dout):
        if self.channels_last:
            n, h, w, c = self.shape
            return np.ascontiguousarray(dout.reshape(n, c, h, w).transpose(0, 2, 3, 1))
        return dout.reshape(self.shape)


class ReLU(Module):
    """max(x, 0); its gradient passes where the input was positive.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> relu = scratch.ReLU()
        >>> out = relu(np.array([-1.0, 2.0]))
        >>> out.tolist() == [0.0, 2.0], relu.backward(np.array([5.0, 5.0])).tolist()
        (True, [0.0, 5.0])
    """
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


class LeakyReLU(Module):
    """x for x > 0, ``slope * x`` otherwise (Maas et al., 2013).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> scratch.LeakyReLU(0.1)(np.array([-1.0, 2.0])).tolist()
        [-0.1, 2.0]
    """
    def __init__(self, slope: float = 0.01):
        self.slope = slope

    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, self.slope * x)

    def backward(self, dout):
        return np.where(self.mask, dout, self.slope * dout)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), computed without overflow; gradient y (1 - y).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> scratch.Sigmoid()(np.array([0.0, -1000.0])).tolist()
        [0.5, 0.0]
    """
    def forward(self, x):
        self.y = sigmoid(x)
        return self.y

    def backward(self, dout):
        return dout * self.y * (1 - self.y)


class Tanh(Module):
    """tanh(x); gradient 1 - y².

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> t = scratch.Tanh()
        >>> float(t(np.array([0.0]))[0]), float(t.backward(np.array([1.0]))[0])
        (0.0, 1.0)
    """
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dout):
        return dout * (1 - self.y ** 2)


class Softmax(Module):
    """Over the last axis. (For classification use softmax_cross_entropy on logits: it is stabler.)"""

    def forward(self, x):
        self.y = softmax(x)
        return self.y

    def backward(self, dout):  # Jacobian-vector product: s * (dout - <dout, s>)
        return self.y * (dout - (dout * self.y).sum(-1, keepdims=True))


class Dropout(Module):
    """Inverted dropout: scale kept units by 1/(1-p) in training, identity in eval."""

    def __init__(self, p: float, rng: np.random.Generator):
        self.p, self.rng = p, rng

    def forward(self, x):
        if not self.training or self.p == 0:
            self.mask = None
            return x
        self.mask = (self.rng.random(x.shape) >= self.p).astype(x.dtype) / (1 - self.p)
        return x * self.mask

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask


class BatchNorm(Module):
    """Batch normalization over (N,) for (N, D) inputs or (N, H, W) for (N, C, H, W) / (N, H, W, C) inputs.

    Training normalizes with the batch's biased variance and updates running statistics with the
    unbiased one (as torch does); eval uses the running statistics.
    """

    buffers = ("running_mean", "running_var")

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32,
                 channels_last: bool = False):
        self.eps, self.momentum, self.channels_last = eps, momentum, channels_last  # channels_last: (N, H, W, C)
        self.gamma = Param(np.ones(num_features, dtype))
        self.beta = Param(np.zeros(num_features, dtype))
        self.running_mean = np.zeros(num_features, dtype)
        self.running_var = np.ones(num_features, dtype)

    def _axes(self, x):
        return (0,) if x.ndim == 2 else (0, 1, 2) if self.channels_last else (0, 2, 3)

    def _shape(self, x):
        return (1, -1) if x.ndim == 2 else (1, 1, 1, -1) if self.channels_last else (1, -1, 1, 1)

    def forward(self, x):
        axes, shape = self._axes(x), self._shape(x)
        if self.training:
            mean, var = x.mean(axes), x.var(axes)
            n = x.size // len(self.gamma.data)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / max(n - 1, 1)
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean.reshape(shape)) * self.inv_std.reshape(shape)
        return self.gamma.data.reshape(shape) * self.x_hat + self.beta.data.reshape(shape)

    def backward(self, dout):
        axes, shape = self._axes(dout), self._shape(dout)
        self.gamma.grad += (dout * self.x_hat).sum(axes)
        self.beta.grad += dout.sum(axes)
        dx_hat = dout * self.gamma.data.reshape(shape)
        if not self.training:  # statistics are constants in eval mode
            return dx_hat * self.inv_std.reshape(shape)
        n = dout.size // len(self.gamma.data)
        # d/dx of (x - mean) / std with mean and var from the same batch (Ioffe & Szegedy, 2015)
        return (self.inv_std.reshape(shape) / n) * (
            n * dx_hat - dx_hat.sum(axes).reshape(shape) - self.x_hat * (dx_hat * self.x_hat).sum(axes).reshape(shape))


def sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def softmax(x):
    z = x - x.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)
