"""ResNet and ResNeXt (He et al., 2016; Xie et al., 2017) as one family, in torchvision's layout.

Blocks -> network -> named constructors, as torchvision's resnet.py: at full width with the
ImageNet stem the state-dict keys and shapes equal torchvision's (``conv1, bn1, layer1..4, fc``;
checked against manifests in the tests), so its published checkpoints load with ``strict=True``.

For small images (28x28, 32x32) ``stem="small"`` replaces the 7x7/2 convolution and the max pool
with one 3x3/1 convolution (``stem="auto"`` picks it below 64 pixels), and ``width`` scales every
channel count (0.25 trains on a 2-core CPU). ``resnet_cifar`` is the 6n+2-layer network of He et
al. section 4.2 (16/32/64 channels), with ``shortcuts=False`` for the plain network of the same
depth — the pair the vanishing-gradient study compares.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepstudy.models.blocks import stem_for
from deepstudy.models.registry import register


def _channels(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


class BasicBlock(nn.Module):
    """3x3 -> 3x3, identity (or 1x1 projection) shortcut. ResNet-18/34."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, shortcut: bool = True):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports groups=1 and base_width=64 only (ResNeXt uses bottlenecks)")
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride, groups) -> 1x1 (expand x4). ResNet-50/101, ResNeXt (groups > 1).

    Stride sits on the 3x3 convolution (torchvision's "ResNet v1.5"); inner width =
    planes * base_width / 64 * groups, e.g. ResNeXt-50 32x4d: 128 channels in 32 groups of 4.
    """

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, shortcut: bool = True):
        super().__init__()
        inner = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(c_in, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class ResNet(nn.Module):
    """stem -> stages of blocks (the first block of stages 2.. halves the size) -> global pool -> fc."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: Sequence[int], num_classes: int = 1000,
                 in_channels: int = 3, stem: str = "imagenet", width: float = 1.0, groups: int = 1,
                 width_per_group: int = 64, stage_channels: Sequence[int] = (64, 128, 256, 512),
                 shortcuts: bool = True, zero_init_residual: bool = False):
        super().__init__()
        stem = stem_for(stem, (224, 224))  # validates; 'auto' is resolved by the constructors
        self.groups, self.base_width, self.shortcuts = groups, width_per_group, shortcuts
        self.inplanes = _channels(stage_channels[0], width)
        if stem == "imagenet":  # 7x7/2 conv + 3x3/2 max pool: 224 -> 56
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:  # small images keep their resolution into the first stage
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        stages = [self._stage(block, _channels(c, width), n, stride=1 if i == 0 else 2)
                  for i, (c, n) in enumerate(zip(stage_channels, layers))]
        for i, stage in enumerate(stages, start=1):
            setattr(self, f"layer{i}", stage)
        self.num_stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.inplanes, num_classes)
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # each residual branch starts as zero: the block starts as the identity
            for m in self.modules():
                last_bn = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else getattr(m, "bn2", None)
                if isinstance(m, (BasicBlock, Bottleneck)) and last_bn is not None:
                    nn.init.zeros_(last_bn.weight)

    def _stage(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if self.shortcuts and (stride != 1 or self.inplanes != planes * block.expansion):  # 1x1 projection shortcut
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, self.shortcuts)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None, self.groups, self.base_width, self.shortcuts)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


_DOC = "stem 'auto' (small below 64 px) | 'imagenet' | 'small'; width scales channels"


@register("resnet18", tiny={"width": 0.125}, family="resnet", inputs="image",
          description=f"ResNet-18 (basic blocks 2-2-2-2); {_DOC}.")
def resnet18(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224), stem: str = "auto",
             width: float = 1.0, zero_init_residual: bool = False) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, stem_for(stem, input_size), width,
                  zero_init_residual=zero_init_residual)


@register("resnet34", tiny={"width": 0.125}, family="resnet", inputs="image",
          description=f"ResNet-34 (basic blocks 3-4-6-3); {_DOC}.")
def resnet34(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224), stem: str = "auto",
             width: float = 1.0, zero_init_residual: bool = False) -> ResNet:
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, stem_for(stem, input_size), width,
                  zero_init_residual=zero_init_residual)


@register("resnet50", tiny={"width": 0.0625}, family="resnet", inputs="image",
          description=f"ResNet-50 (bottlenecks 3-4-6-3); {_DOC}.")
def resnet50(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224), stem: str = "auto",
             width: float = 1.0, zero_init_residual: bool = False) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, stem_for(stem, input_size), width,
                  zero_init_residual=zero_init_residual)


@register("resnet101", tiny={"width": 0.0625}, family="resnet", inputs="image",
          description=f"ResNet-101 (bottlenecks 3-4-23-3); {_DOC}.")
def resnet101(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224), stem: str = "auto",
              width: float = 1.0, zero_init_residual: bool = False) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels, stem_for(stem, input_size), width,
                  zero_init_residual=zero_init_residual)


@register("resnext50_32x4d", tiny={"width": 0.25, "groups": 4}, family="resnet", inputs="image",
          description=f"ResNeXt-50 32x4d: ResNet-50 with 32 groups of 4 channels in each 3x3 (Xie et al., 2017); "
                      f"{_DOC}.")
def resnext50_32x4d(in_channels: int = 3, num_classes: int = 1000, input_size: Sequence[int] = (224, 224),
                    stem: str = "auto", width: float = 1.0, groups: int = 32, width_per_group: int = 4) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, stem_for(stem, input_size), width,
                  groups=groups, width_per_group=width_per_group)


@register("resnet_cifar", tiny={"depth": 8}, family="resnet", inputs="image",
          description="He et al. (2016) section 4.2: 6n+2 layers (depth 20, 32, 44, 56, 110...), 16/32/64 channels; "
                      "shortcuts=false gives the plain network of the same depth.")
def resnet_cifar(in_channels: int = 3, num_classes: int = 10, depth: int = 20, shortcuts: bool = True,
                 width: float = 1.0) -> ResNet:
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n+2 (8, 14, 20, 26, 32, 38, 44, 56, ...), got {depth}")
    n = (depth - 2) // 6
    return ResNet(BasicBlock, (n, n, n), num_classes, in_channels, "small", width,
                  stage_channels=(16, 32, 64), shortcuts=shortcuts)
