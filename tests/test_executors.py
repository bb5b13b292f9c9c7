"""Executors (issue 21): local, --jobs N worker processes and Ray give the same per-seed numbers; a Ray worker
killed mid-seed is retried from the seed's checkpoint; a killed driver's run is finished by --resume; bad input
is one line, exit 2, nothing written.

The Ray tests share ONE local Ray instance (module scope: num_cpus=2, no dashboard), started after the bad-input
tests that need Ray not to be running, and shut down at the end of the module.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO, make_idx_folder, tiny_study
from deepstudy import config, executors, study
from deepstudy.errors import UserError
from deepstudy.fileio import read_json

TIMINGS = {"train_seconds", "eval_seconds", "seconds_per_epoch"}


def seed_numbers(run_dir: Path) -> dict:
    """Every per-seed record of results.json without its timings: what must be identical across executors."""
    arms = read_json(run_dir / "results.json")["arms"]
    return {arm: [{k: v for k, v in s.items() if k not in TIMINGS} for s in a["seeds"]] for arm, a in arms.items()}


def small_study(tmp_path: Path, **overrides) -> Path:
    """tiny_study without figures (the report is what costs most in a run this small), one torch thread."""
    return tiny_study(tmp_path, analyses=[], **{"train.threads": 1, **overrides})


def run_dir_of(out: Path) -> Path:
    return next(out.glob("*/*"))


def attempts(seed: Path) -> list[dict]:
    path = seed / executors.ATTEMPTS
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written

@pytest.mark.parametrize("flags, says", [
    (["--jobs", "0"], "--jobs must be a whole number"),
    (["--executor", "local", "--jobs", "2"], "drop --executor local"),
    (["--address", "auto"], "add --executor ray"),
    (["--executor", "processes", "--set", "train.resources.cpus=512"], "lower train.resources"),
    (["--executor", "ray", "--address", "ray://127.0.0.1:1"], "cannot reach 127.0.0.1:1"),
    (["--executor", "ray", "--address", "no-port"], "is not auto, HOST:PORT"),
    (["--jobs", "2", "--set", "distill.teacher={name: mlp}"], "--executor local"),
])
def test_bad_executor_input_is_one_line(cli, tmp_path, flags, says):
    t0 = time.perf_counter()
    r = cli("run", str(small_study(tmp_path)), "--out", str(tmp_path / "runs"), *flags)
    assert r.code == 2 and says in r.err and "Traceback" not in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    assert time.perf_counter() - t0 < 30


def test_ray_not_installed_says_the_pip_command(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    r = cli("run", str(small_study(tmp_path)), "--out", str(tmp_path / "runs"), "--executor", "ray")
    assert r.code == 2 and "pip install 'deepstudy[ray]'" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("address, niceness", [(None, 0), ("auto", None)])
def test_a_ray_started_here_runs_its_workers_at_nice_0(tmp_path, monkeypatch, address, niceness):
    """Ray's default worker niceness (15) let any other busy process starve the training tasks; a Ray that deepstudy
    starts sets 0, as the local executor and --jobs run; a cluster joined by --address keeps its own setting."""
    import types

    from deepstudy.executors.ray_cluster import RayExecutor

    started = {}
    fake = types.SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: started.update(kw),
                                 nodes=lambda: [{"Alive": True, "Resources": {"CPU": 2.0}}], shutdown=lambda: None)
    monkeypatch.setitem(sys.modules, "ray", fake)
    RayExecutor.connect(address, study.check(config.load(str(small_study(tmp_path))))).close()
    assert started["address"] == address
    assert started.get("_system_config", {}).get("worker_niceness") == niceness


def test_resources_validated_in_the_study_file(tmp_path):
    with pytest.raises(UserError, match="cpus"):
        config.load(str(small_study(tmp_path, **{"train.resources": {"cpus": 0}})))
    cfg = config.load(str(small_study(tmp_path, **{"train.resources": {"cpus": 2, "gpus": 0.5}})))
    assert (cfg.train.resources.cpus, cfg.train.resources.gpus) == (2, 0.5)


@pytest.mark.parametrize("kind, jobs", [("processes", 2), ("ray", None)])
def test_gan_judge_shared_by_the_seeds_is_refused_in_parallel(kind, jobs):
    """task generate trains one judge per run into run_dir/judge/: parallel tasks would train it at once (refused
    before Ray is started or asked: no cluster needed here)."""
    arms = study.check(config.load("gan-mnist"))
    with pytest.raises(UserError, match="judge network") as caught:
        executors.start(kind, jobs, None, arms)
    assert "--executor local" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("guarded", [False, True])
def test_a_script_without_a_main_guard_is_told_before_workers_start(tmp_path, guarded):
    """Spawned workers import the driver's script again: unguarded, each would start the study over and the pool
    would break ("a worker process died"); the script is told what to change instead, before a worker or a run
    directory exists (a study's --jobs and a search's alike). Guarded, the check passes."""
    calls = ("executors.check_spawnable('--jobs')" if guarded else "executors.start(None, 2, None, {})",
             "_check_jobs(2)")
    body = "from deepstudy import executors\nfrom deepstudy.search import _check_jobs\ndef main():\n" + "".join(
        f"    try:\n        {call}\n    except Exception as e:\n        print(type(e).__name__, e)\n"
        f"    else:\n        print('ok')\n" for call in calls)
    script = tmp_path / "experiment.py"
    script.write_text(body + ("if __name__ == '__main__':\n    main()\n" if guarded else "main()\n"))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    if guarded:
        assert lines == ["ok", "ok"]
    else:
        assert len(lines) == 2 and all(line.startswith("UserError --jobs starts worker processes") for line in lines)
        assert all(str(script) in line and "if __name__ ==" in line for line in lines)
    assert [p.name for p in tmp_path.iterdir()] == ["experiment.py"]


def test_jobs_get_absolute_run_and_data_paths(tmp_path, monkeypatch):
    """A worker in another folder (a Ray node, `ray job submit --working-dir`) finds the run directory and the data
    the driver meant with a relative --out runs and data.path."""
    from deepstudy.rundir import RunDir

    monkeypatch.chdir(tmp_path)
    make_idx_folder(tmp_path / "idx")
    cfg = config.load(str(small_study(tmp_path, seeds=1, **{"data.name": "tiny-idx", "data.format": "idx",
                                                             "data.path": "idx"})))
    arms = study.check(cfg)
    from deepstudy.executors.pool import ProcessExecutor
    from deepstudy.executors.ray_cluster import RayExecutor

    run = RunDir.create(Path("runs"), cfg.name)
    for executor in (ProcessExecutor(2), RayExecutor(None, started=False)):
        todo, _ = executors.jobs_for(cfg, arms, run, executor)
        assert len(todo) == 2
        for job in todo:
            assert Path(job.run_path).is_absolute() and Path(job.run_path) == Path.cwd() / run.path
            assert job.cfg.data.path == str(Path.cwd() / "idx")
    assert arms["small"].data.path == "idx"  # the arms themselves (the run's config) are unchanged
    local, _ = executors.jobs_for(cfg, arms, run, executors.Executor())  # in this process: as written (cache keys)
    assert {(j.run_path, j.cfg.data.path) for j in local} == {(str(run.path), "idx")}


def test_ray_out_of_memory_is_one_line_with_the_resume_command(tmp_path):
    """Ray's own failures other than a dead worker (here its memory monitor's OutOfMemoryError, a RayError but not a
    WorkerCrashedError) stop the run with the resume command, not Ray's traceback; a task's own error is not that."""
    ray = pytest.importorskip("ray")
    from deepstudy.executors.ray_cluster import RayExecutor

    class Failing:  # the ray module as far as _outcome uses it
        def __init__(self, error):
            self.error = error

        def get(self, ref):
            raise self.error
    job = executors.SeedJob("small", 1, 2, config.load(str(small_study(tmp_path))), 7, "/shared/runs/tiny/t", "cpu", 1)
    oom = ray.exceptions.OutOfMemoryError("Task was killed due to the node running low on memory.\nMemory on the "
                                          "node was 30 GB / 31 GB")
    with pytest.raises(RuntimeError) as caught:
        RayExecutor(Failing(oom), started=False)._outcome(None, job)
    message = str(caught.value)
    assert "\n" not in message and "OutOfMemoryError: Task was killed" in message and "seed 1" in message
    assert "deepstudy run --resume /shared/runs/tiny/t --executor ray" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# ---------------------------------------------------------------- the same numbers whichever executor ran

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny study (2 arms x 2 seeds, one torch thread) run in this process: the numbers to match."""
    folder = tmp_path_factory.mktemp("reference")
    path = small_study(folder)
    return path, seed_numbers(run_here(path, folder / "runs"))


