"""An Inception (v1) module and a small GoogLeNet-style network (Szegedy et al., 2015).

The module runs four branches on the same input and concatenates them along channels:
1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1. The 1x1 "reductions" before the larger
kernels are the point: they cut the MACs of the 3x3 / 5x5 convolutions several-fold.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepstudy.models.blocks import ConvNormAct
from deepstudy.models.registry import register


def _unit(c_in: int, c_out: int, kernel: int, batch_norm: bool) -> nn.Module:
    if batch_norm:
        return ConvNormAct(c_in, c_out, kernel)
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.ReLU())  # GoogLeNet's own units


class Inception(nn.Module):
    def __init__(self, c_in: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int,
                 batch_norm: bool = True):
        super().__init__()
        self.branch1 = _unit(c_in, c1, 1, batch_norm)
        self.branch2 = nn.Sequential(_unit(c_in, c3_reduce, 1, batch_norm), _unit(c3_reduce, c3, 3, batch_norm))
        self.branch3 = nn.Sequential(_unit(c_in, c5_reduce, 1, batch_norm), _unit(c5_reduce, c5, 5, batch_norm))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), _unit(c_in, pool_proj, 1, batch_norm))
        self.out_channels = c1 + c3 + c5 + pool_proj

    @classmethod
    def shaped_like_3a(cls, c_in: int, c_out: int, batch_norm: bool = True) -> Inception:
        """``c_out`` channels split as inception 3a splits its 256 (Table 1): 1x1 64, 3x3 128 (reduced from
        96), 5x5 32 (from 16), pool projection 32 — a drop-in for one c_in -> c_out convolution."""
        c1, c3, c5 = max(1, c_out // 4), max(1, c_out // 2), max(1, c_out // 8)
        pool_proj = c_out - c1 - c3 - c5
        if pool_proj < 1:
            raise ValueError(f"an Inception module needs at least 4 output channels, got {c_out}")
        return cls(c_in, c1, max(1, 3 * c3 // 4), c3, max(1, c5 // 2), c5, pool_proj, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, c_in, H, W) -> (B, c1+c3+c5+pool_proj, H, W)
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class SmallGoogLeNet(nn.Module):
    """3x3 stem -> inception 3a, 3b -> max pool -> inception 4a, 4b -> global pool -> dropout -> fc,
    with GoogLeNet's branch widths (Table 1) scaled by ``width``."""

    # c1, c3_reduce, c3, c5_reduce, c5, pool_proj: inception 3a, 3b, 4a, 4b of Table 1
    STAGES: Sequence[tuple[int, ...]] = ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64),
                                         (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64))

    def __init__(self, in_channels: int, num_classes: int, width: float = 0.5, dropout: float = 0.2):
        super().__init__()

        def w(c: int) -> int:
            return max(1, int(round(c * width)))

        self.stem = ConvNormAct(in_channels, w(192), 3)
        blocks: list[nn.Module] = []
        c = w(192)
        for i, widths in enumerate(self.STAGES):
            if i == 2:
                blocks.append(nn.MaxPool2d(3, 2, 1))
            block = Inception(c, *(w(x) for x in widths))
            blocks.append(block)
            c = block.out_channels
        self.blocks = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.avgpool(self.blocks(self.stem(x))), 1)))


@register("googlenet_small", tiny={"width": 0.125}, family="inception", inputs="image",
          description="Small GoogLeNet: a 3x3 stem and four Inception (v1) modules (3a, 3b, 4a, 4b) scaled by width.")
def googlenet_small(in_channels: int = 3, num_classes: int = 10, width: float = 0.5,
                    dropout: float = 0.2) -> SmallGoogLeNet:
    return SmallGoogLeNet(in_channels, num_classes, width, dropout)
