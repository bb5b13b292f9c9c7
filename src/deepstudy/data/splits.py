"""Deterministic stratified splits (the same seed gives the same split on every machine)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from deepstudy.errors import UserError
from deepstudy.repro import derive_seed

if TYPE_CHECKING:
    from deepstudy.config import DataConfig


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out): ``fraction`` of each class held out, at least one where a class has 2+."""
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(fraction * len(idx)))
        k = min(max(k, 1 if len(idx) > 1 else 0), len(idx) - 1) if len(idx) > 1 else 0
        held.append(idx[:k])
        kept.append(idx[k:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` indices with the class proportions of ``labels``."""
    if size >= len(labels):
        return np.arange(len(labels))
    _, held = stratified_split(labels, size / len(labels), seed)
    return held


_TEST_SPLIT_SEED = 20261121  # the one stratified hold-out of datasets without a published test split


def _hold_out_test(x: np.ndarray, y: np.ndarray, fraction: float, notes: list[str]):
    keep, test = stratified_split(y, fraction, _TEST_SPLIT_SEED)
    notes.append(f"no published test split: a stratified {fraction:.0%} hold-out (fixed seed {_TEST_SPLIT_SEED}) "
                 "is the test set")
    return x[keep], y[keep], x[test], y[test]


def _limit(y: np.ndarray, limit: int, seed: int, notes: list[str]) -> np.ndarray:
    idx = stratified_subset(y, limit, derive_seed(seed, "train-limit"))
    if len(idx) < len(y):
        notes.append(f"training data limited to a stratified subset of {len(idx)} of {len(y)} examples "
                     "(data.train_limit)")
    return idx


def _finish_split(cfg: DataConfig, x, y, x_test, y_test, split_seed: int, notes: list[str]):
    """train_limit, then the stratified validation split: (x_train, y_train, x_val, y_val, x_test, y_test)."""
    if cfg.train_limit:
        keep = _limit(y, cfg.train_limit, split_seed, notes)
        x, y = x[keep], y[keep]
    tr, va = stratified_split(y, cfg.val_fraction, derive_seed(split_seed, "val-split"))
    _check_split_sizes(cfg, len(tr), len(va), len(y_test))
    return x[tr], y[tr], x[va], y[va], x_test, y_test


def _check_split_sizes(cfg: DataConfig, train: int, val: int, test: int) -> None:
    """Every split holds an example: an empty one (a test_fraction near 1 leaves one example per class to split
    again) would only fail once training has begun, with the run directory half-written."""
    if min(train, val, test) == 0:
        raise UserError(f"dataset '{cfg.name}' splits into {train} training, {val} validation and {test} test "
                        f"examples; every split needs at least one — lower data.test_fraction ({cfg.test_fraction}) "
                        f"or raise data.val_fraction ({cfg.val_fraction}) or data.train_limit")
