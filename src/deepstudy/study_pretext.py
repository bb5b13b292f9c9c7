"""Self-supervised pretraining by rotation prediction (Gidaris, Singh & Komodakis, ICLR 2018).

Before its supervised training, a classify arm with ``pretrain.task: rotation`` learns to tell which of
0, 90, 180, 270 degrees an image was turned by — on every training image, labels ignored (the
pool data.train_limit leaves unlabelled included; the test split never). Its head is then replaced
by a fresh one for the real classes. Every image of a batch is shown in its four rotations.

The pretrained weights depend on the seed, the model, the data and the pretext settings only, so
arms that differ in how they fine-tune (all layers, or ``train.freeze_backbone``: a linear probe)
share them: they are computed once per seed and kept under run_dir/pretrained/.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import repro, train
from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.fileio import read_jsonl, write_jsonl
from deepstudy.models import heads


def check(arm: str, cfg: Study, ds: _data.Dataset) -> None:
    if cfg.pretrain.task == "none":
        return
    if cfg.task != "classify" or ds.kind != "image":
        raise UserError(f"arm '{arm}': pretrain.task rotation pretrains image classifiers (task: classify on images); "
                        f"dataset '{ds.name}' is {ds.kind}, task {cfg.task}")
    if ds.input_shape[1] != ds.input_shape[2]:
        raise UserError(f"arm '{arm}': rotation by 90 degrees needs square images; these are {ds.input_shape[1]}x"
                        f"{ds.input_shape[2]} (set data.image_size to a square size)")


class RotationBatches:
    """Batches of (4B, C, H, W) normalized images and (4B,) rotation labels k (turned by k x 90 degrees)."""

    def __init__(self, x: torch.Tensor, transform, batch_size: int, seed: int, shuffle: bool = True):
        self.x, self.transform, self.batch_size, self.seed, self.shuffle = x, transform, batch_size, seed, shuffle

    def __len__(self) -> int:
        return (len(self.x) + self.batch_size - 1) // self.batch_size

    def epoch(self, e: int):
        g = repro.generator(repro.derive_seed(self.seed, "rotation-batches", e))
        order = torch.randperm(len(self.x), generator=g) if self.shuffle else torch.arange(len(self.x))
        for idx in order.split(self.batch_size):
            x = self.transform(self.x[idx.to(self.x.device)], g)
            yield (torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)]),
                   torch.arange(4, device=x.device).repeat_interleave(len(x)))

    def __iter__(self):
        return self.epoch(0)


def _cache_key(cfg: Study, seed_index: int) -> str:
    what = {"model": cfg.model.model_dump(mode="json"), "pretrain": cfg.pretrain.model_dump(mode="json"),
            "data": cfg.data.model_dump(mode="json", exclude={"augment", "train_limit"}), "seed": cfg.seed}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16] + f"-seed-{seed_index}"


def pretrain(model: nn.Module, ds: _data.Dataset, cfg: Study, device: torch.device, run_seed: int, run_dir: Path,
             seed_index: int, on_event) -> list[dict]:
    """Rotation pretraining in place (or its cached result); the head is replaced for the real classes."""
    p = cfg.pretrain
    cache = run_dir / "pretrained" / _cache_key(cfg, seed_index)
    weights, log = cache.with_suffix(".safetensors"), cache.with_suffix(".jsonl")
    if weights.is_file() and log.is_file():
        heads.new_head(model, 4)
        train.checkpoint.load_weights(model, weights)
    else:
        pool = ds.extra.get("unlabelled")
        pool = torch.cat([ds.x_train, ds.x_val]) if pool is None else pool
        g = np.random.default_rng(repro.derive_seed(run_seed, "pretext-split"))
        order = torch.from_numpy(g.permutation(len(pool))[:p.images])
        n_val = max(1, len(order) // 20)
        transform = ds.transform()
        batches = RotationBatches(pool[order[n_val:]].to(device), transform, p.batch_size, run_seed)
        val = RotationBatches(pool[order[:n_val]].to(device), transform, 1024, run_seed, shuffle=False)
        repro.seed_torch(repro.derive_seed(run_seed, "pretext-init"))
        heads.new_head(model, 4)
        opt = train.build_optimizer(model, "adamw", lr=p.lr, weight_decay=5e-4)
        sched = train.build_schedule(opt, "onecycle", total_steps=p.epochs * len(batches), steps_per_epoch=len(batches))
        rows = []
        for r in train.fit(model, batches.epoch, val, optimizer=opt, scheduler=sched, loss_fn=nn.CrossEntropyLoss(),
                           epochs=p.epochs, device=device, seed=repro.derive_seed(run_seed, "pretext")):
            rows.append({"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "val_loss": r.val_loss,
                         "val_acc": r.val_acc, "seconds": r.seconds})
            on_event({"kind": "epoch", "arm": "pretext", "seed": seed_index, "epochs": p.epochs, **rows[-1]})
        cache.parent.mkdir(parents=True, exist_ok=True)
        train.checkpoint.save_weights(model, weights)
        write_jsonl(log, rows)
    repro.seed_torch(repro.derive_seed(run_seed, "head"))
    heads.new_head(model, ds.num_classes)
    return read_jsonl(log)
