"""Search benchmarks (issue 19): pruning's saving, TPE vs random beyond noise, two workers on two cores.

python -m benchmarks search-pruning   # (a) search-cnn with hyperband vs without a pruner, same sampler and seed
python -m benchmarks search-samplers  # (b) the search-vs-random study (TPE, random, grid; 5 searches each)
python -m benchmarks search-jobs      # (c) a 16-trial search with --jobs 2 vs --jobs 1 on this machine

(a) passes when the pruned search's winner tests within noise of the unpruned search's winner (Welch over the
fresh seeds, or better) using <= 50 % of its training epochs; (b) records the verdict whatever it is; (c) passes
when --jobs 2 finishes the trials in <= 0.65x the time of --jobs 1, both measured in this run.
"""
from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import RESULTS, write
from deepstudy import config, evaluate, study
from deepstudy.fileio import read_json

# (a) on a fifth of Fashion-MNIST's training images so both searches fit a CI-sized machine (stated in the result)
PRUNING = {"data.train_limit": 12000}
JOBS_STUDY = {  # (c) 16 trials of a small CNN on digits: each a couple of seconds, many per worker
    "name": "search-jobs", "data": {"name": "digits", "val_fraction": 0.15},
    "model": {"name": "cnn", "channels": [16, 32]},
    "train": {"epochs": 8, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 3.0e-3},
              "early_stopping": {"monitor": "val_acc"}},
    "search": {"sampler": "random", "trials": 16, "final_seeds": 2,
               "space": {"train.optimizer.lr": {"loguniform": [3.0e-4, 1.0e-2]},
                         "model.channels": {"choice": [[16, 32], [32, 64]]}}},
}


def _search(run_dir) -> dict:
    return read_json(run_dir / "results.json")["search"]


def pruning() -> dict:
    out = {"settings": PRUNING, "runs": {}}
    for pruner in ("none", "hyperband"):
        cfg = config.load("search-cnn", {**PRUNING, "search.pruner": pruner})
        t0 = time.perf_counter()
        run_dir = study.run(cfg, out_root=RESULTS.parent / "runs")
        s = _search(run_dir)
        out["runs"][pruner] = {"run_dir": str(run_dir), "minutes": (time.perf_counter() - t0) / 60,
                               "epochs": s["epochs"], "best": s["best"], "tuned_test": s["reevaluated"]["tuned"]["test"],
                               "counts": s["counts"]}
    full, pruned = out["runs"]["none"], out["runs"]["hyperband"]
    share = pruned["epochs"]["total"] / full["epochs"]["total"]
    a, b = pruned["tuned_test"]["values"], full["tuned_test"]["values"]
    p = evaluate.welch_p(a, b)
    within = pruned["tuned_test"]["mean"] >= full["tuned_test"]["mean"] or (p is not None and p >= 0.05)
    out.update(epoch_share=share, welch_p=p, within_noise=within, met=within and share <= 0.5)
    print(f"pruning: {share:.0%} of the unpruned search's epochs; winners test {pruned['tuned_test']['mean']:.4f} vs "
          f"{full['tuned_test']['mean']:.4f} (Welch p = {p}); met: {out['met']}")
    write("search_pruning", out)
    return out


def samplers(run_dir: str | None = None) -> dict:
    if run_dir is None:
        run_dir = study.run(config.load("search-vs-random"), out_root=RESULTS.parent / "runs")
    s = _search(Path(run_dir))
    out = {"run_dir": str(run_dir), "repeats": s["repeats"], "budget": s["budget"], "found": s["found"],
           "believed": s["believed"], "verdict": s["comparison"]}
    print(f"samplers: {s['comparison']['summary']}")
    write("search_samplers", out)
    return out


def jobs() -> dict:
    out = {"study": JOBS_STUDY, "runs": {}}
    for n in (1, 2):
        marks: list[float] = []
        t0 = time.perf_counter()
        run_dir = study.run(config.validate(JOBS_STUDY), out_root=RESULTS.parent / "runs", jobs=n,
                            on_event=lambda e: marks.append(time.perf_counter()) if e["kind"] == "trial_end" else None)
        out["runs"][n] = {"run_dir": str(run_dir), "trials_seconds": max(marks) - t0,
                          "total_seconds": time.perf_counter() - t0}
    ratio = out["runs"][2]["trials_seconds"] / out["runs"][1]["trials_seconds"]
    out.update(ratio=ratio, target=0.65, met=ratio <= 0.65)
    print(f"jobs: --jobs 2 took {ratio:.2f}x the time of --jobs 1 for 16 trials (target <= 0.65); met: {out['met']}")
    write("search_jobs", out)
    return out
