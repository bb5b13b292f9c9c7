"""Search benchmarks (issue 19): pruning's saving, TPE vs random beyond noise, two workers on two cores.

python -m benchmarks search-pruning [--pruner NAME] [RUN_DIR...]  # (a) search-cnn pruned (hyperband by default;
#   successive-halving, median) vs without a pruner, same sampler and seed
python -m benchmarks search-samplers  # (b) the search-vs-random study (TPE, random, grid; 5 searches each)
python -m benchmarks search-jobs      # (c) a 16-trial search with --jobs 2 vs --jobs 1 on this machine

(a) passes when the pruned search's winner tests within noise of the unpruned search's winner (Welch over the
fresh seeds, or better) using <= 50 % of its training epochs; (b) records the verdict whatever it is; (c) passes
when --jobs 2 finishes the trials in <= 0.65x the time of --jobs 1, both measured in this run.

Each search is run and timed once (minutes each): (c)'s times are timing records with n = 1 and no spread
(common.timing), and its ratio says it is of single runs. (a)'s record keeps its shape (minutes per search, n = 1).
"""
from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import RESULTS, timing, write
from deepstudy import config, evaluate, study
from deepstudy.fileio import read_json

# (a) on a fifth of Fashion-MNIST's training images so both searches fit a CI-sized machine (stated in the result)
PRUNING = {"data.train_limit": 12000}
SAMPLERS: dict = {}  # (b) the study as shipped; tests/test_benchmarks.py sets a few trials to run it small
JOBS_STUDIES = {  # (c) 16 trials, a few seconds each (a worker's start, ~3 s, is paid once)
    # a small MLP on the churn table, batch 32: ops too small for torch to use two threads well (a typical search)
    "churn-mlp": {
        "name": "search-jobs-churn", "data": {"name": "churn", "val_fraction": 0.1, "test_fraction": 0.2},
        "model": {"name": "mlp", "hidden": [32, 16]},
        "train": {"epochs": 30, "batch_size": 32, "optimizer": {"name": "adam", "lr": 1.0e-3}},
        "search": {"sampler": "random", "trials": 16, "final_seeds": 2,
                   "space": {"train.optimizer.lr": {"loguniform": [3.0e-4, 1.0e-2]},
                             "model.hidden": {"choice": [[32, 16], [64, 32]]}}}},
    # a CNN on 8x8 digits: its convolutions already use both cores in one process, so two workers gain less
    "digits-cnn": {
        "name": "search-jobs-cnn", "data": {"name": "digits", "val_fraction": 0.15},
        "model": {"name": "cnn", "channels": [32, 64]},
        "train": {"epochs": 20, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 3.0e-3},
                  "early_stopping": {"monitor": "val_acc"}},
        "search": {"sampler": "random", "trials": 16, "final_seeds": 2,
                   "space": {"train.optimizer.lr": {"loguniform": [3.0e-4, 1.0e-2]},
                             "model.channels": {"choice": [[32, 64], [48, 96]]}}}},
}


def _search(run_dir) -> dict:
    return read_json(run_dir / "results.json")["search"]


