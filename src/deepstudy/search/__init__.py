"""Hyperparameter search that reports its winner honestly (a study file's ``search:`` section)::

    deepstudy run search-cnn --jobs 2             # trials, then the re-evaluation, then the report
    deepstudy run search-cnn --executor ray       # trials and re-evaluation as Ray tasks (--address: a cluster)
    deepstudy run --resume runs/search-cnn/<ts>   # a killed search finishes its remaining trials

1. ``check``: the space's keys and values, the metric and the sampler, before a run directory exists;
2. the trials (search/trials.py), in this process, in ``jobs`` worker processes or in Ray tasks (trial workers),
   all sharing one Optuna storage;
3. the re-evaluation: the best trial's configuration (arm ``tuned``) and the study's own (arm ``default``) are
   trained on ``search.final_seeds`` fresh seeds and tested once by the ordinary study machinery, so the
   usual comparison says whether tuning beat the default beyond seed noise;
4. results.json's ``search`` block (summary.py): every trial, the winner's curse (the search's best validation
   score against the same configuration's on fresh seeds), parameter importances.

Optuna is the engine (samplers, pruners, storage); none of KerasTuner, Optuna or Ray Tune re-evaluates the
winner on fresh seeds, which is why their "best score" is an optimistic pick out of many noisy trials.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as _queue
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from deepstudy import config as _config
from deepstudy import study as _study
from deepstudy import repro, study_data, study_precision, tasks
from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.rundir import RunDir
from deepstudy.search import compare, summary, trials

if TYPE_CHECKING:
    from deepstudy.executors.ray_cluster import RayExecutor

Event = Callable[[dict], None]


def _quiet(event: dict) -> None:
    pass


def check(study: Study) -> None:
    """Everything a search needs that the config alone cannot tell; each problem is one line."""
    s, task = study.search, tasks.get(study.task)
    if not task.epoch_metrics:
        raise UserError(f"task {study.task} has no one per-epoch validation score a search could rank trials by; "
                        "run its settings as arms instead")
    metric = trials.metric_of(study)
    if metric not in task.epoch_metrics:
        raise UserError(f"search.metric '{metric}' is not produced by task {study.task}; its epochs report "
                        f"{', '.join(task.epoch_metrics)} (a search ranks trials on validation data, never test)")
    if study.data.cv_folds:
        raise UserError("a search scores each trial on one validation split; remove data.cv_folds")
    dims = s.dimensions()
    for d in dims:  # each key at its extremes (and every choice), with the values its condition needs
        values = [json.loads(v) for v in d.labels] if d.kind == "choice" else \
            [int(d.low), int(d.high)] if d.kind == "int" else [d.low, d.high]
        for value in values:
            try:
                trials.configure(study, {**dict(d.when), d.key: value})
            except UserError as e:
                raise UserError(f"search.space['{d.key}'] = {value!r} is not a valid setting of this study: "
                                f"{str(e).removeprefix('search trial: ')}") from None
    _study.check(study.model_copy(update={"search": None}))


def run(study: Study, out_root: str | Path = "runs", on_event: Event = _quiet, jobs: int = 1,
        ray: RayExecutor | None = None) -> Path:
    """A new search in a new run directory; returns its path. ``ray`` (``connect_ray``): its trials and
    re-evaluation on Ray; else the trials in ``jobs`` worker processes and the re-evaluation in this one."""
    check(study)
    _check_jobs(jobs)
    study_data.load(_study.check(final_study(study, {})))  # the data fits, before the run directory exists
    if study.search.storage:
        trials.storage(study, None)  # a bad URL stops here
    run_dir = RunDir.create(Path(out_root), study.name)
    with run_dir.locked():
        run_dir.config.write_text(_config.to_yaml(study))
        on_event({"kind": "run_dir", "path": str(run_dir.path)})
        return execute(study, run_dir, on_event, jobs, ray)


def connect_ray(study: Study, address: str | None, jobs: int | None) -> RayExecutor:
    """Ray for a search's trials and re-evaluation, checked as for a study's seeds (a reachable cluster, no --jobs,
    resources that fit a node, arms that share nothing in the run directory: the re-evaluation's arms)."""
    from deepstudy import executors

    return executors.start("ray", jobs, address, _study.check(final_study(study, {})))


def execute(study: Study, run: RunDir, on_event: Event = _quiet, jobs: int = 1, ray: RayExecutor | None = None) -> Path:
    """The trials still to run (all of them, or what a killed search left), then the re-evaluation and report
    (the caller has run ``check`` and holds the run directory's lock)."""
    _check_jobs(jobs)
    on_event(_plan(study, run))
    study = _resolve_precision(study, run, on_event)
    if study.search.samplers:  # a comparison of samplers: repeated searches, each winner re-tested
        winners = compare.run_all(study, run, on_event, lambda s, r, e: _run_trials(s, r, e, jobs, ray, run))
        final = final_study(study, winners, default=False)
        block = compare.block
    else:
        _run_trials(study, run, on_event, jobs, ray)
        final = final_study(study, {"tuned": summary.best_params(study, run)})
        block = summary.block
    arms = _study.check(final)
    # the re-evaluation: on Ray where the trials ran there; else in this process (--jobs: the numbers as before)
    return _study.execute(final, arms, study_data.load(arms), run, _without_plan(on_event),
                          extra_results=lambda: {"search": block(study, run, final)}, executor=ray)


def _resolve_precision(study: Study, run: RunDir, on_event: Event) -> Study:
    """``train.precision: auto`` decided once for every trial (on the study's own config; recorded in the run's
    precision.json, which a resumed search reads), before any trial trains (deepstudy.study_precision)."""
    base = _study.check(final_study(study, {}))["default"]
    device = repro.resolve_device(study.train.device)
    repro.set_deterministic(device)
    return study_precision.resolve_study(study, base, lambda: study_data.load({"default": base})["default"], run,
                                         device, on_event)


def _plan(study: Study, run: RunDir) -> dict:
    """The study_start event of a search: every trial, then every seed of the re-evaluation, and what a resume
    already has (a trial's epochs: the study's own; a search of train.epochs makes this an estimate)."""
    s = study.search
    if s.samplers:
        parts = compare.searches(study, run)
        folders, finals = [folder for _, folder in parts.values()], list(parts)
    else:
        folders, finals = [run], ["default", "tuned"]
    trials_done = sum(len(list((f.search / "trials").glob("*/trial.json"))) for f in folders)
    seeds = [(arm, i) for arm in finals for i in range(s.final_seeds)]
    runs, done = s.budget() * len(folders) + len(seeds), trials_done + sum(run.seed(a, i).finished for a, i in seeds)
    return {"kind": "study_start", "name": study.name, "arms": finals, "seeds": s.final_seeds,
            "trials": s.budget() * len(folders), "trial_epochs": study.train.epochs, "runs": runs,
            "epochs": runs * study.train.epochs, "done_runs": done, "done_epochs": done * study.train.epochs}


def _without_plan(on_event: Event) -> Event:
    """The re-evaluation's events less its own study_start (the search announced the whole plan)."""
    def forward(e: dict) -> None:
        if e["kind"] != "study_start":
            on_event(e)
    return forward


def final_study(study: Study, winners: dict[str, dict], default: bool = True) -> Study:
    """The re-evaluation as a study: arm ``default`` (the study's own config) and one arm per winner (name ->
    its values) on ``final_seeds`` seeds of the study's own seed (the trials trained on another stream), with the
    data split and test set the trials had."""
    raw = study.model_dump(mode="json")
    arms = {"default": {}} if default else {}
    raw.update(search=None, seeds=study.search.final_seeds, arms={**arms, **winners}, opt_in_arms={})
    return _config.validate(raw, source="search re-evaluation")


def _check_jobs(jobs: int) -> None:
    if not isinstance(jobs, int) or jobs < 1 or jobs > 64:
        raise UserError(f"--jobs must be a whole number from 1 to 64, got {jobs!r}")
    if jobs > 1:
        from deepstudy import executors

        executors.check_spawnable("--jobs")


def _run_trials(study: Study, run: RunDir, on_event: Event, jobs: int, ray: RayExecutor | None = None,
                top: RunDir | None = None) -> None:
    """``run``: the search's folder (the run directory, or one search's of a sampler comparison); ``top``: the run
    directory, where it is not ``run`` (a resume command names it)."""
    if ray is not None:
        return _trials_on_ray(study, run, on_event, ray, top or run)
    runner = trials.Runner(study, run, on_event)
    orphans = runner.orphans()
    if jobs == 1:
        for number in orphans:
            runner.train(runner.resume_trial(number))
        while (trial := runner.next_trial()) is not None:
            runner.train(trial)
        return
    threads = study.train.threads or max(1, (os.cpu_count() or 1) // jobs)
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no forked torch thread pools
    events = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(str(run.path), orphans[i::jobs], threads, events), daemon=True)
               for i in range(jobs)]
    for w in workers:
        w.start()
    errors = []
    while any(w.is_alive() for w in workers) or not events.empty():
        try:
            e = events.get(timeout=0.2)
        except _queue.Empty:
            continue
        errors.append(e) if e["kind"] == "worker_error" else on_event(e)
    for w in workers:
        w.join()
    if errors:
        raise (UserError if errors[0]["user"] else RuntimeError)(errors[0]["message"])
    if any(w.exitcode for w in workers):
        raise RuntimeError(f"a search worker ended with exit code {max(w.exitcode for w in workers)}; resume with "
                           f"`deepstudy run --resume {run.path}`")


