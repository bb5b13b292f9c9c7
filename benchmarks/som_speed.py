"""Our SOM vs MiniSom (the reference implementation seed 004 uses), in one run, two comparisons kept apart.

Everything shared: the data (10,000 x 30: 12 Gaussian blobs, standardized, float32), the 20 x 20 map, 10 epochs,
the initial weights (random inputs), sigma 5, learning rate 0.5, and the schedule (asymptotic, then linear).

(a) The SAME algorithm — the online rule, one input at a time. MiniSom: ``train(x, 100_000, random_order=True)``,
    100,000 single-input updates with sigma and the learning rate decayed per step. Ours: ``online_epoch`` over
    the very same visiting order (MiniSom's shuffle, replayed from the same seed), in float64 (MiniSom's precision:
    the two maps end equal to ~1e-12, recorded) and in float32 (what the studies train in). Target: ours/MiniSom
    time <= 1.0 at a quantization error no worse than MiniSom's + 1 %.
(b) DIFFERENT algorithms — our batch rule (10 updates, each over all inputs, sigma decayed per epoch; float32)
    against the same MiniSom online run. No target: it says what switching rule buys, and what it costs in
    quantization and topographic error; it is not a like-for-like speed-up.

Timing: one untimed warm-up of each on 500 inputs, then ``repeats`` rounds that run MiniSom, ours online float64,
ours online float32 and ours batch in turn (interleaved, so load drift on a shared machine hits all of them);
each side's record is ``benchmarks.common.timing`` (n, median, spread, every run); ratios are ratios of medians.
Every run of a side is deterministic, so the errors come from the first round (later rounds are checked equal).
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from benchmarks.common import timing, write
from deepstudy.models.som import SOM, decay

N, F, ROWS, COLS, EPOCHS, SIGMA, LR = 10_000, 30, 20, 20, 10, 5.0, 0.5  # tests/test_benchmarks.py shrinks them
ORDER_SEED = 0
MINISOM_DECAY = {"asymptotic": ("asymptotic_decay", "asymptotic_decay"), "linear": ("linear_decay_to_zero", "linear_decay_to_one")}
OURS = ("ours_online_float64", "ours_online_float32", "ours_batch")
QUANTIZATION_SLACK = 0.01  # (a)'s quality bar: ours <= MiniSom's quantization error x 1.01


def _data() -> np.ndarray:
    from sklearn.datasets import make_blobs

    x, _ = make_blobs(N, F, centers=12, random_state=0)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def _minisom(x: np.ndarray, init: np.ndarray, schedule: str):
    """MiniSom's online rule over len(x) * EPOCHS steps in MiniSom's shuffled order (seeded: see _order)."""
    from minisom import MiniSom

    lr_decay, sigma_decay = MINISOM_DECAY[schedule]
    m = MiniSom(ROWS, COLS, x.shape[1], sigma=SIGMA, learning_rate=LR, decay_function=lr_decay,
                sigma_decay_function=sigma_decay)
    m._weights = init.reshape(ROWS, COLS, -1).astype(np.float64).copy()  # the same start as ours
    m._random_generator = np.random.RandomState(ORDER_SEED)  # the order it shuffles: the one _order replays
    t0 = time.perf_counter()
    m.train(x, len(x) * EPOCHS, random_order=True)
    return time.perf_counter() - t0, m


def _order(n: int) -> torch.Tensor:
    """MiniSom's visiting order for train(x, n * EPOCHS, random_order=True): every index EPOCHS times, shuffled
    as one sequence by its RandomState (minisom._build_iteration_indexes)."""
    steps = np.arange(n * EPOCHS) % n
    np.random.RandomState(ORDER_SEED).shuffle(steps)
    return torch.from_numpy(steps)


def _ours_online(x: torch.Tensor, init: np.ndarray, schedule: str, dtype: torch.dtype):
    som = SOM(ROWS, COLS, x.shape[1]).to(dtype)
    som.weight.copy_(torch.from_numpy(init))
    x = x.to(dtype)
    t0 = time.perf_counter()
    order = _order(len(x))  # inside the timing: MiniSom's shuffle is inside its train()
    som.online_epoch(x, order, 0, len(order), LR, SIGMA, schedule, schedule)
    return time.perf_counter() - t0, som


def _ours_batch(x: torch.Tensor, init: np.ndarray, schedule: str):
    som = SOM(ROWS, COLS, x.shape[1])
    som.weight.copy_(torch.from_numpy(init))
    t0 = time.perf_counter()
    for epoch in range(EPOCHS):
        som.batch_epoch(x, decay(schedule, SIGMA, epoch, EPOCHS, sigma=True))
    return time.perf_counter() - t0, som


def _runs(x: np.ndarray, init: np.ndarray, schedule: str) -> dict:
    """name -> (seconds, map) for MiniSom and each of OURS on the same x and init."""
    xt = torch.from_numpy(x)
    return {"minisom_online": _minisom(x, init, schedule),
            "ours_online_float64": _ours_online(xt, init, schedule, torch.float64),
            "ours_online_float32": _ours_online(xt, init, schedule, torch.float32),
            "ours_batch": _ours_batch(xt, init, schedule)}


def _weights(name: str, trained) -> np.ndarray:
    return trained.get_weights().reshape(ROWS * COLS, -1) if name == "minisom_online" else trained.weight.double().numpy()


def _quality(name: str, trained, x: np.ndarray) -> dict:
    if name == "minisom_online":
        qe, te = trained.quantization_error(x), trained.topographic_error(x)
    else:
        xt = torch.from_numpy(x).to(trained.weight.dtype)
        qe, te = trained.quantization_error(xt), trained.topographic_error(xt)
    return {"quantization_error": round(float(qe), 5), "topographic_error": round(float(te), 5)}


def _schedule(x: np.ndarray, init: np.ndarray, schedule: str, repeats: int) -> dict:
    _runs(x[:500], init, schedule)  # warm-up: imports, allocator, thread pool
    rounds = [_runs(x, init, schedule) for _ in range(repeats)]
    first = rounds[0]
    out = {}
    for name in first:
        w = _weights(name, first[name][1])
        out[name] = {"timing": timing([r[name][0] for r in rounds]), **_quality(name, first[name][1], x),
                     "repeats_identical": all(np.array_equal(w, _weights(name, r[name][1])) for r in rounds[1:])}
    theirs = out["minisom_online"]
    out["ours_online_float64"]["max_abs_weight_difference_to_minisom"] = float(
        np.abs(_weights("ours_online_float64", first["ours_online_float64"][1]) - _weights("minisom_online", first["minisom_online"][1])).max())
    for name in OURS:
        ours = out[name]
        ours["time_ratio_to_minisom"] = ours["timing"]["median"] / theirs["timing"]["median"]  # < 1: ours is faster
        ours["ratio_of"] = "median"
        ours["same_algorithm_as_minisom"] = name != "ours_batch"
        ours["quantization_error_ratio_to_minisom"] = ours["quantization_error"] / theirs["quantization_error"]
    return out


def _rows(results: dict, version: str) -> list[dict]:
    """The shared results-row schema (one claim a row): (a) online vs online with a target, (b) batch vs online
    without one."""
    rows = []
    setup = f"{N} x {F}, {ROWS} x {COLS} map, {EPOCHS} epochs"
    for schedule, out in results.items():
        theirs = out["minisom_online"]
        reference = {"value": theirs["timing"]["median"], "unit": "s", "n": theirs["timing"]["n"],
                     "std": (theirs["timing"]["spread"] or {}).get("std"),
                     "what": f"MiniSom {version} online rule ({N * EPOCHS:,} steps), quantization error "
                             f"{theirs['quantization_error']}, topographic error {theirs['topographic_error']}"}
        for name in OURS:
            ours = out[name]
            online = ours["same_algorithm_as_minisom"]
            label = (f"SOM online rule, same algorithm: ours ({name.rsplit('_', 1)[1]}) / MiniSom, time" if online else
                     "SOM batch rule (ours) / MiniSom's online rule, time — DIFFERENT algorithms")
            met = None
            if online:
                met = bool(ours["time_ratio_to_minisom"] <= 1.0 and ours["quantization_error"]
                           <= theirs["quantization_error"] * (1 + QUANTIZATION_SLACK))
            rows.append({"benchmark": f"{label}; {schedule} decay, {setup}",
                         "ours": {"value": ours["timing"]["median"], "unit": "s", "n": ours["timing"]["n"],
                                  "std": (ours["timing"]["spread"] or {}).get("std"),
                                  "what": f"quantization error {ours['quantization_error']}, "
                                          f"topographic error {ours['topographic_error']}"},
                         "reference": reference, "ratio": ours["time_ratio_to_minisom"], "ratio_of": "median",
                         "target": "<= 1.0x at quantization error <= MiniSom's + 1 %" if online else None, "met": met})
    return rows


def main(repeats: int = 5) -> dict:
    x = _data()
    init = x[np.random.default_rng(0).integers(0, N, ROWS * COLS)]
    version = _version()
    load_before = os.getloadavg()  # a shared machine makes absolute times noisy; the interleaved ratios less so
    results = {}
    for schedule in MINISOM_DECAY:
        out = results[schedule] = _schedule(x, init, schedule, repeats)
        theirs = out["minisom_online"]
        print(f"{schedule}: MiniSom online {theirs['timing']['median']:.2f} s, quantization error "
              f"{theirs['quantization_error']}, topographic error {theirs['topographic_error']}")
        for name in OURS:
            o = out[name]
            kind = "same algorithm" if o["same_algorithm_as_minisom"] else "DIFFERENT algorithm"
            print(f"  {name:20s} {o['timing']['median']:.3f} s = {o['time_ratio_to_minisom']:.3f}x MiniSom's time "
                  f"({kind}); quantization error {o['quantization_error']}, topographic error {o['topographic_error']}")
    write("som_vs_minisom", {
        "data": f"{N} x {F} (12 blobs, standardized, float32)", "map": f"{ROWS} x {COLS}", "epochs": EPOCHS,
        "online_steps": N * EPOCHS, "sigma": SIGMA, "learning_rate": LR, "repeats": repeats, "minisom": version,
        "comparisons": {
            "a": "online vs online (same algorithm, same visiting order): ours_online_float64 / ours_online_float32 "
                 "vs minisom_online",
            "b": "batch vs online (DIFFERENT algorithms, informational): ours_batch vs minisom_online"},
        "load_average_1_5_15_min": {"before": [round(v, 2) for v in load_before],
                                    "after": [round(v, 2) for v in os.getloadavg()], "cpu_count": os.cpu_count()},
        "target": "(a) ours/MiniSom time <= 1.0 at quantization error <= MiniSom's + 1 %; (b) none",
        "results": results, "rows": _rows(results, version)})
    return results


def _version() -> str:
    from importlib.metadata import version

    return version("minisom")


if __name__ == "__main__":
    main()
