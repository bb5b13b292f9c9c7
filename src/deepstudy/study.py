"""The orchestrator: config -> data -> arms x seeds through the task registry -> results.json -> report.

It knows no task by name (``deepstudy.tasks`` does) and no file by name (``deepstudy.rundir`` does). Order
matters for "nothing half-written": the config, the model arguments and the data are all checked before
the run directory exists.
"""
from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from deepstudy import config as _config
from deepstudy import data as _data
from deepstudy import executors, repro, study_data, study_precision, study_results, tasks, train
from deepstudy.config import Study
from deepstudy.data import augment as _augment
from deepstudy.errors import UserError
from deepstudy.fileio import read_json, write_json
from deepstudy.records import FRACTIONS, metric_name
from deepstudy.rundir import RunDir, RunPath
from deepstudy.tasks import trajectories

# execute: the search's entry, not the library's
__all__ = ["run", "resume", "check", "explain_run", "lr_find", "restore_models", "RunPath"]
Event = Callable[[dict], None]
def _quiet(event: dict) -> None:
    pass


@contextmanager
def _shown(on_event: Event, progress: bool | None) -> Iterator[Event]:
    """``on_event``, and the progress view too where it is wanted: ``progress=True``, or None on a terminal or in
    a notebook."""
    from deepstudy import progress as _progress

    if not (_progress.interactive() if progress is None else progress):
        yield on_event
        return
    with _progress.Progress() as view:
        def both(e: dict) -> None:
            view.event(e)
            on_event(e)
        yield both


def check(study: Study) -> dict[str, Study]:
    """Every arm's config, validated down to model arguments and augmentation names.

    Example:
        >>> from deepstudy import config, study
        >>> arms = study.check(config.load("mlp-vs-cnn"))
        >>> list(arms), arms["mlp"].model.name
        (['mlp', 'cnn-plain', 'cnn-bn-dropout'], 'mlp')
    """
    arms = study.arm_configs()
    repro.resolve_device(study.train.device)  # cuda without CUDA stops here, before a run directory exists
    test_sets = {(c.data.name, c.data.path, c.data.format, c.data.test_fraction) for c in arms.values()}
    if len(test_sets) > 1:
        raise UserError("arms must share one test set (data.name, data.path, data.format, data.test_fraction) so "
                        "their scores can be compared; run each dataset as its own study (--set data.name=...)")
    for arm, cfg in arms.items():
        task = tasks.get(cfg.task)
        if cfg.train.device != study.train.device:
            raise UserError(f"arm '{arm}' changes train.device; one run uses one device — set it for the whole study "
                            "(--device)")
        task.check(arm, cfg, study)
        train.distributed.check(arm, cfg, study)
        _augment.parse(cfg.data.augment)
        if cfg.train.precision == "fp16" and repro.resolve_device(cfg.train.device).type != "cuda":
            raise UserError(f"arm '{arm}': precision fp16 needs a CUDA device; on CPU use train.precision=bf16 or fp32")
    return arms


def run(study: Study, out_root: str | Path = "runs", on_event: Event = _quiet, jobs: int | None = None,
        progress: bool | None = None, executor: str | None = None, address: str | None = None) -> Path:
    """Run a study in a new run directory (a study with ``search:``: the search, deepstudy.search); returns its path.
    ``executor``: where the (arm, seed) runs train — "local" (this process, one after another), "processes"
    (``jobs`` worker processes) or "ray" (a Ray instance started here, or the cluster at ``address``: "auto",
    "ray://head:10001"); None: processes when ``jobs`` > 1, else local (deepstudy.executors). A search: ``jobs``
    trials trained at once, or with "ray" as many trials as the cluster holds tasks of ``train.resources``.
    ``on_event``: called with every progress event (deepstudy.progress lists them); ``progress``: show them
    (None: on a terminal or in a Jupyter notebook, not in a script whose output goes to a file).

    The returned :class:`RunPath` is a ``pathlib.Path``; in Jupyter it displays the report inline.

    Example:
        Two seeds of a built-in study (about a minute on a laptop CPU), then its numbers::

            from deepstudy import config, study
            from deepstudy.fileio import read_json

            run_dir = study.run(config.load("digits-quickstart", {"seeds": 2}))
            run_dir                                   # in a notebook: the report, inline
            read_json(run_dir / "results.json")["comparison"]["summary"]
    """
    with _shown(on_event, progress) as on_event:
        return _run(study, out_root, on_event, jobs, executor, address)


