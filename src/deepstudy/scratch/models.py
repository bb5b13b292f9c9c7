"""Named NumPy networks for `task: scratch` studies (the same shapes as their torch namesakes)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepstudy.scratch.conv import Conv2D, MaxPool2D
from deepstudy.scratch.core import Sequential
from deepstudy.scratch.layers import BatchNorm, Dense, Dropout, Flatten, LeakyReLU, ReLU, Sigmoid, Tanh

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "leaky_relu": LeakyReLU}


def _act(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}, got '{name}'")
    return _ACTIVATIONS[name]()


def mlp(in_features: int, num_classes: int, rng: np.random.Generator, hidden: Sequence[int] = (256, 128),
        activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False, dtype=np.float32) -> Sequential:
    layers, width = [Flatten()], in_features
    for h in hidden:
        layers.append(Dense(width, h, rng, dtype, bias=not batch_norm))
        if batch_norm:
            layers.append(BatchNorm(h, dtype=dtype))
        layers.append(_act(activation))
        if dropout:
            layers.append(Dropout(dropout, rng))
        width = h
    return Sequential(*layers, Dense(width, num_classes, rng, dtype))


def lenet(in_channels: int, num_classes: int, input_size: tuple[int, int], rng: np.random.Generator,
          channels: Sequence[int] = (16, 32), kernel_size: int = 5, hidden: int = 128, batch_norm: bool = False,
          dropout: float = 0.0, dtype=np.float32) -> Sequential:
    """LeNet-like: [conv k x k ('same') -> (BN) -> ReLU -> 2x2 max pool] per channel count -> dense -> dense."""
    layers, c, (h, w) = [], in_channels, input_size
    for c_out in channels:
        layers.append(Conv2D(c, c_out, kernel_size, rng, padding=kernel_size // 2, bias=not batch_norm, dtype=dtype,
                             input_grad=bool(layers)))  # the first conv needs no gradient for the images
        if batch_norm:
            layers.append(BatchNorm(c_out, dtype=dtype))
        layers += [ReLU(), MaxPool2D(2)]
        c, h, w = c_out, h // 2, w // 2
    layers += [Flatten(), Dense(c * h * w, hidden, rng, dtype), ReLU()]
    if dropout:
        layers.append(Dropout(dropout, rng))
    return Sequential(*layers, Dense(hidden, num_classes, rng, dtype))


BUILDERS = {"mlp": mlp, "lenet": lenet}
