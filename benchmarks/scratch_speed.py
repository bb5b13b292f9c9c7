"""NumPy engine vs torch on the CPU: same architecture, same initial weights, same batches, float32.

The torch twin is built from the NumPy model's weights, so the first losses agree (checked and
recorded); steps alternate between engines so machine-load drift hits both, and the ratio of
median step times is reported, beside each engine's timing record (n, median, spread, every round). Targets (issue 3): CNN step <= 2.0x torch, MLP step <= 1.3x torch.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from benchmarks.common import timing, write
from deepstudy import scratch
from deepstudy.config import DataConfig
from deepstudy.data import load
from deepstudy.scratch.models import lenet, mlp
from deepstudy.tasks.scratch import copy_weights

TRAIN_LIMIT = 5120  # MNIST training images per round (40 steps of 128); tests/test_benchmarks.py shrinks it


def torch_twin(model: scratch.Sequential) -> nn.Sequential:
    """The same layers in torch, weights copied from the NumPy model."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, scratch.ToChannelsLast):  # a layout change inside the NumPy model only
            continue
        if isinstance(layer, scratch.Dense):
            t = nn.Linear(layer.W.data.shape[1], layer.W.data.shape[0])
        elif isinstance(layer, scratch.Conv2D):
            f, c, k, _ = layer.W.data.shape
            t = nn.Conv2d(c, f, k, stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
        elif isinstance(layer, scratch.MaxPool2D):
            t = nn.MaxPool2d(layer.k, layer.stride)
        else:
            t = {scratch.ReLU: nn.ReLU, scratch.Flatten: nn.Flatten}[type(layer)]()
        layers.append(t)
    twin = nn.Sequential(*layers)
    copy_weights(model, twin)
    return twin


def measure(name: str, model: scratch.Sequential, x: np.ndarray, y: np.ndarray, batch: int, rounds: int = 5) -> dict:
    twin = torch_twin(model)
    opt_np, opt_t = scratch.Adam(model.params(), 1e-3), torch.optim.Adam(twin.parameters(), 1e-3)
    first_np = scratch.softmax_cross_entropy(model.forward(x[:batch]), y[:batch])[0]
    first_t = nn.functional.cross_entropy(twin(torch.tensor(x[:batch])), torch.tensor(y[:batch])).item()
    steps = len(x) // batch
    times = {"numpy": [], "torch": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(steps):
            xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
            _, g = scratch.softmax_cross_entropy(model.forward(xb), yb)
            opt_np.zero_grad()
            model.backward(g)
            opt_np.step()
        times["numpy"].append((time.perf_counter() - t0) / steps)
        t0 = time.perf_counter()
        for i in range(steps):
            xb, yb = torch.tensor(x[i * batch:(i + 1) * batch]), torch.tensor(y[i * batch:(i + 1) * batch])
            loss = nn.functional.cross_entropy(twin(xb), yb)
            opt_t.zero_grad()
            loss.backward()
            opt_t.step()
        times["torch"].append((time.perf_counter() - t0) / steps)
    a, b = (timing([1000 * t for t in times[e][1:]], "ms") for e in ("numpy", "torch"))  # round 0 warms up
    return {"model": name, "batch_size": batch, "steps_per_round": steps, "numpy_ms_per_step": a["median"],
            "torch_ms_per_step": b["median"], "ratio": a["median"] / b["median"], "ratio_of": "median",
            "numpy_ms_per_step_timing": a, "torch_ms_per_step_timing": b, "first_loss_numpy": first_np,
            "first_loss_torch": first_t, "same_initial_weights": abs(first_np - first_t) < 1e-5,
            "raw_seconds_per_step": times}


def main(rounds: int = 5) -> dict:
    """``rounds`` rounds per engine and model; the first warms up, the others are timed."""
    ds = load(DataConfig(name="mnist", train_limit=TRAIN_LIMIT), 0)
    x = ((ds.x_train.float() / 255 - ds.mean.view(1, -1, 1, 1)) / ds.std.view(1, -1, 1, 1)).numpy()
    y = ds.y_train.numpy()
    rng = np.random.default_rng(0)
    results = {  # the models are built in this order from one rng: their initial weights depend on it
        "mlp_512_256": {**measure("mlp", mlp(784, 10, rng, hidden=(512, 256)), x, y, 128, rounds), "target": "<= 1.3"},
        "lenet_16_32": {**measure("lenet", lenet(1, 10, (28, 28), rng), x, y, 128, rounds), "target": "<= 2.0"},
        "lenet_16_32_nchw": {**measure("lenet (NCHW inside)", lenet(1, 10, (28, 28), rng, channels_last=False),
                                       x, y, 128, rounds),
                             "target": "reference: the channels-first layout"},
    }
    for k, v in results.items():
        v["met"] = v["ratio"] <= float(v["target"].split()[-1]) if v["target"].startswith("<=") else None
        print(f"{k}: numpy {v['numpy_ms_per_step']:.2f} ms, torch {v['torch_ms_per_step']:.2f} ms, ratio {v['ratio']:.2f} "
              f"(target {v['target']}), same init {v['same_initial_weights']}")
    import os
    write("scratch_vs_torch_speed", {"openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"), **results})
    return results


if __name__ == "__main__":
    main()
