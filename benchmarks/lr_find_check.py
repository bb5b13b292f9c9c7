"""Issue 20's check of the learning-rate range test: is the rate it suggests as good as the best rate of a grid?

On mlp-vs-cnn's CNN (cnn-plain: the same network, optimizer, one-cycle schedule and batch size) with a smaller budget
stated in the result (10,000 training images, 5 epochs, one torch thread, so the whole check fits in minutes on 2
cores): ``deepstudy lr-find`` from seed 0's initial weights gives the suggestion (the minimum of the smoothed loss
÷ 10, and the steepest descent beside it); then the suggested rate and a grid of five rates around the study's own
(2e-3) are each trained on 3 seeds, and the suggestion's test accuracy is compared with the grid's best arm by
Welch's t-test. Either verdict is recorded as measured.

    python -m benchmarks lr-find
"""
from __future__ import annotations

import time

from benchmarks.common import RESULTS, timing, write
from deepstudy import config, evaluate, study
from deepstudy.fileio import read_json

GRID = (3e-4, 1e-3, 2e-3, 5e-3, 1e-2)
BUDGET = {"data.train_limit": 10000, "train.epochs": 5, "train.threads": 1, "seeds": 3}


def _accuracies(run_dir) -> dict[str, list[float]]:
    res = read_json(run_dir / "results.json")
    return {arm: [s["test"]["accuracy"] for s in info["seeds"]] for arm, info in res["arms"].items()}


def main() -> dict:
    t0 = time.perf_counter()
    base = config.load("mlp-vs-cnn", BUDGET, arms=["cnn-plain"])
    found = read_json(study.lr_find(base, out=RESULTS.parent / "runs" / "lr-find-check") / "lr-find.json")
    suggestion = found["arms"]["cnn-plain"]["suggestion"]
    rate = float(suggestion["min_div_10"])
    arms = {f"lr-{lr:g}": {"train.optimizer.lr": lr} for lr in GRID} | {"suggested": {"train.optimizer.lr": rate}}
    grid = config.load("mlp-vs-cnn", {**BUDGET, "arms": {"cnn-plain": {}}} | {"opt_in_arms": arms},
                       arms=list(arms))
    run_dir = study.run(grid, out_root=RESULTS.parent / "runs")
    acc = _accuracies(run_dir)
    best = max((a for a in acc if a != "suggested"), key=lambda a: evaluate.describe(acc[a])["mean"])
    p = evaluate.welch_p(acc["suggested"], acc[best])
    within = p is None or p >= 0.05 or evaluate.describe(acc["suggested"])["mean"] >= evaluate.describe(acc[best])["mean"]
    result = {
        "what": "lr-find's suggestion (minimum / 10) vs the best of a 5-rate grid, mlp-vs-cnn's cnn-plain",
        "budget": BUDGET, "grid": list(GRID), "suggested_lr": rate, "steepest_lr": suggestion.get("steepest"),
        "test_accuracy": {a: evaluate.describe(v) for a, v in acc.items()},
        "best_grid_arm": best, "welch_p": p,
        "verdict": ("the suggestion is within noise of (or above) the grid's best" if within
                    else "the grid's best beats the suggestion beyond noise"),
        "met": within, "run_dir": str(run_dir),
        "command": "python -m benchmarks lr-find",
        "minutes": timing([(time.perf_counter() - t0) / 60]),
    }
    write("lr_find_check", result)
    print(f"lr-find check: suggested {rate:.3g} -> {evaluate.describe(acc['suggested'])['mean']:.2%}; best grid {best} "
          f"-> {evaluate.describe(acc[best])['mean']:.2%}; Welch p = {p}: {result['verdict']}")
    return result
