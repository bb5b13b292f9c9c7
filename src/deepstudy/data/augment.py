"""Augmentation on whole batches of images in [0, 1], shape (B, C, H, W); fill value 0.

No per-sample Python: every random parameter is drawn as a (B,) tensor from the epoch's
generator, then applied with indexing, ``torch.where`` or one ``grid_sample`` call.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from deepstudy.errors import UserError, closest

Op = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _rand(n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=g).to(device)


def random_crop(pad: int) -> Op:
    """Pad by ``pad`` pixels and crop back at a random offset (the CIFAR/ResNet recipe)."""
    def op(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        b, c, h, w = x.shape
        xp = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=g).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=g).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B,1,H,1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B,1,1,W)
        bi = torch.arange(b, device=x.device)[:, None, None, None]
        ci = torch.arange(c, device=x.device)[None, :, None, None]
        return xp[bi, ci, rows, cols]
    return op


def flip(dim: int) -> Op:
    def op(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        mask = _rand(x.shape[0], g, x.device) < 0.5
        return torch.where(mask[:, None, None, None], x.flip(dim), x)
    return op


def random_affine(degrees: float, translate: float = 0.0, scale: tuple[float, float] = (1.0, 1.0)) -> Op:
    """Random rotation (± degrees), translation (fraction of size) and scale, one grid_sample."""
    def op(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        b = x.shape[0]
        angle = (_rand(b, g, x.device) * 2 - 1) * math.radians(degrees)
        s = scale[0] + _rand(b, g, x.device) * (scale[1] - scale[0])
        t = (torch.stack([_rand(b, g, x.device), _rand(b, g, x.device)], 1) * 2 - 1) * 2 * translate
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)  # (B,2,3)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return op


def random_erasing(p: float, area: tuple[float, float] = (0.02, 0.25)) -> Op:
    """Zhong et al. 2017: with probability p, zero a random rectangle of 2-25% of the image."""
    def op(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        b, _, h, w = x.shape
        apply = _rand(b, g, x.device) < p
        frac = area[0] + _rand(b, g, x.device) * (area[1] - area[0])
        ratio = torch.exp((_rand(b, g, x.device) * 2 - 1) * math.log(3.0))
        eh = (torch.sqrt(frac * ratio) * h).clamp(1, h).long()
        ew = (torch.sqrt(frac / ratio) * w).clamp(1, w).long()
        top = (_rand(b, g, x.device) * (h - eh + 1)).long()
        left = (_rand(b, g, x.device) * (w - ew + 1)).long()
        r = torch.arange(h, device=x.device)[None, :, None]
        c = torch.arange(w, device=x.device)[None, None, :]
        box = ((r >= top[:, None, None]) & (r < (top + eh)[:, None, None])
               & (c >= left[:, None, None]) & (c < (left + ew)[:, None, None]))
        return x.masked_fill((box & apply[:, None, None])[:, None], 0.0)
    return op


_OPS: dict[str, tuple[Callable[[float], Op], float]] = {
    "crop": (lambda v: random_crop(int(v)), 4),
    "hflip": (lambda v: flip(-1), 0),
    "vflip": (lambda v: flip(-2), 0),
    "rotate": (lambda v: random_affine(v), 10),
    "affine": (lambda v: random_affine(v, translate=0.1, scale=(0.9, 1.1)), 10),
    "erase": (lambda v: random_erasing(v), 0.5),
}


def parse(specs: tuple[str, ...] | list[str]) -> list[Op]:
    """``["crop:4", "hflip", "erase:0.25"]`` -> ops; a bad name is a UserError."""
    ops = []
    for spec in specs:
        name, _, value = str(spec).partition(":")
        if name not in _OPS:
            raise UserError(f"unknown augmentation '{spec}'{closest(name, _OPS)}; choose from {', '.join(_OPS)} "
                            "(e.g. crop:4, rotate:10)")
        make, default = _OPS[name]
        try:
            ops.append(make(float(value) if value else default))
        except ValueError:
            raise UserError(f"augmentation '{spec}': '{value}' is not a number (e.g. crop:4)") from None
    return ops


def compose(ops: list[Op]) -> Op:
    def op(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        for f in ops:
            x = f(x, g)
        return x
    return op
