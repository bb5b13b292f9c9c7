"""Autoencoders for windows of a univariate series: (N, W) -> (N, W) reconstruction.

An autoencoder trained on normal behaviour reconstructs normal windows well and unusual ones badly;
the reconstruction error is the anomaly score (task: reconstruct). Two families:

- ``dense-ae``: W -> hidden ... -> bottleneck -> ... -> W, ReLU between layers.
- ``conv-ae``: seed 003's network (the Keras "timeseries anomaly detection" example): Conv1d 1->16->8
  (kernel 7, stride 2) encoder, ConvTranspose1d 8->16 (stride 2) and a last ConvTranspose1d to 1
  channel; dropout after the first layer of each half. W must be a multiple of 4.
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
            nn.ConvTranspose1d(c2, c2, kernel_size, stride=2, padding=pad, output_padding=1), nn.ReLU(), nn.Dropout(dropout),
            nn.ConvTranspose1d(c2, c1, kernel_size, stride=2, padding=pad, output_padding=1), nn.ReLU(),  # (N, c1, W)
            nn.ConvTranspose1d(c1, 1, kernel_size, padding=pad),  # (N, 1, W)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, W) -> (N, W)
        return self.decoder(self.encoder(x[:, None, :]))[:, 0, :]


FAMILIES = {"dense-ae": DenseAE, "conv-ae": ConvAE1d}


def create(name: str, window: int, **kwargs) -> nn.Module:
    if name not in FAMILIES:
        raise ValueError(f"task: reconstruct trains an autoencoder: model.name must be one of {', '.join(FAMILIES)}, got '{name}'")
    try:
        return FAMILIES[name](window, **kwargs)
    except TypeError as e:
        raise ValueError(f"model '{name}' cannot be built with {kwargs}: {e}") from None
