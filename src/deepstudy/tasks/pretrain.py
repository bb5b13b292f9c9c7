"""Pretraining before the supervised training: a pretext task, or another labelled dataset (transfer).

``pretrain.task: rotation`` — self-supervised (Gidaris, Singh & Komodakis, ICLR 2018): the network
learns to tell which of 0, 90, 180, 270 degrees an image was turned by, on every training image with
labels ignored (the pool data.train_limit leaves unlabelled included; the test split never). Every
image of a batch is shown in its four rotations.

``pretrain.task: supervised`` — transfer learning (Yosinski et al., 2014): the network learns the
classes of a source dataset (``pretrain.data``, e.g. Fashion-MNIST for an MNIST target), normalized
by its own training statistics and validated on its own validation split.

Either way the head is then replaced by a fresh one for the real classes. The pretrained weights
depend on the seed, the model, the data and the pretraining settings only (not data.train_limit), so
arms that differ in how many target labels they get or how they fine-tune (all layers, or
``train.freeze_backbone``: a linear probe) share them: they are computed once per seed and kept under
run_dir/pretrained/.
"""
from __future__ import annotations

import hashlib
import json
import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import weights
from deepstudy import repro, train
from deepstudy.config import EVAL_BATCH_SIZE, DataConfig, Study
from deepstudy.errors import UserError
from deepstudy.fileio import read_jsonl, write_jsonl
from deepstudy.models import heads
from deepstudy.rundir import RunDir


_SOURCES: dict[tuple, _data.Dataset] = {}  # source datasets of this process, loaded once


def source(cfg: Study) -> _data.Dataset:
    """The labelled source dataset of ``pretrain.task: supervised`` (its own split of train/validation)."""
    p = cfg.pretrain
    key = (p.data, p.images, cfg.seed)
    if key not in _SOURCES:
        _SOURCES.clear()  # one source at a time: image datasets are large
        _SOURCES[key] = _data.load(DataConfig(name=p.data, train_limit=p.images),
                                   split_seed=repro.derive_seed(cfg.seed, "pretrain-data"))
    return _SOURCES[key]


def check(arm: str, cfg: Study, ds: _data.Dataset) -> None:
    p = cfg.pretrain
    if cfg.data.imagenet_input and ds.kind != "image":
        raise UserError(f"arm '{arm}': data.imagenet_input resizes images; dataset '{ds.name}' is {ds.kind} — remove "
                        "it")
    if p.task == "none":
        return
    if cfg.task != "classify" or ds.kind != "image":
        raise UserError(f"arm '{arm}': pretrain.task {p.task} pretrains image classifiers (task: classify on images); "
                        f"dataset '{ds.name}' is {ds.kind}, task {cfg.task}")
    if p.task == "imagenet":
        name, kw = cfg.model.name, cfg.model.kwargs()
        if name not in weights.WEIGHTS:
            raise UserError(f"arm '{arm}': pretrain.task imagenet loads torchvision's published weights, which exist "
                            f"for {', '.join(weights.WEIGHTS)} — not '{name}'")
        if not cfg.data.imagenet_input:
            raise UserError(f"arm '{arm}': ImageNet weights expect 3-channel images of ImageNet's statistics; set "
                            "data.imagenet_input: 224 (or smaller, e.g. 112, on a CPU)")
        if kw.get("width", 1.0) != 1.0 or kw.get("stem", "auto") == "small" or kw.get("head", "auto") == "small":
            raise UserError(f"arm '{arm}': ImageNet weights fit the full network: remove model.width / stem / head "
                            "overrides")
        weights.present(name)  # offline without the file: what to fetch, before the run directory exists
        return
    if p.task == "supervised":
        if not p.data:
            raise UserError(f"arm '{arm}': pretrain.task supervised needs the source dataset: set pretrain.data "
                            "(e.g. fashion-mnist; `deepstudy data list` shows the names)")
        src = source(cfg)
        if src.kind != "image" or src.input_shape != ds.input_shape:
            raise UserError(f"arm '{arm}': the source dataset '{src.name}' has inputs {src.input_shape} ({src.kind}) "
                            f"but '{ds.name}' has {ds.input_shape}; pick a source of the same image shape (image "
                            f"folders: set data.image_size and data.grayscale to match)")
        return
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


def _rotation_batches(ds: _data.Dataset, p, device: torch.device, run_seed: int):
    pool = ds.extra.get("unlabelled")
    pool = torch.cat([ds.x_train, ds.x_val]) if pool is None else pool
    g = np.random.default_rng(repro.derive_seed(run_seed, "pretext-split"))
    order = torch.from_numpy(g.permutation(len(pool))[:p.images])
    n_val = max(1, len(order) // 20)
    transform = ds.transform()
    return (RotationBatches(pool[order[n_val:]].to(device), transform, p.batch_size, run_seed),
            RotationBatches(pool[order[:n_val]].to(device), transform, EVAL_BATCH_SIZE, run_seed,
                            shuffle=False), 4)


def pretrain(model: nn.Module, ds: _data.Dataset, cfg: Study, device: torch.device, run_seed: int, run: RunDir,
             seed_index: int, on_event) -> list[dict]:
    """Pretraining in place (or its cached result); the head is then replaced for the real classes."""
    p = cfg.pretrain
    cache = run.pretrained(_cache_key(cfg, seed_index))
    weights, log = cache.with_suffix(".safetensors"), cache.with_suffix(".jsonl")
    src = source(cfg) if p.task == "supervised" else None
    if weights.is_file() and log.is_file():
        heads.new_head(model, 4 if src is None else src.num_classes)
        train.checkpoint.load_weights(model, weights)
    else:
        if src is None:
            batches, val, n_out = _rotation_batches(ds, p, device, run_seed)
        else:
            batches = src.batches("train", p.batch_size, train=True,
                                  seed=repro.derive_seed(run_seed, "pretrain-batches"),
                                  device=device)
            val, n_out = src.batches("val", EVAL_BATCH_SIZE, device=device), src.num_classes
        repro.seed_torch(repro.derive_seed(run_seed, "pretext-init"))
        heads.new_head(model, n_out)
        opt = train.build_optimizer(model, "adamw", lr=p.lr, weight_decay=5e-4)
        sched = train.build_schedule(opt, "onecycle", total_steps=p.epochs * len(batches), steps_per_epoch=len(batches))
        rows = []
        for r in train.fit(model, batches.epoch, val, optimizer=opt, scheduler=sched, loss_fn=nn.CrossEntropyLoss(),
                           epochs=p.epochs, device=device, seed=repro.derive_seed(run_seed, "pretext")):
            rows.append({"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "val_loss": r.val_loss,
                         "val_acc": r.val_acc, "seconds": r.seconds})
            on_event({"kind": "epoch", "arm": f"pretrain ({p.task})", "seed": seed_index, "epochs": p.epochs,
                      "aux": True, **rows[-1]})
        cache.parent.mkdir(parents=True, exist_ok=True)
        train.checkpoint.save_weights(model, weights)
        write_jsonl(log, rows)
    repro.seed_torch(repro.derive_seed(run_seed, "head"))
    heads.new_head(model, ds.num_classes)
    return read_jsonl(log)
