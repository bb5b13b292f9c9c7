"""Accuracy targets of issue 2, measured by running the built-in studies (mean of their seeds).

Each target names the study, the dataset, the arms it covers and the threshold; the result
records the measured mean ± std (n), minutes on this machine and the run directory.
"""
from __future__ import annotations

import time
from pathlib import Path

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
    return summarize(run_dir, thresholds, minutes=(time.perf_counter() - t0) / 60)


def summarize(run_dir: Path, thresholds: dict, minutes: float | None = None) -> dict:
    """Targets checked against a finished run directory (also one made by `deepstudy run`)."""
    res = read_json(run_dir / "results.json")
    if minutes is None:  # a run made elsewhere: its recorded training + evaluation time
        minutes = sum(s["train_seconds"] + s.get("eval_seconds", 0) for a in res["arms"].values()
                      for s in a["seeds"] if s["status"] == "ok") / 60
    name, dataset = res["study"], res["dataset"]["name"]
    out = {"study": name, "dataset": dataset, "minutes": minutes, "run_dir": str(run_dir),
           "arms": {a: res["arms"][a]["summary"]["accuracy"] for a in res["arms"]}, "targets": {}}
    for prefix, threshold in thresholds.items():
        best = max((a for a in res["arms"] if a.startswith(prefix)), key=lambda a: res["arms"][a]["summary"]["accuracy"]["mean"])
        mean = res["arms"][best]["summary"]["accuracy"]["mean"]
        out["targets"][prefix] = {"best_arm": best, "mean": mean, "threshold": threshold, "met": mean >= threshold}
    return out


def main(run_dirs: list[str] | None = None) -> list[dict]:
    """Run every target study, or summarize finished run directories given in the same order as TARGETS."""
    if run_dirs:
        results = [summarize(Path(d), t[2]) for d, t in zip(run_dirs, TARGETS)]
    else:
        results = [run_target(*t) for t in TARGETS]
    write("study_accuracy", {"results": results})
    return results


if __name__ == "__main__":
    main()
