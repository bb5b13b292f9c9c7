"""A configurable CNN for the design experiments of seeds 000 / 001 P3-P4 / 004.

Blocks of ``convs_per_block`` convolutions (kernel, stride on the first conv, dilation, "same"
padding) — or Inception modules in their place — optional batch norm, an optional 1x1 convolution
that mixes channels, pooling and dropout; then global average pooling (or flatten) and a small
classifier head.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepstudy.models.blocks import MaxPool2x2
from deepstudy.models.inception import Inception
from deepstudy.models.mlp import activation
from deepstudy.models.registry import register


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """floor((size + 2p - d(k-1) - 1) / s) + 1 — the formula in torch.nn.Conv2d's docs."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(kernel: int, dilation: int = 1) -> int:
    """Padding that keeps the size at stride 1 (odd kernels): d(k-1)/2."""
    if kernel % 2 == 0:
        raise ValueError(f"'same' padding needs an odd kernel size, got {kernel}")
    return dilation * (kernel - 1) // 2


class ConvBlock(nn.Sequential):
    """[Conv -> (BN) -> act] x n -> (1x1 conv -> act) -> (pool) -> (dropout); ``inception``: each
    Conv -> (BN) -> act is an Inception module with the same output channels (shaped like GoogLeNet's 3a)."""

    def __init__(self, c_in: int, c_out: int, *, n: int, kernel: int, stride: int, dilation: int,
                 batch_norm: bool, act: str, conv1x1: bool, pool: str | None, dropout: float, inception: bool = False):
        layers: list[nn.Module] = []
        for i in range(n):
            if inception:
                layers.append(Inception.shaped_like_3a(c_in if i == 0 else c_out, c_out, batch_norm))
                continue
            layers.append(nn.Conv2d(c_in if i == 0 else c_out, c_out, kernel, stride=stride if i == 0 else 1,
                                    padding=same_padding(kernel, dilation), dilation=dilation, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(activation(act))
        if conv1x1:  # network-in-network: a per-pixel MLP across channels (Lin et al., 2013)
            layers += [nn.Conv2d(c_out, c_out, 1), activation(act)]
        if pool == "max":
            layers.append(MaxPool2x2())
        elif pool == "avg":
            layers.append(nn.AvgPool2d(2))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class CNN(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, input_size: tuple[int, int] = (28, 28),
                 channels: Sequence[int] = (32, 64), convs_per_block: int = 1, kernel_size: int = 3,
                 stride: int = 1, dilation: int = 1, pool: str | None = "max", batch_norm: bool = False,
                 dropout: float = 0.0, conv1x1: bool = False, global_pool: bool = True,
                 hidden: Sequence[int] = (), head_dropout: float = 0.0, act: str = "relu", inception: bool = False):
        super().__init__()
        if pool not in ("max", "avg", None):
            raise ValueError(f"pool must be 'max', 'avg' or null, got {pool!r}")
        if inception and (stride != 1 or dilation != 1 or act != "relu"):
            raise ValueError("inception blocks keep the size with ReLU units: they take stride 1, dilation 1, "
                             "activation relu")
        blocks, c, (h, w) = [], in_channels, input_size
        for c_out in channels:
            use_pool = pool if min(h, w) >= 2 * stride else None  # never pool a 1-pixel map away
            blocks.append(ConvBlock(c, c_out, n=convs_per_block, kernel=kernel_size, stride=stride, dilation=dilation,
                                    batch_norm=batch_norm, act=act, conv1x1=conv1x1, pool=use_pool, dropout=dropout,
                                    inception=inception))
            h, w = -(-h // stride), -(-w // stride)
            if use_pool:
                h, w = h // 2, w // 2
            c = c_out
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1) if global_pool else nn.Identity()
        width = c if global_pool else c * h * w
        head: list[nn.Module] = [nn.Flatten()]
        for size in hidden:
            head += [nn.Linear(width, size), activation(act)]
            if head_dropout > 0:
                head.append(nn.Dropout(head_dropout))
            width = size
        head.append(nn.Linear(width, num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        return self.head(self.pool(self.features(x)))


@register("cnn", family="cnn", inputs="image",
          description="Configurable CNN: channels per block, kernel, stride, dilation, pooling, BN, dropout, "
                      "1x1 convs, Inception modules.")
def cnn(in_channels: int, num_classes: int, input_size: tuple[int, int] = (28, 28), channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1, kernel_size: int = 3, stride: int = 1, dilation: int = 1, pool: str | None = "max",
        batch_norm: bool = False, dropout: float = 0.0, conv1x1: bool = False, global_pool: bool = True,
        hidden: Sequence[int] = (), head_dropout: float = 0.0, activation: str = "relu",
        inception: bool = False) -> CNN:
    return CNN(in_channels, num_classes, tuple(input_size), tuple(channels), convs_per_block, kernel_size, stride,
               dilation, pool, batch_norm, dropout, conv1x1, global_pool, tuple(hidden), head_dropout, activation,
               inception)


@register("lenet5", family="cnn", inputs="image",
          description="LeNet-5-like: two 5x5 conv blocks with max pooling and a 120-84 head (LeCun et al., 1998).")
def lenet5(in_channels: int, num_classes: int, input_size: tuple[int, int] = (28, 28)) -> CNN:
    return CNN(in_channels, num_classes, tuple(input_size), channels=(6, 16), kernel_size=5,
               global_pool=False, hidden=(120, 84))
