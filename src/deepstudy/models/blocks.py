"""Building blocks shared by the CNN families, named and laid out as torchvision's
(``Conv2dNormActivation`` = Sequential(conv, bn[, act]); squeeze-excitation ``fc1``/``fc2``), so
the networks built from them have torchvision's state-dict keys."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def stem_for(choice: str, input_size: Sequence[int], name: str = "stem") -> str:
    """'auto' -> 'small' below 64 pixels, else 'imagenet'; anything else must be one of the two."""
    if choice == "auto":
        return "small" if max(input_size) < 64 else "imagenet"
    if choice not in ("imagenet", "small"):
        raise ValueError(f"{name} must be 'imagenet', 'small' or 'auto', got {choice!r}")
    return choice


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor``, never more than 10% down (the MobileNet rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvNormAct(nn.Sequential):
    """conv (k x k, 'same' padding for odd k and dilation) -> BatchNorm -> activation (None: linear)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1, dilation: int = 1,
                 activation: Callable[[], nn.Module] | None = nn.ReLU, bn_eps: float = 1e-5, bn_momentum: float = 0.1):
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2 * dilation, dilation=dilation, groups=groups,
                      bias=False),
            nn.BatchNorm2d(c_out, eps=bn_eps, momentum=bn_momentum),
        ]
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Hu et al. (2018): global pool -> 1x1 squeeze -> act -> 1x1 excite -> gate, channel-wise."""

    def __init__(self, channels: int, squeeze: int, activation: Callable[[], nn.Module] = nn.ReLU,
                 gate: Callable[[], nn.Module] = nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation, self.scale_activation = activation(), gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


def init_mobile(model: nn.Module) -> None:
    """torchvision's initialization for MobileNetV3 / EfficientNet."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.out_features ** 0.5
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)`` whose inference pass on a CPU (no autograd: validation, test, predict) is the maximum of
    the four strided 2x2 views: the same numbers bit for bit (a maximum is exact; NaN propagates in both), several
    times faster than torch's CPU pooling kernel. With autograd on, torch's own kernel (its backward, its tie rule).
    A plain MaxPool2d in the state dict (it has no weights) and in ``isinstance`` checks."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.dim() != 4 or min(x.shape[-2:]) < 2:
            return super().forward(x)  # (an input under 2x2: torch's own error)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # floor mode: an odd last row or column is dropped
        x = x[..., :h, :w]
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