def pruning(done: list[str] = (), pruners: tuple[str, ...] = ("hyperband",)) -> dict:
    """(a) for each of ``pruners`` against the unpruned search. ``done``: run directories of these searches
    finished earlier (the unpruned one, then the pruned ones in order), read instead of run again; their minutes
    are then the trials' own training time, as the search recorded it. Pruners measured in an earlier call with
    the same settings keep their entries (results/search_pruning.json), so the file compares every pruner tried;
    ``met`` holds when one of them meets the target."""
    previous = read_json(RESULTS / "search_pruning.json") if (RESULTS / "search_pruning.json").is_file() else {}
    out = {"settings": PRUNING, "runs": {}, "verdicts": {}}
    if previous.get("settings") == PRUNING:  # the same benchmark: keep what other pruners measured
        out["runs"] = {k: v for k, v in previous.get("runs", {}).items() if k not in ("none", *pruners)}
        out["verdicts"] = {k: v for k, v in previous.get("verdicts", {}).items() if k not in pruners}
        if "hyperband" in out["runs"] and "hyperband" not in out["verdicts"] and "epoch_share" in previous:
            out["verdicts"]["hyperband"] = {k: previous[k] for k in ("epoch_share", "welch_p", "within_noise", "met")}
    for k, pruner in enumerate(("none", *pruners)):
        t0 = time.perf_counter()
        if k < len(done):
            run_dir = Path(done[k])
            if (got := _config_of(run_dir)) != {**PRUNING, "search.pruner": pruner}:
                raise SystemExit(f"{run_dir} is not the {pruner} search of this benchmark ({got})")
        else:
            cfg = config.load("search-cnn", {**PRUNING, "search.pruner": pruner})
            run_dir = study.run(cfg, out_root=RESULTS.parent / "runs")
        s = _search(run_dir)
        minutes = (time.perf_counter() - t0) / 60 if k >= len(done) else s["seconds"] / 60
        out["runs"][pruner] = {"run_dir": str(run_dir), "minutes": minutes, "measured": "wall clock" if k >= len(done)
                               else "trials' training time (run earlier)",
                               "epochs": s["epochs"], "best": s["best"], "tuned_test": s["reevaluated"]["tuned"]["test"],
                               "counts": s["counts"]}
    full = out["runs"]["none"]
    for pruner in pruners:
        pruned = out["runs"][pruner]
        share = pruned["epochs"]["total"] / full["epochs"]["total"]
        p = evaluate.welch_p(pruned["tuned_test"]["values"], full["tuned_test"]["values"])
        within = pruned["tuned_test"]["mean"] >= full["tuned_test"]["mean"] or (p is not None and p >= 0.05)
        out["verdicts"][pruner] = {"epoch_share": share, "welch_p": p, "within_noise": within,
                                   "met": within and share <= 0.5}
        print(f"pruning ({pruner}): {share:.0%} of the unpruned search's epochs; winners test "
              f"{pruned['tuned_test']['mean']:.4f} vs {full['tuned_test']['mean']:.4f} (Welch p = {p}); met: "
              f"{out['verdicts'][pruner]['met']}")
    best = min(out["verdicts"], key=lambda k: (not out["verdicts"][k]["met"], out["verdicts"][k]["epoch_share"]))
    out.update(best_pruner=best, **out["verdicts"][best])  # the headline: a pruner that meets it, else the leanest
    write("search_pruning", out)
    return out


def _config_of(run_dir: Path) -> dict:
    """The settings of a finished search-cnn run that this benchmark fixes (PRUNING's keys, the pruner)."""
    cfg = config.read_yaml(run_dir / "config.yaml")

    def get(dotted: str):
        node = cfg
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    return {k: get(k) for k in (*PRUNING, "search.pruner")}


def samplers(run_dir: str | None = None) -> dict:
    if run_dir is None:
        run_dir = study.run(config.load("search-vs-random", SAMPLERS), out_root=RESULTS.parent / "runs")
    s = _search(Path(run_dir))
    out = {"run_dir": str(run_dir), "repeats": s["repeats"], "budget": s["budget"], "found": s["found"],
           "believed": s["believed"], "verdict": s["comparison"]}
    print(f"samplers: {s['comparison']['summary']}")
    write("search_samplers", out)
    return out


def _timed(spec: dict, jobs: int) -> dict:
    marks: list[float] = []
    t0 = time.perf_counter()
    run_dir = study.run(config.validate(spec), out_root=RESULTS.parent / "runs", jobs=jobs,
                        on_event=lambda e: marks.append(time.perf_counter()) if e["kind"] == "trial_end" else None)
    trials, total = max(marks) - t0, time.perf_counter() - t0
    return {"run_dir": str(run_dir), "trials_seconds": trials, "total_seconds": total,
            "trial_seconds_sum": _search(run_dir)["seconds"],
            "timing": {"trials": timing([trials]), "total": timing([total])}}  # one run each: n = 1, no spread


def jobs() -> dict:
    """Both workloads, --jobs 1 then --jobs 2, the trials' wall time (start to the last trial) compared."""
    out = {"studies": JOBS_STUDIES, "target": 0.65, "runs": {}}
    for name, spec in JOBS_STUDIES.items():
        one, two = _timed(spec, 1), _timed(spec, 2)
        ratio = two["trials_seconds"] / one["trials_seconds"]
        out["runs"][name] = {"1": one, "2": two, "ratio": ratio, "ratio_of": "one run each (n = 1)",
                             "met": ratio <= 0.65}
        print(f"jobs, {name}: --jobs 2 took {ratio:.2f}x the time of --jobs 1 for 16 trials (target <= 0.65)")
    out["met"] = {name: r["met"] for name, r in out["runs"].items()}
    write("search_jobs", out)
    return out
