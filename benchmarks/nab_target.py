"""Issue 7's NAB target: on nyc_taxi the autoencoder beats the rolling z-score and the random detector on the
standard-profile NAB score (all three profiles recorded). Runs the nab-autoencoder study (about 30 s on 2
cores) or summarizes a finished run directory of it.

python -m benchmarks nab [RUN_DIR]
"""
from __future__ import annotations

from pathlib import Path

from benchmarks.common import RESULTS, write
from deepstudy import config, study
from deepstudy.fileio import read_json

TAXI = "realKnownCause/nyc_taxi.csv"
OVERRIDES: dict = {}  # the study as shipped; tests/test_benchmarks.py sets a few epochs and seeds to run it small


def summarize(run_dir: Path) -> dict:
    res = read_json(run_dir / "results.json")
    repo = RESULTS.parent.parent
    where = run_dir.resolve().relative_to(repo) if run_dir.resolve().is_relative_to(repo) else run_dir
    out = {"run_dir": str(where), "seeds": res["seeds"], "arms": {}}
    for arm, a in res["arms"].items():
        s = a["anomaly"]
        taxi = s["per_file"][TAXI]
        out["arms"][arm] = {
            "corpus": {m: a["summary"][m] for m in ("nab_standard", "nab_reward_low_FP_rate", "nab_reward_low_FN_rate")},
            "corpus_baselines": {d: {m: b[m] for m in ("nab_standard", "nab_reward_low_FP_rate", "nab_reward_low_FN_rate")}
                                 for d, b in s["baselines"].items()},
            "nyc_taxi_standard": {d: taxi[d] for d in ("model", "zscore", "random")},
            "nyc_taxi_seeds_above": taxi["beats"],
            "target_met_on_mean": all(taxi["model"]["mean"] > taxi[d]["mean"] for d in ("zscore", "random")),
            "target_met_every_seed": all(k == s["n"] for k in taxi["beats"].values()),
        }
    return out


def main(run_dir: str | None = None) -> dict:
    if run_dir is None:
        run_dir = study.run(config.load("nab-autoencoder", OVERRIDES), out_root=RESULTS.parent / "runs")
    result = summarize(Path(run_dir))
    for arm, r in result["arms"].items():
        t = r["nyc_taxi_standard"]
        print(f"{arm:9s} nyc_taxi NAB standard {t['model']['mean']:.1f} ± {t['model']['std']:.1f} vs z-score "
              f"{t['zscore']['mean']:.1f}, random {t['random']['mean']:.1f} (seeds above: {r['nyc_taxi_seeds_above']})")
    write("nab_taxi", {"target": "on nyc_taxi the autoencoder beats both baselines on the standard-profile NAB score",
                       **result})
    return result


if __name__ == "__main__":
    main()
