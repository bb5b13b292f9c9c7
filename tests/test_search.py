"""Hyperparameter search (deepstudy.search): it finds what is known to be best, covers a grid exactly, resumes a
killed search to the same trial table, records pruned trials, never runs one trial twice, and refuses bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def search_study(tmp_path: Path, search: dict, name: str = "tiny-search", **train) -> Path:
    """A search over a 2-layer MLP on digits: each trial trains in well under a second."""
    study = {
        "name": name, "data": {"name": "digits", "train_limit": 400, "val_fraction": 0.2},
        "model": {"name": "mlp", "hidden": [32]},
        "train": {"epochs": 3, "batch_size": 64, "optimizer": {"name": "adamw", "lr": 0.01},
                  "early_stopping": {"monitor": "val_acc"}, "precision": "fp32", **train},
        "search": {"final_seeds": 2, **search},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def only_run(out: Path) -> Path:
    (run,) = list(out.glob("*/*"))
    return run


def table(run_dir: Path) -> list[tuple]:
    return [(t["number"], t["state"], t["value"], json.dumps(t["params"], sort_keys=True), t["epochs"])
            for t in results(run_dir)["search"]["trials"]]


def test_search_finds_the_known_best_value_and_reevaluates_it_on_fresh_seeds(tmp_path, cli):
    # a learning rate of 1e-6 cannot learn digits in 3 epochs; 1e-2 does: the search must pick 1e-2
    path = search_study(tmp_path, {"sampler": "grid", "space": {"train.optimizer.lr": {"choice": [1.0e-6, 1.0e-2]}}})
    r = cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = only_run(tmp_path / "runs")
    s = results(run)["search"]
    assert s["best"]["params"] == {"train.optimizer.lr": 1.0e-2}
    assert s["counts"] == {"complete": 2, "pruned": 0, "fail": 0}
    # the tuned arm is the best trial's config, re-trained on fresh seeds; the default is the study's own
    arms = results(run)["arms"]
    assert arms["tuned"]["overrides"] == {"train.optimizer.lr": 1.0e-2} and arms["default"]["overrides"] == {}
    assert s["reevaluated"]["tuned"]["val"]["n"] == 2 and s["reevaluated"]["tuned"]["test"]["n"] == 2
    env = json.loads((run / "env.json").read_text())
    fresh = set(env["determinism"]["seeds"]["per_arm_seed"]["tuned"].values())
    assert s["trial_seed"] not in fresh  # the re-evaluation never reuses the trials' seed
    best = s["best"]["value"]
    assert s["optimism"] == pytest.approx(best - s["reevaluated"]["tuned"]["val"]["mean"])
    r = cli("explain", str(run), "--method", "saliency")  # explanations belong in the study's analyses
    assert r.code == 2 and "is a search" in r.err


def test_grid_visits_every_combination_once(tmp_path, cli):
    space = {"train.optimizer.lr": {"choice": [1.0e-3, 1.0e-2, 3.0e-2]}, "model.hidden": {"choice": [[16], [32]]},
             "train.batch_size": {"int": [32, 64], "step": 32}}
    path = search_study(tmp_path, {"sampler": "grid", "space": space}, epochs=1)
    r = cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    seen = [json.dumps(t["params"], sort_keys=True) for t in results(only_run(tmp_path / "runs"))["search"]["trials"]]
    assert len(seen) == 12 and len(set(seen)) == 12


def test_a_pruned_trial_is_recorded_as_pruned_with_its_last_epoch(tmp_path, cli):
    # after 2 random startup trials, a trial whose learning rate cannot learn falls below the median at epoch 2
    space = {"train.optimizer.lr": {"choice": [1.0e-2, 3.0e-2, 1.0e-7]}}
    path = search_study(tmp_path, {"sampler": "grid", "pruner": "median", "startup_trials": 2, "space": space},
                        epochs=4)
    cli_result = cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert cli_result.code == 0, cli_result.err
    run = only_run(tmp_path / "runs")
    trials = results(run)["search"]["trials"]
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert [t["params"]["train.optimizer.lr"] for t in pruned] == [1.0e-7]
    t = pruned[0]
    assert 1 <= t["epochs"] < 4 and t["value"] == t["curve"][-1]
    rows = (run / "search" / "trials" / f"{t['number']:04d}" / "arms" / "trial" / "seed-0" / "metrics.jsonl")
    assert len(rows.read_text().splitlines()) == t["epochs"]  # its folder holds exactly the epochs it ran
    assert results(run)["search"]["epochs"]["pruned"] == t["epochs"]


def _run(args: list[str], env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "deepstudy", *args], capture_output=True, text=True, env=env)


def test_a_search_killed_in_a_trial_resumes_to_the_same_trial_table(tmp_path):
    space = {"train.optimizer.lr": {"loguniform": [1.0e-4, 5.0e-2]}, "model.hidden": {"choice": [[16], [48]]}}
    path = search_study(tmp_path, {"sampler": "tpe", "trials": 5, "startup_trials": 2, "pruner": "median",
                                   "space": space})
    clean = _run(["run", str(path), "--out", str(tmp_path / "clean")])
    assert clean.returncode == 0, clean.stderr
    killed = _run(["run", str(path), "--out", str(tmp_path / "killed")],
                  {"DEEPSTUDY_FAULT_AFTER_EPOCH": "1", "DEEPSTUDY_FAULT_SCOPE": "trial-3"})
    assert killed.returncode == 137, killed.stderr
    run = only_run(tmp_path / "killed")
    assert not (run / "search" / "trials" / "0003" / "trial.json").exists()  # killed inside trial 3
    assert (run / "search" / "trials" / "0003" / "arms" / "trial" / "seed-0" / "checkpoint").is_dir()
    resumed = _run(["run", "--resume", str(run)])
    assert resumed.returncode == 0, resumed.stderr
    assert "trial 3 seed-0: resumed from its checkpoint at epoch 3" in resumed.stdout  # continued, not restarted
    assert table(run) == table(only_run(tmp_path / "clean"))
    tuned = [results(r)["arms"]["tuned"]["summary"]["accuracy"] for r in (run, only_run(tmp_path / "clean"))]
    assert tuned[0] == tuned[1]


def test_two_workers_never_run_the_same_trial(tmp_path):
    space = {"train.optimizer.lr": {"loguniform": [1.0e-3, 5.0e-2]}}
    path = search_study(tmp_path, {"sampler": "random", "trials": 6, "space": space}, epochs=2)
    r = _run(["run", str(path), "--jobs", "2", "--out", str(tmp_path / "runs")])
    assert r.returncode == 0, r.stderr
    run = only_run(tmp_path / "runs")
    trials = results(run)["search"]["trials"]
    assert sorted(t["number"] for t in trials) == list(range(6))  # the budget exactly, each number once
    assert all(t["state"] == "complete" for t in trials)
    folders = sorted(p.name for p in (run / "search" / "trials").iterdir())
    assert folders == [f"{k:04d}" for k in range(6)]
    for t in trials:  # each folder trained the values Optuna gave its trial
        record = json.loads((run / "search" / "trials" / f"{t['number']:04d}" / "trial.json").read_text())
        assert record["params"] == t["params"]


BAD = {
    "unknown key": ({"trials": 2, "space": {"train.optimizer.lrr": {"uniform": [0.1, 0.2]}}}, "lrr"),
    "reversed bounds": ({"trials": 2, "space": {"train.optimizer.lr": {"uniform": [0.1, 0.01]}}}, "low < high"),
    "log of zero": ({"trials": 2, "space": {"train.optimizer.lr": {"loguniform": [0.0, 0.1]}}}, "low > 0"),
    "empty choice": ({"trials": 2, "space": {"model.hidden": {"choice": []}}}, "non-empty list"),
    "grid over a range": ({"sampler": "grid", "space": {"train.optimizer.lr": {"uniform": [0.01, 0.1]}}},
                          "continuous range"),
    "zero trials": ({"trials": 0, "space": {"train.optimizer.lr": {"uniform": [0.01, 0.1]}}}, "trials"),
    "metric not produced": ({"trials": 2, "metric": "val_f1", "space": {"train.optimizer.lr": {"uniform": [0.01, 0.1]}}},
                            "val_f1"),
    "test metric": ({"trials": 2, "metric": "accuracy", "space": {"train.optimizer.lr": {"uniform": [0.01, 0.1]}}},
                    "never test"),
    "bad value of a key": ({"trials": 2, "space": {"train.epochs": {"int": [-2, 3]}}}, "train.epochs"),
    "condition on nothing": ({"trials": 2, "space": {"train.optimizer.momentum": {
        "uniform": [0.0, 0.9], "when": {"train.optimizer.name": "sgd"}}}}, "not a searched choice"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_search_input_is_one_line_exit_2_and_writes_nothing(tmp_path, cli, case):
    search, needle = BAD[case]
    path = search_study(tmp_path, search)
    r = cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert r.code == 2, r.err
    assert r.err.startswith("error: ") and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert needle in r.err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("config.yaml"))


@pytest.mark.parametrize("flags, says", [
    (["--executor", "ray", "--jobs", "2"], "drop --jobs"),
    (["--address", "auto"], "add --executor ray"),
    (["--executor", "ray", "--address", "ray://127.0.0.1:1"], "cannot reach 127.0.0.1:1"),
])
def test_bad_ray_input_on_a_search_is_one_line(tmp_path, cli, flags, says):
    """A search runs on Ray (tests/test_executors.py); what Ray refuses for a study's seeds it refuses here, before a
    run directory exists (a Ray is started nowhere)."""
    path = search_study(tmp_path, {"trials": 2, "space": {"train.optimizer.lr": {"choice": [1.0e-3, 1.0e-2]}}})
    r = cli("run", str(path), "--out", str(tmp_path / "runs"), *flags)
    assert r.code == 2 and says in r.err and "Traceback" not in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_trial_held_by_a_live_worker_is_never_claimed_by_another(tmp_path):
    """Ray's trial workers (search._trial_worker) claim trials: a trial left RUNNING is taken over only once its
    holder is gone, so a retried worker continues its dead predecessor's trial and never a live worker's."""
    from deepstudy import config
    from deepstudy.rundir import RunDir
    from deepstudy.search import trials

    path = search_study(tmp_path, {"sampler": "random", "trials": 3,
                                   "space": {"train.optimizer.lr": {"loguniform": [1.0e-3, 5.0e-2]}}})
    cfg = config.load(str(path))
    run = RunDir.create(tmp_path / "runs", cfg.name)
    live, dying = trials.Runner(cfg, run, lambda e: None), trials.Runner(cfg, run, lambda e: None)
    first = dying.claim()
    values = trials.suggest(first, dying.dims)
    assert first.number == 0 and values
    assert live.claim().number == 1  # trial 0 is RUNNING but held: a new trial instead
    held = json.loads((run.search / "held" / "0000.lock").read_text())
    assert held["pid"] == os.getpid()
    dying.release(0)  # its worker died: the kernel drops its lock, the trial stays RUNNING in the journal
    retried = trials.Runner(cfg, run, lambda e: None)
    again = retried.claim()
    assert again.number == 0 and trials.suggest(again, retried.dims) == values  # continued, with its values
    assert retried.claim().number == 2  # trial 1 is still held by the live worker
    assert retried.claim() is None and live.claim() is None  # the budget is asked, nothing left over
    assert [t.state.name for t in live.optuna.get_trials()] == ["RUNNING"] * 3


def test_a_search_with_executor_local_and_jobs_is_refused(tmp_path, cli):
    """--executor local means this process, one trial after another: with --jobs 2 it is a contradiction, as for a
    plain study (not two trial processes started quietly)."""
    path = search_study(tmp_path, {"trials": 2, "space": {"train.optimizer.lr": {"choice": [1.0e-3, 1.0e-2]}}})
    r = cli("run", str(path), "--executor", "local", "--jobs", "2", "--out", str(tmp_path / "runs"))
    assert r.code == 2 and "drop --executor local" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert not (tmp_path / "runs").exists()


def test_samplers_compared_over_repeated_searches_each_winner_retested(tmp_path, cli):
    space = {"train.optimizer.lr": {"choice": [1.0e-4, 3.0e-3, 1.0e-2]}, "model.hidden": {"choice": [[16], [32]]}}
    path = search_study(tmp_path, {"samplers": ["random", "grid"], "repeats": 2, "trials": 3, "space": space},
                        epochs=2)
    r = cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = only_run(tmp_path / "runs")
    res = results(run)
    s = res["search"]
    assert s["mode"] == "compare" and [x["search"] for x in s["searches"]] == ["random-0", "random-1", "grid-0",
                                                                               "grid-1"]
    assert set(res["arms"]) == {"random-0", "random-1", "grid-0", "grid-1"}  # each winner re-trained, no default
    for x in s["searches"]:  # each search is its own run directory with its own journal and 3 trials
        folder = run / "search" / "searches" / x["search"]
        assert (folder / "search" / "journal.log").is_file()
        assert len(list((folder / "search" / "trials").iterdir())) == 3
        assert res["arms"][x["search"]]["overrides"] == x["params"]
        assert x["test"]["n"] == 2
    assert s["found"]["grid"]["n"] == 2 and s["comparison"]["comparisons"]  # one verdict: grid vs random
    html = (run / "report.html").read_text()
    assert "which sampler finds better configurations?" in html and "grid-1" in html


def test_conditional_keys_are_searched_only_where_their_condition_holds(tmp_path, cli):
    space = {"train.optimizer.name": {"choice": ["sgd", "adam"]},
             "train.optimizer.momentum": {"uniform": [0.5, 0.95], "when": {"train.optimizer.name": "sgd"}}}
    path = search_study(tmp_path, {"sampler": "random", "trials": 6, "space": space}, epochs=1)
    r = cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    trials = results(only_run(tmp_path / "runs"))["search"]["trials"]
    names = {t["params"]["train.optimizer.name"] for t in trials}
    assert names == {"sgd", "adam"}  # both branches were drawn (random, seed 0)
    for t in trials:
        assert ("train.optimizer.momentum" in t["params"]) == (t["params"]["train.optimizer.name"] == "sgd")
        config = yaml.safe_load((only_run(tmp_path / "runs") / "search" / "trials" / f"{t['number']:04d}" /
                                 "config.yaml").read_text())
        assert config["train"]["optimizer"]["name"] == t["params"]["train.optimizer.name"]  # the trial trained it


@pytest.mark.parametrize("sampler", ["gp", "cmaes"])
def test_model_based_samplers_run_a_small_search(tmp_path, cli, sampler):
    space = {"train.optimizer.lr": {"loguniform": [1.0e-3, 3.0e-2]}, "train.batch_size": {"int": [32, 96], "step": 32}}
    path = search_study(tmp_path, {"sampler": sampler, "trials": 4, "startup_trials": 2, "space": space}, epochs=1)
    r = cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    s = results(only_run(tmp_path / "runs"))["search"]
    assert s["sampler"] == sampler and s["counts"]["complete"] == 4


def test_a_database_url_stores_the_search_and_a_bad_one_is_one_line(tmp_path, cli):
    space = {"train.optimizer.lr": {"choice": [1.0e-3, 1.0e-2]}}
    url = f"sqlite:///{tmp_path / 'searches.db'}"
    path = search_study(tmp_path, {"sampler": "grid", "storage": url, "space": space}, epochs=1)
    r = cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = only_run(tmp_path / "runs")
    assert not (run / "search" / "journal.log").exists() and (tmp_path / "searches.db").stat().st_size > 0
    assert results(run)["search"]["counts"]["complete"] == 2
    bad = search_study(tmp_path, {"sampler": "grid", "storage": "nosuchdb://user:secret@host/x", "space": space},
                       name="bad-url")
    r = cli("run", str(bad), "--out", str(tmp_path / "runs2"))
    assert r.code == 2 and "search.storage" in r.err and "secret" not in r.err and len(r.err.splitlines()) == 1
    assert not (tmp_path / "runs2").exists()
