"""Multi-layer perceptrons: Flatten -> [Linear -> (BatchNorm) -> activation -> (Dropout)] x depth -> Linear."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepstudy.models.registry import register

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "silu": nn.SiLU}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got '{name}'")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int] = (256, 128),
                 activation_name: str = "relu", dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h, bias=not batch_norm))  # BN's shift makes the bias redundant
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(activation(activation_name))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, num_classes)
        return self.head(self.features(x))


@register("mlp", family="mlp", inputs="any",
          description="Configurable MLP: hidden widths, activation, dropout, batch norm.")
def mlp(in_features: int, num_classes: int, hidden: Sequence[int] = (256, 128), activation: str = "relu",
        dropout: float = 0.0, batch_norm: bool = False) -> MLP:
    return MLP(in_features, num_classes, tuple(hidden), activation, dropout, batch_norm)


@register("linear", family="mlp", inputs="any",
          description="Softmax (multinomial logistic) regression: one linear layer, the baseline of baselines.")
def linear(in_features: int, num_classes: int) -> MLP:
    return MLP(in_features, num_classes, hidden=())
