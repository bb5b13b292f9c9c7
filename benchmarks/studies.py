"""Accuracy targets of issue 2, measured by running the built-in studies (mean of their seeds).

Each target names the study, the dataset, the arms it covers and the threshold; the result
records the measured mean ± std (n), minutes on this machine and the run directory.
"""
from __future__ import annotations

import time

from benchmarks.common import RESULTS, write
from deepstudy import config, study
from deepstudy.fileio import read_json

TARGETS = [
    # (study, overrides, {arm-name prefix: threshold})
    ("mlp-vs-cnn", {}, {"cnn": 0.925, "mlp": 0.895}),
    ("mlp-vs-cnn", {"data.name": "mnist"}, {"cnn": 0.993, "mlp": 0.983}),
]


def run_target(name: str, overrides: dict, thresholds: dict) -> dict:
    cfg = config.load(name, overrides)
    t0 = time.perf_counter()
    run_dir = study.run(cfg, out_root=RESULTS.parent / "runs")
    minutes = (time.perf_counter() - t0) / 60
    res = read_json(run_dir / "results.json")
    out = {"study": name, "overrides": overrides, "dataset": cfg.data.name, "minutes": minutes, "run_dir": str(run_dir),
           "arms": {a: res["arms"][a]["summary"]["accuracy"] for a in res["arms"]}, "targets": {}}
    for prefix, threshold in thresholds.items():
        best = max((a for a in res["arms"] if a.startswith(prefix)), key=lambda a: res["arms"][a]["summary"]["accuracy"]["mean"])
        mean = res["arms"][best]["summary"]["accuracy"]["mean"]
        out["targets"][prefix] = {"best_arm": best, "mean": mean, "threshold": threshold, "met": mean >= threshold}
    return out


def main() -> list[dict]:
    results = [run_target(*t) for t in TARGETS]
    write("study_accuracy", {"results": results})
    return results


if __name__ == "__main__":
    main()
