"""Deletion and insertion curves (Petsiuk et al., 2018, "RISE"), against a random order.

Deletion: remove the positions the map ranks highest first (set them to 0, the training mean after
normalization) and follow the probability of the explained class; a faithful map makes it fall
fast (low area). Insertion: start from a blurred copy and put the top-ranked positions back; a
faithful map makes it rise fast (high area). The same curves for random orders are the bar a
map has to clear.

A regression output (``probabilities=False``: a forecast) has no probability; its curve is the share
of the way the output has moved, (f(x_k) - f(start)) / (f(end) - f(start)) — deletion runs from 1
(the input) to 0 (all deleted) as 1 minus that share, insertion from 0 (blurred) to 1 (the input),
so the areas read as for classes. A signed map ranks evidence for the output's deviation from the
all-deleted input: for an example whose output lies below it, the most negative positions go first.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _blur(x: torch.Tensor, time_major: bool = False) -> torch.Tensor:
    if x.dim() == 2:  # tables: no neighbourhood, insertion starts from the mean
        return torch.zeros_like(x)
    if time_major:  # (N, T, F): each variable smoothed over time
        return _blur(x.transpose(1, 2)).transpose(1, 2)
    k = 2 * (max(x.shape[2:]) // 8) + 1  # 7 on 28 px: the digit becomes a smudge
    pool = F.avg_pool2d if x.dim() == 4 else F.avg_pool1d
    return pool(x, k, stride=1, padding=k // 2, count_include_pad=False)


@torch.no_grad()
def _curve(model: nn.Module, start: torch.Tensor, end: torch.Tensor, order: torch.Tensor, target: torch.Tensor,
           steps: int, batch: int, probabilities: bool = True, time_major: bool = False) -> torch.Tensor:
    """(N, steps+1) probability of ``target`` (or its raw output) while the first k of ``order`` move from start
    to end."""
    n, positions = order.shape
    rank = torch.empty_like(order)
    # rank of each position in the order
    rank.scatter_(1, order, torch.arange(positions, device=order.device).expand(n, -1))
    # images and channels-first signals: a position is every channel at once; time-major (N, T, F): one value
    shape = (n, 1, *start.shape[2:]) if start.dim() > 2 and not time_major else (n, *start.shape[1:])
    probs = []
    for k in torch.linspace(0, positions, steps + 1).round().long().tolist():
        moved = (rank < k).view(shape)  # broadcast over channels
        probs.append(torch.where(moved, end, start))
    xs = torch.stack(probs, 1).flatten(0, 1)  # (N * (steps+1), ...)
    out = torch.cat([model(xs[i:i + batch]).float() for i in range(0, len(xs), batch)])
    out = F.softmax(out, 1) if probabilities else out
    return out.view(n, steps + 1, -1).gather(2, target.view(n, 1, 1).expand(n, steps + 1, 1)).squeeze(2)


def _auc(curve: torch.Tensor) -> torch.Tensor:
    return torch.trapezoid(curve, dx=1.0 / (curve.shape[1] - 1), dim=1)


def deletion_insertion(model: nn.Module, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor, *,
                       steps: int = 28, random_orders: int = 2, seed: int = 0, batch: int = 512,
                       probabilities: bool = True) -> dict:
    """Mean AUCs over examples for the map's order and for random orders, plus the mean curves.

    Example:
        >>> import torch
        >>> from deepstudy import explain, models
        >>> _ = torch.manual_seed(0)
        >>> net = models.create("cnn", in_channels=1, num_classes=3, input_size=(8, 8), channels=[4, 8])
        >>> x, target = torch.randn(2, 1, 8, 8), torch.tensor([0, 2])
        >>> maps = explain.attribute(net, x, target, "saliency")
        >>> scores = explain.deletion_insertion(net, x, target, maps, steps=4)
        >>> sorted(k for k in scores if "curve" not in k)[:4]
        ['deletion_auc', 'deletion_auc_random', 'insertion_auc', 'insertion_auc_random']
    """
    model.eval()
    # token ids: deleted = <pad>, inserted into all-<pad>
    x = x.detach().float() if x.is_floating_point() else x.detach()
    n = len(x)
    flat = maps.detach().float().reshape(n, -1)
    if not probabilities and bool((flat < 0).any()):  # signed maps of an output that fell below its all-deleted value:
        with torch.no_grad():  # the evidence for that deviation is the negative part, so it goes first
            out, empty = model(x).float(), model(torch.zeros_like(x)).float()
        direction = torch.sign(out - empty).gather(1, target.view(-1, 1)).clamp(min=0) * 2 - 1  # +1, or -1 below
        flat = flat * direction
    padding = None if x.is_floating_point() else (x == 0).reshape(n, -1)
    if padding is not None:  # token ids: padding goes last in every order, the map's and the random ones
        flat = flat.masked_fill(padding, float("-inf"))
    g = torch.Generator().manual_seed(seed)
    # ties (Grad-CAM's zeros after ReLU) in random order, not raster order: shuffle, then a stable sort
    shuffle = torch.stack([torch.randperm(flat.shape[1], generator=g) for _ in range(n)]).to(flat.device)
    order = shuffle.gather(1, flat.gather(1, shuffle).argsort(dim=1, descending=True, stable=True))
    tm = bool(getattr(model, "time_major", False)) and x.dim() == 3
    zeros, blurred = torch.zeros_like(x), _blur(x, tm)

    def deletion_curve(o: torch.Tensor) -> torch.Tensor:
        c = _curve(model, x, zeros, o, target, steps, batch, probabilities, tm)
        return c if probabilities else 1 - _share(c)

    def insertion_curve(o: torch.Tensor) -> torch.Tensor:
        c = _curve(model, blurred, x, o, target, steps, batch, probabilities, tm)
        return c if probabilities else _share(c)

    deletion, insertion = deletion_curve(order), insertion_curve(order)
    rand_del, rand_ins = [], []
    for _ in range(random_orders):
        shuffled = torch.stack([torch.randperm(flat.shape[1], generator=g) for _ in range(n)]).to(x.device)
        if padding is not None:
            shuffled = shuffled.gather(1, padding.gather(1, shuffled).to(torch.uint8).argsort(dim=1, stable=True))
        rand_del.append(_auc(deletion_curve(shuffled)))
        rand_ins.append(_auc(insertion_curve(shuffled)))
    return {"deletion_auc": float(_auc(deletion).mean()), "insertion_auc": float(_auc(insertion).mean()),
            "deletion_auc_random": float(torch.stack(rand_del).mean()),
            "insertion_auc_random": float(torch.stack(rand_ins).mean()),
            "deletion_curve": deletion.mean(0).tolist(), "insertion_curve": insertion.mean(0).tolist()}


def _share(curve: torch.Tensor) -> torch.Tensor:
    """Raw outputs along a path -> the share of the way from the first to the last (0 -> 1); an example whose
    two ends give the same output (nothing to explain) stays at 0."""
    span = curve[:, -1:] - curve[:, :1]
    safe = torch.where(span.abs() > 1e-8, span, torch.ones_like(span))
    return torch.where(span.abs() > 1e-8, (curve - curve[:, :1]) / safe, torch.zeros_like(curve))