def run_here(path: Path, out: Path) -> Path:
    """The study at ``path`` run locally in this process (its train.threads), torch's thread count restored after."""
    threads = torch.get_num_threads()
    try:
        return study.run(config.load(str(path)), out_root=out, executor="local")
    finally:
        torch.set_num_threads(threads)


def test_processes_equal_local(reference, tmp_path):
    path, expected = reference
    run = study.run(config.load(str(path)), out_root=tmp_path / "runs", jobs=2)
    assert seed_numbers(run) == expected
    seeds = sorted(run.glob("arms/*/seed-*"))
    assert len(seeds) == 4 and all(len(attempts(s)) == 1 for s in seeds)  # each seed trained once, in a worker
    assert {a["pid"] for s in seeds for a in attempts(s)}.isdisjoint({os.getpid()})


# ---------------------------------------------------------------- an error in one worker stops the others at once

REFUSES = '''
from torch import nn

from deepstudy.errors import UserError


class Refuses(nn.Module):
    """A model that refuses to train: a bad input found inside a task, at its first batch."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x):
        if self.training:
            raise UserError("this model refuses to train (a test's bad input)")
        return self.fc(x.flatten(1))
'''


@pytest.fixture
def refusing_model(tmp_path):
    """ds_custom_refuses.py beside the study file; forgotten afterwards (module, registry entry, sys.path)."""
    from deepstudy.models import custom, registry

    (tmp_path / "ds_custom_refuses.py").write_text(REFUSES)
    yield "ds_custom_refuses:Refuses"
    sys.modules.pop("ds_custom_refuses", None)
    registry._MODELS.pop("ds_custom_refuses:Refuses", None)
    sys.path[:] = [p for p in sys.path if p not in {str(f) for f in custom._FOLDERS}]
    custom._FOLDERS.clear()