def _worker(run_path: str, orphans: list[int], threads: int, events) -> None:
    """One worker process: its share of a killed search's trials, then new trials until the budget is asked."""
    import torch

    torch.set_num_threads(threads)
    try:
        run = RunDir(Path(run_path))
        study = _config.validate(_config.read_yaml(run.config), source=str(run.config))
        study = study_precision.as_recorded(study, run)  # auto: what the main process chose, never probed again
        runner = trials.Runner(study, run, events.put)
        for number in orphans:
            runner.train(runner.resume_trial(number))
        while (trial := runner.next_trial()) is not None:
            runner.train(trial)
    except KeyboardInterrupt:  # Ctrl-C reaches every worker: the main process says how to resume
        raise SystemExit(130) from None
    except UserError as e:
        events.put({"kind": "worker_error", "user": True, "message": str(e)})
        raise SystemExit(2) from None
    except Exception:
        events.put({"kind": "worker_error", "user": False, "message": traceback.format_exc()})
        raise SystemExit(1) from None


def _trials_on_ray(study: Study, run: RunDir, on_event: Event, ray: RayExecutor, top: RunDir) -> None:
    """The trials as Ray tasks: as many trial workers as the cluster runs tasks of ``train.resources`` at once (at
    most the trials left), each holding those resources with as many torch threads as CPUs (train.threads wins).

    A worker claims one trial at a time (trials.Runner.claim: one left RUNNING whose worker died, else a new one)
    and holds it until it ends. So a worker killed mid-trial (kill -9, out of memory, its node lost) is retried by
    Ray, and the retry continues that trial from its checkpoint (its hold died with the worker) or, if another
    worker took it over first, runs the next; a trial a live worker holds is never trained twice. A trial still
    RUNNING once every worker has ended (its holder's lock outlived it: a lost NFS client keeps it for the server's
    lease) stops the run with the resume command rather than reporting a search short of its budget."""
    from optuna.trial import TrialState

    from deepstudy import executors

    done = [t for t in trials.open_study(study, run).get_trials(deepcopy=False) if t.state != TrialState.RUNNING]
    workers = min(study.search.budget() - len(done), ray.slots(study.train.resources))
    run_path = os.path.abspath(run.path)  # a Ray worker may start in another folder (ray job submit, a node)
    cfg = executors.absolute_data_path(study).model_dump(mode="json")
    ray.call(_trial_worker, [(cfg, run_path, ray.threads(study))] * max(0, workers), study.train.resources, run_path,
             on_event, what="search trial worker", kept="the finished trials are kept", resume=str(top.path))
    left = [t.number for t in trials.open_study(study, run).get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    if left:
        raise RuntimeError(f"search trial(s) {', '.join(map(str, left))} are still RUNNING after every worker ended "
                           f"(a worker's hold outlived it); continue with `deepstudy run --resume {top.path} "
                           "--executor ray`")


def _trial_worker(cfg: dict, run_path: str, threads: int, send: Event) -> int:
    """One trial worker on Ray: trials claimed one at a time until the budget is asked; returns how many it ran."""
    import torch

    torch.set_num_threads(threads)
    study = _config.validate(cfg, source="search")
    runner = trials.Runner(study, RunDir(Path(run_path)), send)
    count = 0
    while (trial := runner.claim()) is not None:
        try:
            runner.train(trial)
        finally:  # a pooled Ray worker process outlives the task: its hold must not
            runner.release(trial.number)
        count += 1
    return count
