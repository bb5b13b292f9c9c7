"""DCGAN (Radford, Metz & Chintala, ICLR 2016) for 28 x 28 images, following the paper's guidelines:
strided (transposed) convolutions instead of pooling, batch norm in both networks (not on the
generator's output or the discriminator's input), ReLU in the generator with tanh at its output,
LeakyReLU(0.2) in the discriminator, weights from N(0, 0.02).

Generator:     z (B, Z) -> Linear -> (B, 2W, 7, 7) -> ConvT stride 2 -> (B, W, 14, 14) -> ConvT stride 2
               -> (B, C, 28, 28) in [-1, 1]
Discriminator: (B, C, 28, 28) -> Conv stride 2 -> (B, W, 14, 14) -> Conv stride 2 -> (B, 2W, 7, 7) -> Linear
               -> (B,) logit
"""
from __future__ import annotations

import torch
from torch import nn


def dcgan_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, latent: int = 64, width: int = 64, channels: int = 1, batch_norm: bool = True):
        super().__init__()
        self.latent, self.width = latent, width
        norm1 = nn.BatchNorm1d(2 * width * 49) if batch_norm else nn.Identity()
        norm2 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        self.project = nn.Sequential(nn.Linear(latent, 2 * width * 49, bias=not batch_norm), norm1, nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=not batch_norm), norm2,  # 14 x 14
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh(),  # 28 x 28
        )
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z).view(len(z), 2 * self.width, 7, 7))


class Discriminator(nn.Module):
    def __init__(self, width: int = 64, channels: int = 1, batch_norm: bool = True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 14 x 14, no norm on the input
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=not batch_norm),
            nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity(), nn.LeakyReLU(0.2),  # 7 x 7
        )
        self.logit = nn.Linear(2 * width * 49, 1)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.features(x).flatten(1)).squeeze(1)


def create(latent: int = 64, width: int = 64, batch_norm: bool = True,
           channels: int = 1) -> tuple[Generator, Discriminator]:
    """The pair; ``model: {name: dcgan, latent, width, batch_norm}`` in a study (batch_norm applies to both)."""
    if latent < 1 or width < 1:
        raise ValueError(f"latent and width must be positive, got {latent}, {width}")
    return Generator(latent, width, channels, batch_norm), Discriminator(width, channels, batch_norm)
