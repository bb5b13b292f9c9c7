"""Our batch SOM vs MiniSom (the reference implementation seed 004 uses), side by side in one run.

Same data (10,000 x 30: 12 Gaussian blobs, standardized), same 20 x 20 map, same 10 epochs, same
initial weights (random inputs), same sigma 5 and the same decay of sigma per epoch. MiniSom trains
with its online rule (``train(..., use_epochs=True)``, 100,000 single-input updates, learning rate 0.5);
ours with the batch rule (10 updates, each over all inputs). Speed is the ratio of median wall times (3 repeats
after one untimed warm-up each; each side's timing record — n, median, spread, every run — kept beside it);
quality is the quantization and topographic error of both maps on the same data — a faster map that quantizes
worse would not count.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.common import timing, write
from deepstudy.models.som import SOM, decay

N, F, ROWS, COLS, EPOCHS, SIGMA = 10_000, 30, 20, 20, 10, 5.0  # tests/test_benchmarks.py shrinks them
MINISOM_DECAY = {"asymptotic": ("asymptotic_decay", "asymptotic_decay"), "linear": ("linear_decay_to_zero", "linear_decay_to_one")}


def _data() -> np.ndarray:
    from sklearn.datasets import make_blobs

    x, _ = make_blobs(N, F, centers=12, random_state=0)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def _minisom(x: np.ndarray, init: np.ndarray, schedule: str):
    from minisom import MiniSom

    lr_decay, sigma_decay = MINISOM_DECAY[schedule]
    m = MiniSom(ROWS, COLS, F, sigma=SIGMA, learning_rate=0.5, decay_function=lr_decay,
                sigma_decay_function=sigma_decay, random_seed=0)
    m._weights = init.reshape(ROWS, COLS, F).astype(np.float64).copy()  # the same start as ours
    t0 = time.perf_counter()
    m.train(x, EPOCHS, random_order=True, use_epochs=True)
    return time.perf_counter() - t0, m


def _ours(x: torch.Tensor, init: np.ndarray, schedule: str):
    som = SOM(ROWS, COLS, F)
    som.weight.copy_(torch.from_numpy(init))
    t0 = time.perf_counter()
    for epoch in range(EPOCHS):
        som.batch_epoch(x, decay(schedule, SIGMA, epoch, EPOCHS, sigma=True))
    return time.perf_counter() - t0, som


def main(repeats: int = 3) -> dict:
    x = _data()
    xt = torch.from_numpy(x)
    init = x[np.random.default_rng(0).integers(0, N, ROWS * COLS)]
    out = {}
    for schedule in MINISOM_DECAY:
        _ours(xt, init, schedule)  # warm-up: thread pool, allocator
        _minisom(x[:500], init, schedule)
        ours = [_ours(xt, init, schedule) for _ in range(repeats)]
        theirs = [_minisom(x, init, schedule) for _ in range(repeats)]
        ours_timing, theirs_timing = timing([t for t, _ in ours]), timing([t for t, _ in theirs])
        t_ours, t_theirs = ours_timing["median"], theirs_timing["median"]
        som, m = ours[0][1], theirs[0][1]
        row = {"ours_seconds": round(t_ours, 4), "minisom_seconds": round(t_theirs, 3), "speedup": round(t_theirs / t_ours, 1),
               "speedup_of": "median", "ours_timing": ours_timing, "minisom_timing": theirs_timing,
               "ours_quantization_error": round(som.quantization_error(xt), 4),
               "minisom_quantization_error": round(float(m.quantization_error(x)), 4),
               "ours_topographic_error": round(som.topographic_error(xt), 4),
               "minisom_topographic_error": round(float(m.topographic_error(x)), 4)}
        row["quantization_no_worse"] = row["ours_quantization_error"] <= row["minisom_quantization_error"]
        out[schedule] = row
        print(f"{schedule:10s} ours {t_ours:.3f}s vs MiniSom {t_theirs:.2f}s = {row['speedup']}x; quantization error "
              f"{row['ours_quantization_error']} vs {row['minisom_quantization_error']}; topographic "
              f"{row['ours_topographic_error']} vs {row['minisom_topographic_error']}")
    write("som_vs_minisom", {"data": f"{N} x {F} (12 blobs, standardized)", "map": f"{ROWS} x {COLS}", "epochs": EPOCHS,
                             "sigma": SIGMA, "repeats": repeats, "results": out, "target": "speedup >= 30 (stretch 60) "
                             "with no worse quantization error", "minisom": _version()})
    return out


def _version() -> str:
    from importlib.metadata import version

    return version("minisom")


if __name__ == "__main__":
    main()