def test_user_error_in_one_worker_stops_the_others_at_once(cli, tmp_path, refusing_model):
    """Arm 'refuses' fails at its first batch while 'long' has thousands of epochs to go: the run ends with the one
    line within seconds of the failure, the long seed's worker is gone and its folder has no result."""
    path = small_study(tmp_path, seeds=1, arms={"long": {}, "refuses": {"model": {"class_path": refusing_model}}},
                       **{"train.epochs": 5000})
    r = cli("run", str(path), "--out", str(tmp_path / "runs"), "--jobs", "2")
    ended = time.time()
    assert r.code == 2 and "refuses to train" in r.err and "Traceback" not in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    run = run_dir_of(tmp_path / "runs")
    refused, long = run / "arms/refuses/seed-0", run / "arms/long/seed-0"
    assert ended - (refused / executors.ATTEMPTS).stat().st_mtime < 15  # not the minutes 'long' would train
    assert attempts(long) and not (long / "result.json").exists()  # it had started, and was stopped
    epochs = len((long / "metrics.jsonl").read_text().splitlines()) if (long / "metrics.jsonl").is_file() else 0
    assert epochs < 5000
    with pytest.raises(ProcessLookupError):  # the long seed's worker process has ended
        os.kill(attempts(long)[0]["pid"], 0)


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance for the module's Ray tests (2 CPUs, no dashboard), shut down after them."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()


def test_ray_equals_local(ray_cluster, reference, tmp_path):
    path, expected = reference
    events = []
    run = study.run(config.load(str(path)), out_root=tmp_path / "runs", executor="ray", on_event=events.append)
    assert seed_numbers(run) == expected
    assert sorted((e["arm"], e["seed"]) for e in events if e["kind"] == "run_end") == \
        [("small", 0), ("small", 1), ("wide", 0), ("wide", 1)]
    assert sum(e["kind"] == "epoch" for e in events) == 4 * 3  # the workers' epochs streamed back to the driver
    assert ray_cluster.is_initialized()  # a cluster the run did not start is left running


