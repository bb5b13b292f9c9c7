"""A small vision transformer (Dosovitskiy et al., 2021, "An image is worth 16x16 words"), sharing the
encoder layer written out in transformer.py with the text Transformer.

Top to bottom: patch embedding (a stride-P convolution = one linear map per non-overlapping P x P patch),
a learned [CLS] token and learned positions, N pre-LN encoder layers (as ViT), a final LayerNorm,
the [CLS] (or mean) feature -> linear head. Shapes: B batch, N = (H/P)(W/P) patches, D width.
"""
from __future__ import annotations

import torch
from torch import nn

from deepstudy.models.registry import register
from deepstudy.models.transformer import EncoderLayer


class PatchEmbedding(nn.Module):
    """(B, C, H, W) -> (B, N, D): each P x P patch flattened and projected (eq. 1 of the paper)."""

    def __init__(self, in_channels: int, dim: int, patch: int, input_size: tuple[int, int]):
        super().__init__()
        h, w = input_size
        if h % patch or w % patch:
            raise ValueError(f"patch size {patch} must divide the image size {h}x{w}")
        self.patches = (h // patch) * (w // patch)
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: tuple[int, int] = (28, 28), *,
                 patch: int = 4, dim: int = 64, depth: int = 4, heads: int = 4, hidden: int | None = None,
                 dropout: float = 0.1, pooling: str = "cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.patch_embed = PatchEmbedding(in_channels, dim, patch, tuple(input_size))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.positions = nn.Parameter(torch.randn(1, self.patch_embed.patches + 1, dim) * 0.02)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, hidden or 2 * dim, dropout=dropout, norm_first=True)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.pooling = pooling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # (B, N, D)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.positions  # (B, N + 1, D)
        x = self.dropout(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        return self.head(x[:, 0] if self.pooling == "cls" else x[:, 1:].mean(1))


@register("vit", family="transformer", inputs="image", tiny={"dim": 16, "depth": 1, "heads": 2, "patch": 4},
          description="Small vision transformer: P x P patches -> linear embedding + [CLS] + learned positions -> "
                      "N pre-LN encoder layers (shared with the text Transformer) -> LayerNorm -> [CLS] or mean -> "
                      "linear.")
def vit(in_channels: int, num_classes: int, input_size: tuple[int, int], patch: int = 4, dim: int = 64, depth: int = 4,
        heads: int = 4, hidden: int | None = None, dropout: float = 0.1, pooling: str = "cls") -> VisionTransformer:
    return VisionTransformer(in_channels, num_classes, input_size, patch=patch, dim=dim, depth=depth, heads=heads,
                             hidden=hidden, dropout=dropout, pooling=pooling)
