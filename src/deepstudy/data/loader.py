"""In-memory mini-batches: one index permutation per epoch, then tensor indexing.

There is no per-sample Python work, no worker process and no collate step: for datasets that
fit in memory (all of the seeds') this is the fastest loader there is, and it is deterministic
because the permutation and the augmentation draw from a generator seeded per epoch.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from deepstudy.repro import derive_seed, generator

# torchvision's ImageNet-1K preprocessing (its weights' transforms): RGB statistics of the ImageNet training set
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def center_crop(x, size):
    """The central ``size`` = (height, width) pixels of images (..., H, W), NumPy or torch: top and left margins
    (H - height) // 2 and (W - width) // 2 — data.center_crop, the same for training data and for new images."""
    (height, width), (h, w) = x.shape[-2:], size
    top, left = (height - h) // 2, (width - w) // 2
    return x[..., top:top + h, left:left + w]


class Batches:
    """Mini-batches ``(x, y)`` of tensors in memory: one index permutation per epoch (``shuffle``), then tensor
    indexing — no per-sample Python work, no worker processes.

    ``epoch(e)`` iterates epoch ``e``'s batches, shuffled and augmented from ``(seed, e)``, so epoch ``e`` is the same
    in every run; iterating the object itself gives epoch 0. ``train.fit`` and ``train.train`` take it directly.
    ``transform(x, generator)`` runs on each batch (e.g. augmentation); ``drop_last`` drops a last, smaller batch.

    Example:
        >>> import torch
        >>> from deepstudy import data
        >>> batches = data.Batches(torch.arange(10.0).view(10, 1), torch.arange(10), 4, shuffle=True, seed=1)
        >>> len(batches), [len(y) for _, y in batches.epoch(0)]
        (3, [4, 4, 2])
        >>> [y.tolist() for _, y in batches.epoch(3)] == [y.tolist() for _, y in batches.epoch(3)]
        True
    """
    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = False,
                 drop_last: bool = False, transform: Transform | None = None, seed: int = 0):
        assert len(x) == len(y), (x.shape, y.shape)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.drop_last, self.transform, self.seed = shuffle, drop_last, transform, seed

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last and n >= self.batch_size else -(-n // self.batch_size)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = generator(derive_seed(self.seed, "batches", epoch))
        n = len(self.x)
        order = torch.randperm(n, generator=g).to(self.x.device) if self.shuffle else None
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, n), self.batch_size):
            if order is None:
                xb, yb = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx)
            if self.transform is not None:
                xb = self.transform(xb, g)
            yield xb, yb

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.epoch(0)

    def visit_order(self) -> torch.Tensor | None:
        """The row order unshuffled batches visit, where it is not the stored order (None: stored order)."""
        return None


class ImageTransform:
    """uint8 (B,C,H,W) -> float in [0,1] -> augmentation -> (x - mean) / std with train statistics.

    ``size`` (ImageNet inputs): after augmentation, grey images are repeated to 3 channels and every batch
    is resized to size x size (bilinear) — on the fly, so 60,000 images never exist at 224 px in memory."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, augment: Transform | None = None,
                 size: int | None = None):
        self.mean, self.std, self.augment, self.size = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1), augment, size

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x = x.float().div_(255.0)
        if self.augment is not None:
            x = self.augment(x, g)
        if self.size is not None:
            x = F.interpolate(x.expand(-1, 3, -1, -1), size=(self.size, self.size), mode="bilinear",
                              align_corners=False)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)
