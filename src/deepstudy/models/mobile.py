"""MobileNetV3-Large (Howard et al., 2019) and EfficientNet-B0 (Tan & Le, 2019), in torchvision's layout.

Both are inverted-residual networks: expand (1x1) -> depthwise k x k -> squeeze-excitation ->
project (1x1, linear), with a shortcut when shape allows. At ``width=1`` with the ImageNet stem
(stride 2) the state-dict keys and shapes equal torchvision's. ``stem="small"`` (the default below
64 px) makes the first convolution stride 1 and, for 28x28 inputs, drops the strides of the first
inverted-residual stage that would shrink the map below 2x2.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from deepstudy.models.blocks import ConvNormAct, SqueezeExcitation, init_mobile, make_divisible, stem_for
from deepstudy.models.registry import register


class InvertedResidual(nn.Module):
    """MobileNetV3 block: (expand) -> depthwise -> (SE, hard-sigmoid gate) -> project; residual if stride 1 and
    c_in = c_out."""

    def __init__(self, c_in: int, kernel: int, expanded: int, c_out: int, use_se: bool, act: type[nn.Module],
                 stride: int, bn: dict):
        super().__init__()
        self.use_res_connect = stride == 1 and c_in == c_out
        layers: list[nn.Module] = []
        if expanded != c_in:
            layers.append(ConvNormAct(c_in, expanded, 1, activation=act, **bn))
        layers.append(ConvNormAct(expanded, expanded, kernel, stride, groups=expanded, activation=act, **bn))
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4, 8), nn.ReLU, nn.Hardsigmoid))
        layers.append(ConvNormAct(expanded, c_out, 1, activation=None, **bn))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_res_connect else out


# (in, kernel, expanded, out, squeeze-excite, activation, stride) — Table 1 of Howard et al. (2019)
_V3_LARGE = [
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1),
]


def _small_strides(strides: list[int], input_size: Sequence[int], stem_stride: int) -> list[int]:
    """Keep strides only while the feature map stays at least 2x2 after them."""
    size, out = min(input_size) // stem_stride, []
    for s in strides:
        keep = s if size // s >= 2 else 1
        out.append(keep)
        size //= keep
    return out


class MobileNetV3(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0, stem: str = "imagenet",
                 input_size: Sequence[int] = (224, 224), dropout: float = 0.2):
        super().__init__()
        bn = {"bn_eps": 0.001, "bn_momentum": 0.01}
        acts = {"RE": nn.ReLU, "HS": nn.Hardswish}
        stem_stride = 2 if stem == "imagenet" else 1
        strides = [s for *_, s in _V3_LARGE]
        if stem == "small":
            strides = _small_strides(strides, input_size, stem_stride)
        ch = partial(make_divisible, divisor=8)
        first = ch(16 * width)
        layers: list[nn.Module] = [ConvNormAct(in_channels, first, 3, stem_stride, activation=nn.Hardswish, **bn)]
        for (c_in, k, exp, c_out, se, act, _), s in zip(_V3_LARGE, strides):
            layers.append(InvertedResidual(ch(c_in * width), k, ch(exp * width), ch(c_out * width), se, acts[act], s,
                                           bn))
        last_in = ch(160 * width)
        layers.append(ConvNormAct(last_in, 6 * last_in, 1, activation=nn.Hardswish, **bn))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = ch(1280 * width)
        self.classifier = nn.Sequential(nn.Linear(6 * last_in, last), nn.Hardswish(), nn.Dropout(dropout),
                                        nn.Linear(last, num_classes))
        init_mobile(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class MBConv(nn.Module):
    """EfficientNet block: (expand x ratio) -> depthwise -> SE (SiLU, sigmoid gate; squeeze = c_in / 4) -> project."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand_ratio: int):
        super().__init__()
        self.use_res_connect = stride == 1 and c_in == c_out
        expanded = make_divisible(c_in * expand_ratio, 8)
        layers: list[nn.Module] = []
        if expanded != c_in:
            layers.append(ConvNormAct(c_in, expanded, 1, activation=nn.SiLU))
        layers.append(ConvNormAct(expanded, expanded, kernel, stride, groups=expanded, activation=nn.SiLU))
        layers.append(SqueezeExcitation(expanded, max(1, c_in // 4), nn.SiLU, nn.Sigmoid))
        layers.append(ConvNormAct(expanded, c_out, 1, activation=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        # (torchvision adds stochastic depth here; not needed to train small nets)
        return x + out if self.use_res_connect else out


# (expand ratio, kernel, stride, in, out, repeats) — Table 1 of Tan & Le (2019), B0
_B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
       (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]


class EfficientNet(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0, stem: str = "imagenet",
                 input_size: Sequence[int] = (224, 224), dropout: float = 0.2):
        super().__init__()
        ch = partial(make_divisible, divisor=8)
        stem_stride = 2 if stem == "imagenet" else 1
        strides = [s for _, _, s, *_ in _B0]
        if stem == "small":
            strides = _small_strides(strides, input_size, stem_stride)
        layers: list[nn.Module] = [ConvNormAct(in_channels, ch(32 * width), 3, stem_stride, activation=nn.SiLU)]
        for (ratio, k, _, c_in, c_out, n), s in zip(_B0, strides):
            stage = [MBConv(ch(c_in * width) if i == 0 else ch(c_out * width), ch(c_out * width), k,
                            s if i == 0 else 1, ratio)
                     for i in range(n)]
            layers.append(nn.Sequential(*stage))
        last_in = ch(320 * width)
        layers.append(ConvNormAct(last_in, 4 * last_in, 1, activation=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * last_in, num_classes))
        init_mobile(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@register("mobilenet_v3_large", tiny={"width": 0.25}, family="mobile", inputs="image",
          description="MobileNetV3-Large: inverted residuals, squeeze-excitation, hard-swish; "
                      "stem 'auto' | 'imagenet' | 'small'; width.")
def mobilenet_v3_large(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224),
                       stem: str = "auto", width: float = 1.0, dropout: float = 0.2) -> MobileNetV3:
    return MobileNetV3(num_classes, in_channels, width, stem_for(stem, input_size), input_size, dropout)


@register("efficientnet_b0", tiny={"width": 0.25}, family="mobile", inputs="image",
          description="EfficientNet-B0: MBConv blocks with SiLU and squeeze-excitation; "
                      "stem 'auto' | 'imagenet' | 'small'; width.")
def efficientnet_b0(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224),
                    stem: str = "auto", width: float = 1.0, dropout: float = 0.2) -> EfficientNet:
    return EfficientNet(num_classes, in_channels, width, stem_for(stem, input_size), input_size, dropout)