def _run(study: Study, out_root: str | Path, on_event: Event, jobs: int | None, executor: str | None,
         address: str | None) -> Path:
    if study.search is not None:
        from deepstudy import search

        _search_executor(executor, address, jobs)
        if executor != "ray":
            return search.run(study, out_root, on_event, 1 if jobs is None else jobs)
        search.check(study)  # before Ray is started
        with search.connect_ray(study, address, jobs) as ray:
            return search.run(study, out_root, on_event, ray=ray)
    arms = check(study)
    train.distributed.check_launched(study)
    with executors.start(executor, jobs, address, arms) as chosen:  # a cluster that cannot take the tasks stops here
        datasets = study_data.load(arms)  # (while a pool's workers start)
        run_dir = RunDir.create(Path(out_root), study.name)
        with run_dir.locked():
            run_dir.config.write_text(_config.to_yaml(study))
            _record_models(arms, run_dir)
            _announce(run_dir, on_event, fresh=True)
            return execute(study, arms, datasets, run_dir, on_event, executor=chosen)


def _announce(run: RunDir, on_event: Event, fresh: bool) -> None:
    """The run_dir event (where the experiment trackers write). Should a consumer refuse it (a tracking store that
    fails), a run directory made a moment ago goes again: it holds nothing but its config."""
    try:
        on_event({"kind": "run_dir", "path": str(run.path)})
    except BaseException:
        if fresh:
            shutil.rmtree(run.path, ignore_errors=True)
            with contextlib.suppress(OSError):
                run.path.parent.rmdir()  # the study's folder, if this run was its first
        raise


def _search_executor(executor: str | None, address: str | None, jobs: int | None) -> None:
    """A search trains its trials in this process, in ``jobs`` worker processes, or on Ray (deepstudy.search)."""
    if executor is not None and executor not in executors.KINDS:
        raise UserError(f"--executor must be one of {', '.join(executors.KINDS)}, got {executor!r}")
    if address is not None and executor != "ray":
        raise UserError(f"--address names a Ray cluster; add --executor ray (or drop --address {address})")
    if executor == "local" and jobs not in (None, 1):
        raise UserError(f"--jobs {jobs} asks for worker processes; drop --executor local (or use --executor "
                        "processes)")


def resume(run_dir: str | Path, on_event: Event = _quiet, jobs: int | None = None, progress: bool | None = None,
           executor: str | None = None, address: str | None = None) -> Path:
    """Continue a killed run: finished arm/seeds are kept, unfinished ones resume from their checkpoint (a search:
    its finished trials are kept, a killed one continues, the rest are run). ``progress``, ``executor``,
    ``address``: as for ``run`` (any executor may finish what another began).

    Example:
        After an interrupted ``deepstudy run`` (the CLI prints the run directory)::

            run_dir = study.resume("runs/mlp-vs-cnn/2026-01-31T10-00-00")
    """
    from deepstudy import report

    run = RunDir.existing(run_dir)
    with run.locked(), _shown(on_event, progress) as on_event:
        restore_models(run, on_event)
        study = _config.validate(_config.read_yaml(run.config), source=str(run.config))
        report.check_files(run.path)  # a damaged metrics.jsonl or result.json: one line, before anything is written
        _announce(run, on_event, fresh=False)  # trackers (--track) write to the run only now: locked and checked
        if study.search is not None:
            from deepstudy import search

            _search_executor(executor, address, jobs)
            search.check(study)
            if executor != "ray":
                return search.execute(study, run, on_event, 1 if jobs is None else jobs)
            with search.connect_ray(study, address, jobs) as ray:
                return search.execute(study, run, on_event, ray=ray)
        arms = check(study)
        train.distributed.check_launched(study)
        with executors.start(executor, jobs, address, arms) as chosen:
            datasets = study_data.load(arms)
            return execute(study, arms, datasets, run, on_event, executor=chosen)


