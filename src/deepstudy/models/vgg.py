"""VGG (Simonyan & Zisserman, 2015): the paper's configurations A-E, in torchvision's layout.

``features`` is one Sequential of [conv (-> BN) -> ReLU] and max pools, ``classifier`` the
4096-4096 head at indices 0/3/6 — so ``vgg16``/``vgg16_bn`` (configuration D) at full width with
``head="imagenet"`` have torchvision's exact keys and shapes. Configuration C puts a 1x1
convolution at the end of the last three blocks (the paper's test of extra non-linearity
without a larger receptive field); torchvision does not ship it.

Small images: ``head="small"`` (the default below 64 px) replaces the 7x7 adaptive pool and the
4096-wide layers by a global average pool and a 512*width hidden layer, and pools are skipped
once the map is 1 pixel wide. ``width`` scales every channel count.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepstudy.models.blocks import MaxPool2x2, stem_for
from deepstudy.models.registry import register

# Table 1 of the paper: numbers are 3x3 convolutions, "1x1-N" a 1x1 convolution, "M" a 2x2 max pool.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, "1x1-256", "M", 512, 512, "1x1-512", "M", 512, 512, "1x1-512", "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_features(config: Sequence[int | str], in_channels: int, batch_norm: bool, width: float,
                  input_size: Sequence[int]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    c, size = in_channels, min(input_size)
    for item in config:
        if item == "M":
            if size >= 2:  # never pool a 1-pixel map away (small images)
                layers.append(MaxPool2x2())
                size //= 2
            continue
        kernel = 1 if isinstance(item, str) else 3
        c_out = max(1, int(round(int(str(item).removeprefix("1x1-")) * width)))
        layers.append(nn.Conv2d(c, c_out, kernel, padding=kernel // 2))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU(inplace=True))
        c = c_out
    return nn.Sequential(*layers), c


class VGG(nn.Module):
    def __init__(self, features: nn.Sequential, channels: int, num_classes: int = 1000, head: str = "imagenet",
                 hidden: int = 4096, dropout: float = 0.5):
        super().__init__()
        self.features = features
        pool = 7 if head == "imagenet" else 1
        self.avgpool = nn.AdaptiveAvgPool2d(pool)
        self.classifier = nn.Sequential(  # indices 0, 3, 6 carry weights, as torchvision's
            nn.Linear(channels * pool * pool, hidden), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@register("vgg", tiny={"width": 0.125, "dropout": 0.0}, family="vgg", inputs="image",
          description="VGG configuration A, B, C (1x1 convs), D (=VGG-16) or E (=VGG-19), optional batch norm; "
                      "head 'auto' | 'imagenet' | 'small'; width scales channels.")
def vgg(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224), config: str = "D",
        batch_norm: bool = False, width: float = 1.0, head: str = "auto", dropout: float = 0.5) -> VGG:
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {', '.join(CONFIGS)}, got {config!r}")
    head = stem_for(head, input_size, "head")
    features, c = make_features(CONFIGS[config], in_channels, batch_norm, width, input_size)
    hidden = 4096 if head == "imagenet" else max(1, int(round(512 * width)))
    return VGG(features, c, num_classes, head, hidden, dropout)


@register("vgg16", tiny={"width": 0.125, "dropout": 0.0}, family="vgg", inputs="image",
          description="VGG-16 (configuration D), torchvision-compatible keys.")
def vgg16(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224), width: float = 1.0,
          head: str = "auto", dropout: float = 0.5) -> VGG:
    return vgg(in_channels, num_classes, input_size, "D", False, width, head, dropout)


@register("vgg16_bn", tiny={"width": 0.125, "dropout": 0.0}, family="vgg", inputs="image",
          description="VGG-16 with batch norm, torchvision-compatible keys.")
def vgg16_bn(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224), width: float = 1.0,
             head: str = "auto", dropout: float = 0.5) -> VGG:
    return vgg(in_channels, num_classes, input_size, "D", True, width, head, dropout)


@register("vgg_deep", tiny={"depth": 6}, family="vgg", inputs="image",
          description="A plain VGG-style stack of `depth` 3x3 convolutions in three stages (16/32/64 channels x "
                      "width), no shortcuts: the network whose gradients vanish with depth.")
def vgg_deep(in_channels: int = 3, num_classes: int = 10, input_size: Sequence[int] = (32, 32), depth: int = 20,
             batch_norm: bool = False, width: float = 1.0) -> VGG:
    if depth < 3:
        raise ValueError(f"depth must be at least 3, got {depth}")
    per_stage = [depth // 3 + (1 if i < depth % 3 else 0) for i in range(3)]
    config: list[int | str] = []
    for stage, (n, c) in enumerate(zip(per_stage, (16, 32, 64))):
        config += [c] * n + (["M"] if stage < 2 else [])
    features, c = make_features(config, in_channels, batch_norm, width, input_size)
    return VGG(features, c, num_classes, "small", max(1, int(round(64 * width))), dropout=0.0)