def _wait_for(condition, seconds: float = 60.0, every: float = 0.01):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        time.sleep(every)
    raise AssertionError("timed out")


def checkpointed(seed: Path) -> int:
    """The epoch of a seed folder's committed checkpoint, -1 before the first. Not its metrics rows: a row is
    written before its epoch's checkpoint, which is written on a thread meanwhile (deepstudy.train.driver)."""
    pointer = seed / "checkpoint" / "last.json"
    return read_json(pointer)["epoch"] if pointer.is_file() else -1


def test_killed_ray_worker_is_retried_from_its_checkpoint(ray_cluster, tmp_path):
    path = small_study(tmp_path, seeds=1, arms={"only": {}}, **{"train.epochs": 12, "data.train_limit": 800})
    cfg = config.load(str(path))
    clean = study.run(cfg, out_root=tmp_path / "clean", executor="ray")

    done: dict = {}
    driver = threading.Thread(target=lambda: done.setdefault("run", study.run(cfg, out_root=tmp_path / "killed",
                                                                               executor="ray")))
    driver.start()
    seed = _wait_for(lambda: next((tmp_path / "killed").glob("*/*/arms/only/seed-0"), None))
    _wait_for(lambda: checkpointed(seed) >= 2)  # after epoch 2's checkpoint, long before epoch 12
    pid = attempts(seed)[0]["pid"]
    assert not (seed / "result.json").exists(), "the seed ended before it could be killed"
    os.kill(pid, signal.SIGKILL)
    driver.join(timeout=120)
    assert "run" in done
    rows = attempts(seed)
    starts = [r for r in rows if r["event"] == "start"]
    resumed = [r for r in rows if r["event"] == "resumed"]
    assert len(starts) == 2 and starts[0]["pid"] == pid != starts[1]["pid"]  # retried in another worker
    assert len(resumed) == 1 and resumed[0]["epoch"] >= 2  # from the checkpoint, not from scratch
    assert seed_numbers(done["run"]) == seed_numbers(clean)
    epochs = [json.loads(r)["epoch"] for r in (seed / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(12))  # every epoch once: the retry cut nothing twice and skipped nothing


def test_killed_driver_resumed_with_ray_finishes_only_what_is_missing(ray_cluster, tmp_path):
    path = small_study(tmp_path, seeds=2, arms={"only": {}}, **{"train.epochs": 6, "train.resources.cpus": 2})
    cfg = config.load(str(path))
    reference = study.run(cfg, out_root=tmp_path / "reference", executor="local")
    address = ray_cluster.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    driver = subprocess.Popen([sys.executable, "-m", "deepstudy", "run", str(path), "--out", str(tmp_path / "runs"),
                               "--executor", "ray", "--address", address], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # generous: a busy 2-core machine starts the driver and Ray slowly
    first = _wait_for(lambda: next((tmp_path / "runs").glob("*/*/arms/only/seed-*/result.json"), None), 240)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    run = first.parents[3]
    kept = {p: p.read_bytes() for p in run.glob("arms/only/seed-*/result.json")}
    assert len(kept) == 1 and not (run / "results.json").exists()
    got = study.resume(run, executor="ray")
    for p, content in kept.items():  # finished seeds are kept as they were, not trained again
        assert p.read_bytes() == content and len([r for r in attempts(p.parent) if r["event"] == "start"]) == 1
    assert seed_numbers(got) == seed_numbers(reference)


def test_user_error_in_a_ray_task_is_not_retried(ray_cluster, tmp_path):
    folder = make_idx_folder(tmp_path / "idx")
    path = small_study(tmp_path, seeds=1, **{"data.name": "tiny-idx", "data.format": "idx", "data.path": str(folder)})

    def damage(e: dict) -> None:  # the driver has read the data; the workers read it after this
        if e["kind"] == "study_start":
            f = folder / "train-images-idx3-ubyte.gz"
            f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(UserError, match="truncated or corrupt") as caught:
        study.run(config.load(str(path)), out_root=tmp_path / "runs", executor="ray", on_event=damage)
    assert "\n" not in str(caught.value)
    seeds = list(tmp_path.glob("runs/*/*/arms/*/seed-0"))
    assert seeds and all(len(attempts(s)) == 1 for s in seeds)  # tried once: a bad input is not retried


def search_file(tmp_path: Path, trials: int = 4, rows: int = 300, **train) -> Path:
    """A random search of the learning rate of a small MLP on digits, one torch thread: a trial's values and score
    depend on its number alone (the sampler is seeded by it), not on which worker ran it or when."""
    spec = {"name": "ray-search", "data": {"name": "digits", "train_limit": rows, "val_fraction": 0.2},
            "model": {"name": "mlp", "hidden": [16]}, "analyses": [],
            "train": {"epochs": 2, "batch_size": 64, "threads": 1, "precision": "fp32",
                      "optimizer": {"name": "adamw", "lr": 0.01}, "early_stopping": {"monitor": "val_acc"}, **train},
            "search": {"sampler": "random", "trials": trials, "final_seeds": 2,
                       "space": {"train.optimizer.lr": {"loguniform": [1.0e-3, 5.0e-2]}}}}
    path = tmp_path / "ray-search.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def trial_table(run_dir: Path) -> list[tuple]:
    return [(t["number"], t["state"], t["value"], t["params"], t["epochs"])
            for t in read_json(run_dir / "results.json")["search"]["trials"]]


def holders(run_dir: Path) -> dict[int, int]:
    """Trial number -> the pid of the worker that last held it (search/held/<k>.lock)."""
    return {int(p.stem): read_json(p)["pid"] for p in (run_dir / "search" / "held").glob("*.lock")}


@pytest.fixture(scope="module")
def search_reference(tmp_path_factory):
    """The small search run in this process, one thread: the trial table and seed records to match."""
    folder = tmp_path_factory.mktemp("search-reference")
    path = search_file(folder)
    run = run_here(path, folder / "runs")
    return path, trial_table(run), seed_numbers(run)


def test_search_on_ray_equals_the_same_search_local(ray_cluster, search_reference, tmp_path):
    """The trials as Ray tasks (2 trial workers of 1 CPU) and the re-evaluation on Ray give the trial table and seed
    records of the search run in this process, one thread: each trial's values and score are a function of its
    number (random sampler), as with --jobs 2 (tests/test_search.py checks that no trial runs twice there)."""
    path, table, seeds_expected = search_reference
    events = []
    run = study.run(config.load(str(path)), out_root=tmp_path / "runs", executor="ray", on_event=events.append)
    assert trial_table(run) == table and len(table) == 4
    assert seed_numbers(run) == seeds_expected  # the re-evaluation: tuned and default, 2 fresh seeds each
    held = holders(run)
    assert sorted(held) == [0, 1, 2, 3] and os.getpid() not in held.values()  # trained in Ray workers
    seeds = sorted(run.glob("arms/*/seed-*"))
    assert len(seeds) == 4 and all(len(attempts(s)) == 1 and attempts(s)[0]["pid"] != os.getpid() for s in seeds)
    assert sorted(e["number"] for e in events if e["kind"] == "trial_end") == [0, 1, 2, 3]  # streamed back
    assert ray_cluster.is_initialized()


class _Stop(Exception):
    pass


def test_search_resumed_on_ray_continues_its_killed_trial(ray_cluster, search_reference, tmp_path):
    """A search stopped inside trial 1 (after its first epoch's checkpoint), trial 0 finished: ``--resume
    --executor ray`` keeps trial 0, continues trial 1 from its checkpoint, runs 2 and 3, and ends equal to an
    uninterrupted search."""
    from deepstudy import config as _config
    from deepstudy.rundir import RunDir
    from deepstudy.search import trials

    path, table, seeds_expected = search_reference
    cfg = config.load(str(path))
    run = RunDir.create(tmp_path / "runs", cfg.name)
    run.config.write_text(_config.to_yaml(cfg))

    def stop_in_trial_1(e: dict) -> None:  # a kill after trial 1's first epoch
        if e["kind"] == "epoch" and e["arm"] == "trial 1":
            raise _Stop
    threads = torch.get_num_threads()
    try:
        runner = trials.Runner(cfg, run, stop_in_trial_1)
        runner.train(runner.next_trial())
        with pytest.raises(_Stop):
            runner.train(runner.next_trial())
    finally:
        torch.set_num_threads(threads)
    kept = (run.path / "search/trials/0000/trial.json").read_bytes()
    assert not (run.path / "search/trials/0001/trial.json").exists()
    events = []
    got = study.resume(run.path, executor="ray", on_event=events.append)
    assert trial_table(got) == table and seed_numbers(got) == seeds_expected
    assert (run.path / "search/trials/0000/trial.json").read_bytes() == kept  # trained once, kept
    assert [e["epoch"] for e in events if e["kind"] == "resumed" and e["arm"] == "trial 1"] == [1]
    assert sorted(e["number"] for e in events if e["kind"] == "trial_end") == [1, 2, 3]


@pytest.mark.slow  # 8 s after the module's other Ray tests, 20+ s alone on 2 busy cores (cold Ray workers)
def test_killed_trial_worker_is_retried_and_continues_its_trial(ray_cluster, tmp_path):
    """A trial worker killed mid-trial: Ray retries it and the trial continues from its checkpoint in the worker
    that takes it over (the retry, or the other worker once its own trial ends), each epoch trained once."""
    path = search_file(tmp_path, trials=2, rows=800, epochs=10)
    cfg = config.load(str(path))
    done: dict = {}
    events: list = []
    driver = threading.Thread(target=lambda: done.setdefault("run", study.run(
        cfg, out_root=tmp_path / "runs", executor="ray", on_event=events.append)))
    driver.start()
    metrics = _wait_for(lambda: next((tmp_path / "runs").glob("*/*/search/trials/0000/arms/trial/seed-0/"
                                                               "metrics.jsonl"), None))
    _wait_for(lambda: checkpointed(metrics.parent) >= 2)
    run = metrics.parents[6]
    pid = holders(run)[0]
    assert not (run / "search" / "trials" / "0000" / "trial.json").exists(), "the trial ended before the kill"
    os.kill(pid, signal.SIGKILL)
    driver.join(timeout=180)
    assert "run" in done
    table = trial_table(run)
    assert [(t[0], t[1], t[4]) for t in table] == [(0, "complete", 10), (1, "complete", 10)]
    assert holders(run)[0] != pid  # trial 0 finished by another worker process
    epochs = [json.loads(r)["epoch"] for r in metrics.read_text().splitlines()]
    assert epochs == list(range(10))  # continued from its checkpoint: no epoch twice, none skipped
    assert any(e["kind"] == "resumed" and e["arm"] == "trial 0" and e["epoch"] >= 2 for e in events)


@pytest.mark.slow  # a pool's and Ray workers' start (torch imports) dominate: ~1 min on 2 busy cores
def test_executors_benchmark_runs_small(ray_cluster, tmp_path, monkeypatch):
    """benchmarks/executors.py end to end on a tiny setting, on this module's Ray instance (the lead runs the full
    one on a quiet machine); the timings are records with their spread, the three executors' numbers identical."""
    from benchmarks import common
    from benchmarks import executors as bench

    for module in (common, bench):
        monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    spec = {**bench.STUDY, "seeds": 2, "data": {"name": "digits", "train_limit": 300},
            "train": {**bench.STUDY["train"], "epochs": 2}}
    out = bench.main(spec, repeats=1, raw_epochs=2)
    saved = json.loads((tmp_path / "results" / "executors.json").read_text())
    assert saved["identical"] is True and saved["evidence"]["cpu_count"] >= 1
    for name in bench.EXECUTORS:
        t = saved["timing"][name]
        assert t["n"] == 1 == len(t["runs"]) and t["spread"] is None and t["median"] > 0  # one run: no spread
    assert out["speedup"]["ray"] == pytest.approx(saved["timing"]["local"]["median"] / saved["timing"]["ray"]["median"])
    raw = saved["raw_loops_seconds"]
    assert raw["alone"]["n"] == 1 and raw["two_at_once"]["n"] == 2 and saved["raw_concurrent_slowdown"] > 0
    assert ray_cluster.is_initialized()