def execute(study: Study, arms: dict[str, Study], datasets: dict[str, _data.Dataset], run: RunDir,
            on_event: Event, extra_results: Callable[[], dict] | None = None,
            executor: executors.Executor | None = None) -> Path:
    """Every (arm, seed) not yet finished in ``run`` (by ``executor``; default: in this process), then
    results.json (with ``extra_results()``) and the report; the caller holds the run directory's lock."""
    device = repro.resolve_device(study.train.device)
    determinism = repro.set_deterministic(device)
    arms = study_precision.resolve(arms, datasets, run, device, on_event)  # auto: once per arm, before any seed
    study_results.write_data(run, arms, datasets)
    fell_back = [a for a, c in arms.items() if c.train.precision == "bf16" and train.autocast("bf16", device)[1]
                 == train.FELL_BACK]
    if fell_back:  # once for the run (each seed records the precision it ran in, the report says it again)
        on_event({"kind": "note", "text": f"{train.FALLBACK_NOTE} (arm(s) {', '.join(fell_back)})"})
    on_event(_plan(study, arms, run))
    metric = tasks.get(study.task).headline(read_json(run.data))[0]  # what the comparison ranks arms by
    nondeterministic: set[str] = set()
    failures = []
    executor = executor or executors.Executor()
    todo, seeds_used = executors.jobs_for(study, arms, run, executor)
    for arm, cfg in arms.items():
        for i in range(study.seeds):
            seed = run.seed(arm, i)
            if seed.finished:  # finished before a resume
                previous = read_json(seed.result)
                if previous["status"] != "ok":
                    failures.append(f"arm '{arm}' seed {i}: {previous.get('message')}")
    t_start = time.perf_counter()
    for job, outcome in executor.run(todo, on_event, datasets):
        nondeterministic |= outcome.nondeterministic
        if outcome.failure:
            failures.append(outcome.failure)
        on_event(_run_end(job.arm, job.index, study.seeds, outcome.result, metric))
    study_results.write_env(run, study, device, determinism, datasets, seeds_used, nondeterministic,
                            time.perf_counter() - t_start)
    on_event({"kind": "note", "text": "every run has ended: comparing the arms and writing the report"})
    for task in dict.fromkeys(tasks.get(c.task) for c in arms.values()):
        task.after_seeds(study, arms, datasets, run, device)
    trajectories.after_seeds(study, arms, run)  # optimizer paths on 2-D surfaces: no data, no model
    write_json(run.results, {**study_results.aggregate(study, arms, run), **(extra_results() if extra_results else {})})
    from deepstudy import report

    on_event({"kind": "report", "path": str(report.write(run.path))})
    if failures:
        raise UserError(f"{len(failures)} run(s) stopped on a non-finite loss ({failures[0]}); the last good "
                        f"checkpoint is kept and the report is at {run / 'report.html'}; lower train.optimizer.lr or "
                        f"set train.grad_clip")
    return RunPath(run.path)  # a Path that Jupyter shows as the report


def _record_models(arms: dict[str, Study], run: RunDir) -> None:
    """models.json: the module file and sha256 of each arm's own model class (``model.class_path``), so that a
    resume or an explanation finds it again and says when it changed (deepstudy.models.custom)."""
    from deepstudy.models import custom

    paths = [c.model.class_path for c in arms.values() if c.model.class_path]
    if paths:
        write_json(run.models, custom.record(paths))


def restore_models(run: RunDir, on_event: Event = _quiet) -> None:
    """Before a finished or killed run's models are built again (resume, explain, predict): its own model classes
    importable from where the run found them; a note for each whose module changed since.

    Example:
        Before rebuilding a run's model yourself (a run whose config has ``model.class_path``)::

            from deepstudy.rundir import RunDir
            study.restore_models(RunDir(run_dir), on_event=print)   # prints a note if the module's file changed
    """
    if not run.models.is_file():
        return
    from deepstudy.models import custom

    for text in custom.restore(read_json(run.models)):
        on_event({"kind": "note", "text": text})


def _plan(study: Study, arms: dict[str, Study], run: RunDir) -> dict:
    """The study_start event: every (arm, seed) and its epochs, and what a resume already has (deepstudy.progress)."""
    todo = [(arm, i) for arm in arms for i in range(study.seeds)]
    done = [(arm, i) for arm, i in todo if run.seed(arm, i).finished]
    return {"kind": "study_start", "name": study.name, "arms": list(arms), "seeds": study.seeds, "trials": 0,
            "runs": len(todo), "epochs": sum(arms[a].train.epochs for a, _ in todo), "done_runs": len(done),
            "done_epochs": sum(arms[a].train.epochs for a, _ in done)}


def _run_end(arm: str, seed: int, seeds: int, result: dict, metric: str) -> dict:
    """The run_end event: how one (arm, seed) ended, with the study's headline metric on the test split."""
    value = (result.get("test") or {}).get(metric)
    return {"kind": "run_end", "arm": arm, "seed": seed, "seeds": seeds, "status": result["status"],
            "message": result.get("message"), "metric": metric, "value": value,
            "label": metric_name(metric), "percent": metric in FRACTIONS, "epochs": result.get("epochs_run"),
            "seconds": result.get("train_seconds")}


# beside the orchestrator, in the public API: explanations added to a finished run, the range test before one
from deepstudy.study_tools import explain_run, lr_find  # noqa: E402  (study_tools imports this module lazily)
