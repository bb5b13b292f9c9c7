"""Autoencoders for windows of a univariate series, (N, W) -> (N, W), and for images, (N, C, H, W) -> same.

An autoencoder trained on normal behaviour reconstructs normal windows well and unusual ones badly;
the reconstruction error is the anomaly score (task: reconstruct). Two families:

- ``dense-ae``: W -> hidden ... -> bottleneck -> ... -> W, ReLU between layers.
- ``conv-ae``: seed 003's network (the Keras "timeseries anomaly detection" example): Conv1d 1->16->8
  (kernel 7, stride 2) encoder, ConvTranspose1d 8->16 (stride 2) and a last ConvTranspose1d to 1
  channel; dropout after the first layer of each half. W must be a multiple of 4.

For images (``create_image``): ``dense-ae`` on the flattened pixels, and ``conv-ae`` as its 2-D twin
(Conv2d C->16->8 stride 2, ConvTranspose2d back; H and W multiples of 4).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class DenseAE(nn.Module):
    def __init__(self, window: int, hidden: Sequence[int] = (32, 8), dropout: float = 0.0):
        super().__init__()
        sizes = [window, *hidden]  # encoder widths; the decoder mirrors them

        def layers(widths: list[int], last_linear: bool) -> nn.Sequential:
            out: list[nn.Module] = []
            for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
                out.append(nn.Linear(a, b))
                if not (last_linear and k == len(widths) - 2):
                    out += [nn.ReLU(), *([nn.Dropout(dropout)] if dropout else [])]
            return nn.Sequential(*out)

        self.encoder = layers(sizes, last_linear=False)
        self.decoder = layers(sizes[::-1], last_linear=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, W) -> (N, W)
        return self.decoder(self.encoder(x))


class ConvAE1d(nn.Module):
    def __init__(self, window: int, channels: Sequence[int] = (16, 8), kernel_size: int = 7, dropout: float = 0.2):
        super().__init__()
        if window % 4:
            raise ValueError(f"conv-ae halves the window twice: anomaly.window must be a multiple of 4, got {window}")
        c1, c2 = channels
        pad = kernel_size // 2
        self.encoder = nn.Sequential(
            nn.Conv1d(1, c1, kernel_size, stride=2, padding=pad), nn.ReLU(), nn.Dropout(dropout),  # (N, c1, W/2)
            nn.Conv1d(c1, c2, kernel_size, stride=2, padding=pad), nn.ReLU(),  # (N, c2, W/4)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose1d(c2, c2, kernel_size, stride=2, padding=pad, output_padding=1), nn.ReLU(),
            nn.Dropout(dropout),
            nn.ConvTranspose1d(c2, c1, kernel_size, stride=2, padding=pad, output_padding=1), nn.ReLU(),  # (N, c1, W)
            nn.ConvTranspose1d(c1, 1, kernel_size, padding=pad),  # (N, 1, W)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, W) -> (N, W)
        return self.decoder(self.encoder(x[:, None, :]))[:, 0, :]


class ConvAE2d(nn.Module):
    def __init__(self, in_channels: int, channels: Sequence[int] = (16, 8), kernel_size: int = 3, dropout: float = 0.0):
        super().__init__()
        c1, c2 = channels
        pad = kernel_size // 2
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size, stride=2, padding=pad), nn.ReLU(), nn.Dropout(dropout),  # H/2
            nn.Conv2d(c1, c2, kernel_size, stride=2, padding=pad), nn.ReLU(),  # H/4
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, kernel_size, stride=2, padding=pad, output_padding=1), nn.ReLU(),
            nn.Dropout(dropout),
            nn.ConvTranspose2d(c1, c1, kernel_size, stride=2, padding=pad, output_padding=1), nn.ReLU(),  # H
            nn.Conv2d(c1, in_channels, kernel_size, padding=pad),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, H, W)
        return self.decoder(self.encoder(x))


class FlatAE(nn.Module):
    """A series autoencoder applied to flattened images: (N, C, H, W) -> (N, C*H*W) -> back."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.flatten(1)).view_as(x)


FAMILIES = {"dense-ae": DenseAE, "conv-ae": ConvAE1d}


def create(name: str, window: int, **kwargs) -> nn.Module:
    if name not in FAMILIES:
        raise ValueError(f"task: reconstruct trains an autoencoder: model.name must be one of {', '.join(FAMILIES)}, "
                         f"got '{name}'")
    try:
        return FAMILIES[name](window, **kwargs)
    except TypeError as e:
        raise ValueError(f"model '{name}' cannot be built with {kwargs}: {e}") from None


def create_image(name: str, input_shape: tuple[int, int, int], **kwargs) -> nn.Module:
    c, h, w = input_shape
    if name == "dense-ae":
        return FlatAE(create(name, c * h * w, **kwargs))
    if name == "conv-ae":
        if h % 4 or w % 4:
            raise ValueError(f"conv-ae halves the image twice: height and width must be multiples of 4, got {h}x{w}")
        try:
            return ConvAE2d(c, **kwargs)
        except TypeError as e:
            raise ValueError(f"model 'conv-ae' cannot be built with {kwargs}: {e}") from None
    return create(name, 1)  # raises the message naming the families
