"""Named NumPy networks for `task: scratch` studies (the same shapes as their torch namesakes)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepstudy.scratch.conv import Conv2D, MaxPool2D, ToChannelsLast
from deepstudy.scratch.core import Module, Sequential
from deepstudy.scratch.layers import BatchNorm, Dense, Dropout, Flatten, LeakyReLU, ReLU, Sigmoid, Tanh
from deepstudy.scratch.rnn import LSTM, RNN

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "leaky_relu": LeakyReLU}


def _act(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}, got '{name}'")
    return _ACTIVATIONS[name]()


def mlp(in_features: int, num_classes: int, rng: np.random.Generator, hidden: Sequence[int] = (256, 128),
        activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False, bn_eps: float = 1e-5,
        dtype=np.float32) -> Sequential:
    layers, width = [Flatten()], in_features
    for h in hidden:
        layers.append(Dense(width, h, rng, dtype, bias=not batch_norm))
        if batch_norm:
            layers.append(BatchNorm(h, eps=bn_eps, dtype=dtype))
        layers.append(_act(activation))
        if dropout:
            layers.append(Dropout(dropout, rng))
        width = h
    return Sequential(*layers, Dense(width, num_classes, rng, dtype))


def lenet(in_channels: int, num_classes: int, input_size: tuple[int, int], rng: np.random.Generator,
          channels: Sequence[int] = (16, 32), kernel_size: int = 5, hidden: int = 128, batch_norm: bool = False,
          dropout: float = 0.0, channels_last: bool = True, dtype=np.float32) -> Sequential:
    """LeNet-like: [conv k x k ('same') -> (BN) -> ReLU -> 2x2 max pool] per channel count -> dense -> dense.

    Takes (N, C, H, W) images like torch either way; ``channels_last`` only changes the layout inside
    (faster, see conv.py) — same weights, same outputs."""
    cl = channels_last
    layers, c, (h, w) = [ToChannelsLast()] if cl else [], in_channels, input_size
    for k, c_out in enumerate(channels):
        layers.append(Conv2D(c, c_out, kernel_size, rng, padding=kernel_size // 2, bias=not batch_norm, dtype=dtype,
                             input_grad=k > 0, channels_last=cl))  # the first conv needs no gradient for the images
        if batch_norm:
            layers.append(BatchNorm(c_out, dtype=dtype, channels_last=cl))
        layers += [ReLU(), MaxPool2D(2, channels_last=cl)]
        c, h, w = c_out, h // 2, w // 2
    layers += [Flatten(channels_last=cl), Dense(c * h * w, hidden, rng, dtype), ReLU()]
    if dropout:
        layers.append(Dropout(dropout, rng))
    return Sequential(*layers, Dense(hidden, num_classes, rng, dtype))


class SequenceClassifier(Module):
    """Many-to-one: an image read row by row — (N, C, H, W) as H steps of C*W features — through an
    RNN or LSTM; the last hidden state goes to a dense layer. ``recurrent.grad_norms`` after a
    backward pass says how much gradient reached each step."""

    def __init__(self, step_features: int, num_classes: int, rng: np.random.Generator, cell: str = "lstm",
                 hidden: int = 128, forget_bias: float = 0.0, dtype=np.float32):
        if cell not in ("rnn", "lstm"):
            raise ValueError(f"cell must be 'rnn' or 'lstm', got '{cell}'")
        self.recurrent = (RNN if cell == "rnn" else LSTM)(step_features, hidden, rng, dtype)
        if forget_bias:  # LSTM: start with the forget gate open (Jozefowicz et al., 2015 use 1.0)
            if cell != "lstm":
                raise ValueError("forget_bias applies to cell 'lstm' only")
            self.recurrent.bias_ih.data[hidden:2 * hidden] += forget_bias
        self.head = Dense(hidden, num_classes, rng, dtype)

    def forward(self, x):  # (N, C, H, W) -> (N, K)
        n, c, h, w = x.shape
        self.steps = h
        seq = x.transpose(0, 2, 1, 3).reshape(n, h, c * w)  # (N, T=H, D=C*W)
        return self.head.forward(self.recurrent.forward(seq)[:, -1])

    def backward(self, dout):  # (N, K) -> (N, T, D): gradient for the sequence
        dlast = self.head.backward(dout)
        dseq = np.zeros((len(dlast), self.steps, dlast.shape[1]), dlast.dtype)
        dseq[:, -1] = dlast  # many-to-one: only the last step feeds the loss
        return self.recurrent.backward(dseq)


def rnn(in_channels: int, num_classes: int, input_size: tuple[int, int], rng: np.random.Generator,
        cell: str = "lstm", hidden: int = 128, forget_bias: float = 0.0, dtype=np.float32) -> SequenceClassifier:
    return SequenceClassifier(in_channels * input_size[1], num_classes, rng, cell, hidden, forget_bias, dtype)


BUILDERS = {"mlp": mlp, "lenet": lenet, "rnn": rnn}
