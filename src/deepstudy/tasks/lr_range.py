"""The learning-rate range test of a classify arm (``analyses: [lr-range]``, ``deepstudy lr-find``).

The sweep (deepstudy.train.lr_range) starts from the weights seed 0 of the arm starts from — the same
initialization seed, word vectors, NumPy-engine or published weights, a frozen backbone — and trains with the
arm's optimizer (its momentum, betas, weight decay; the rate is swept), loss, precision and gradient clipping on
the arm's training batches (augmentation included). Pretraining and a teacher are not run first: the sweep
measures the network as built. It runs under a forked random stream, so listing it changes no other number.
"""
from __future__ import annotations

import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import repro, train, weights
from deepstudy.config import Study
from deepstudy.fileio import read_json, write_json
from deepstudy.models import heads
from deepstudy.rundir import RunDir
from deepstudy.tasks import build_model, scratch

FILE = "lr-range.json"  # under arms/<arm>/ of a run (the report reads it)


def sweep(cfg: Study, ds: _data.Dataset, device: torch.device, loss_fn: nn.Module) -> dict:
    """The range test of one arm: the curve, where it stopped, the suggested rates, and what it ran with."""
    t, r = cfg.train, cfg.lr_range
    run_seed = repro.derive_seed(cfg.seed, "seed", 0)  # seed 0's run seed, as study.execute derives it
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        repro.seed_torch(repro.derive_seed(run_seed, "init"))  # seed 0's initial weights (tasks.classify)
        model = build_model(cfg.model, ds).to(device)
        if cfg.data.word_vectors:
            weights.load_word_vectors(model, cfg.data.word_vectors, ds.vocab or [], t.freeze_embeddings)
        if t.init == "numpy-engine":
            scratch.copy_initial_weights(model, cfg, ds.input_shape, ds.num_classes, run_seed)
        else:
            weights.load_pretrained(model, imagenet=cfg.model.name if cfg.pretrain.task == "imagenet" else None)
        if t.freeze_backbone:  # the first epochs train the head alone
            heads.freeze_backbone(model)
    batches = ds.batches("train", t.batch_size, train=True, augment=cfg.data.augment, seed=run_seed, device=device)
    found = train.lr_range_test(model, batches.epoch, loss_fn, lambda m: train.from_settings(m, t)[0],
                                start=r.start, end=r.end, steps=r.steps, smooth=r.smooth, diverge=r.diverge,
                                device=device, seed=repro.derive_seed(run_seed, "lr-range"), precision=t.precision,
                                grad_clip=t.grad_clip)
    skipped = [what for what, on in (("pretraining", cfg.pretrain.task in ("rotation", "supervised")),
                                     ("the teacher", cfg.distill.teacher is not None)) if on]
    return {**found, "optimizer": t.optimizer.name, "lr": t.optimizer.lr, "batch_size": t.batch_size,
            "not_applied": skipped}


def after_seeds(study: Study, arms: dict[str, Study], datasets: dict, run: RunDir, device: torch.device,
                loss_of) -> None:
    """Each arm's range test into arms/<arm>/lr-range.json, when the study lists lr-range (a resume keeps one
    already written: the sweep is deterministic)."""
    if "lr-range" not in study.analyses:
        return
    for arm, cfg in arms.items():
        path = run.arm(arm) / FILE
        if not path.is_file():
            write_json(path, sweep(cfg, datasets[arm], device, loss_of(cfg)))


def summary(run: RunDir, arm: str) -> dict | None:
    """The arm's block in results.json: the suggestions, the minimum and where the sweep stopped (not the curve)."""
    path = run.arm(arm) / FILE
    if not path.is_file():
        return None
    found = read_json(path)
    keys = ("suggestion", "minimum", "stopped_at", "start", "end", "steps", "optimizer", "lr", "not_applied")
    return {k: found.get(k) for k in keys}
