"""The trials of a search: Optuna asks for a configuration, a task trains it like any seed, Optuna is told.

Each trial is a run directory of its own (``search/trials/<k>/``: config.yaml, arms/trial/seed-0/ with
metrics.jsonl, checkpoint, best weights, result.json; trial.json once it ends). Its score is the best value of
the search metric over its epochs (the epoch whose weights the trial keeps, when it monitors that metric).

Reproducible trial by trial with one worker: every trial trains on the same seed (common random numbers:
configurations differ by their settings, not by their luck), and the sampler is rebuilt for each trial
with a seed derived from the search seed and the trial's number, so a resumed search asks exactly what an
uninterrupted one would have. A trial killed mid-way is RUNNING in the journal: it is trained again in its
folder with its parameters, continuing from its checkpoint, and its per-epoch reports are replayed first.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from deepstudy import config as _config
from deepstudy import repro, study_data, tasks, train
from deepstudy.config import Study
from deepstudy.config.search import Dimension, SearchConfig
from deepstudy.errors import UserError
from deepstudy.fileio import read_jsonl, write_json
from deepstudy.rundir import RunDir
from deepstudy.search.holds import Holds

ARM = "trial"  # the one arm of a trial's run directory
NAME = "search"  # the Optuna study's name in the storage
optuna.logging.set_verbosity(optuna.logging.WARNING)


def metric_of(study: Study) -> str:
    """The per-epoch validation metric a trial is scored by: search.metric, else the study's monitor."""
    monitor = study.train.early_stopping.monitor
    return study.search.metric or (monitor if monitor != "last" else "val_loss")


def direction(study: Study) -> tuple[str, bool]:
    """(metric, lower_is_better) a trial is scored by."""
    metric = metric_of(study)
    return metric, tasks.get(study.task).epoch_metrics[metric]


def trial_seed(study: Study) -> int:
    """The training seed of every trial: its own stream, never one of the re-evaluation's fresh seeds."""
    return repro.derive_seed(study.seed, "search-trial")


def storage(study: Study, run: RunDir | None) -> optuna.storages.BaseStorage:
    """The run directory's journal file, or the database of ``search.storage`` (its URL checked when run is None)."""
    url = study.search.storage
    if url:
        try:
            return optuna.storages.RDBStorage(url)
        except Exception as e:  # a bad URL or an unreachable server: SQLAlchemy's many errors, one line
            raise UserError(f"search.storage: cannot open '{redact(url)}' ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:160]}); check the URL, or remove it to use the run "
                            "directory's journal file") from None
    run.search.mkdir(parents=True, exist_ok=True)
    journal = optuna.storages.journal
    return optuna.storages.JournalStorage(journal.JournalFileBackend(str(run.search / "journal.log")))


def redact(url: str) -> str:
    """A storage URL without its password (it is written to results.json and printed)."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.split(':')[0]}:***@{tail}"


class _Grid(optuna.samplers.GridSampler):
    def after_trial(self, study, trial, state, values) -> None:
        """Nothing: Optuna's grid calls study.stop() (meant for study.optimize) once visited; the budget is ours."""


def sampler(s: SearchConfig, dims: list[Dimension], seed: int) -> optuna.samplers.BaseSampler:
    if s.sampler == "grid":
        return _Grid({d.key: d.grid() for d in dims}, seed=seed)
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=s.startup_trials)
    if s.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=s.startup_trials)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=s.startup_trials)


def pruner(study: Study) -> optuna.pruners.BasePruner:
    name = study.search.pruner
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=study.search.startup_trials, n_warmup_steps=1)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=study.train.epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(study: Study, run: RunDir) -> optuna.Study:
    _, lower = direction(study)
    name = f"{study.name}:{run.path.name}" if study.search.storage else NAME  # a database holds many searches
    return optuna.create_study(study_name=name, storage=storage(study, run), load_if_exists=True, pruner=pruner(study),
                               direction="minimize" if lower else "maximize")


def suggest(trial: optuna.Trial, dims: list[Dimension]) -> dict[str, Any]:
    """The trial's values of the space's keys (a conditional key only where its condition holds); a resumed
    trial gets back the values it was given."""
    params: dict[str, Any] = {}
    pending = list(dims)
    while pending:
        ready = [d for d in pending if all(k in params or k not in {p.key for p in pending} for k, _ in d.when)]
        for d in ready:
            pending.remove(d)
            if any(k not in params or params[k] != v for k, v in d.when):
                continue
            if d.kind == "choice":
                params[d.key] = json.loads(trial.suggest_categorical(d.key, d.labels))
            elif d.kind == "int":
                params[d.key] = trial.suggest_int(d.key, int(d.low), int(d.high), step=d.step or 1, log=d.log)
            else:
                params[d.key] = trial.suggest_float(d.key, d.low, d.high, log=d.log)
    return params


def configure(study: Study, params: dict[str, Any]) -> Study:
    """The study's config with a trial's values, checked like a study of its own (one arm, no search)."""
    from deepstudy import study as _study

    raw = study.model_dump(mode="json")
    # a trial is scored, not reported: the study's analyses (explanations, figures) are for the re-evaluated arms
    raw.update(search=None, arms={"base": {}}, opt_in_arms={}, seeds=1, analyses=[])
    return _study.check(_config.validate(_config.apply_overrides(raw, params), source="search trial"))["base"]


class Runner:
    """Trains trials in one process: the study, its data (loaded once per data config) and the Optuna study."""

    def __init__(self, study: Study, run: RunDir, on_event: Callable[[dict], None]):
        self.study, self.run, self.on_event = study, run, on_event
        self.dims = study.search.dimensions()
        self.metric, self.lower = direction(study)
        self.device = repro.resolve_device(study.train.device)
        repro.set_deterministic(self.device)
        self.optuna = open_study(study, run)
        self._data: dict[str, Any] = {}
        self.holds = Holds(run.search)  # the trials this process trains (claim, release)

    def orphans(self) -> list[int]:
        """Trials left RUNNING: by a killed search (with --jobs no other process runs them, the run directory is
        locked), or on Ray also by a live worker (``claim`` takes only those whose hold is free)."""
        return [t.number for t in self.optuna.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]

    def next_trial(self) -> optuna.Trial | None:
        """A new trial, or None once the budget is asked for; one process at a time asks (a file lock), so two
        workers never get the same trial and the budget is never exceeded."""
        with self.holds.asking():
            return self._ask()

    def _ask(self) -> optuna.Trial | None:
        n = len(self.optuna.get_trials(deepcopy=False))
        if n >= self.study.search.budget():
            return None
        base = self.study.search.seed if self.study.search.seed is not None else self.study.seed
        # the grid's order is a shuffle by its seed (trial k visits the k-th point): one seed for the search
        seed = repro.derive_seed(base, "sampler", 0 if self.study.search.sampler == "grid" else n)
        self.optuna.sampler = sampler(self.study.search, self.dims, seed % 2**32)
        return self.optuna.ask()

    def claim(self) -> optuna.Trial | None:
        """The next trial this process trains, held until ``release``: a trial left RUNNING whose hold is free (its
        worker died: the kernel dropped its lock), else a new one; None once the budget is asked and no trial is
        left over. For workers that may die and be retried while others run (Ray): the hold is a lock on
        search/held/<k>.lock, taken under the ask lock, so a trial a live worker trains is never trained twice."""
        with self.holds.asking():
            for number in self.orphans():
                if self.holds.take(number):
                    return self.resume_trial(number)
            trial = self._ask()
            if trial is not None and not self.holds.take(trial.number):
                raise RuntimeError(f"search trial {trial.number} is new, yet its hold lock is taken")
            return trial

    def release(self, number: int) -> None:
        """The hold on trial ``number`` dropped (it ended, or this worker stops)."""
        self.holds.release(number)

    def resume_trial(self, number: int) -> optuna.Trial:
        trial_id = next(t._trial_id for t in self.optuna.get_trials(deepcopy=False) if t.number == number)
        return optuna.trial.Trial(self.optuna, trial_id)

    def dataset(self, cfg: Study):
        key = f"{cfg.task}|{cfg.data.model_dump_json()}"
        if key not in self._data:
            self._data[key] = study_data.load({ARM: cfg})[ARM]
        return self._data[key]

    def train(self, trial: optuna.Trial) -> dict:
        """Train one trial (or continue it), tell Optuna how it ended; returns its trial.json record."""
        t0, number = time.perf_counter(), trial.number
        folder = self.run.trial(number)
        params = suggest(trial, self.dims)
        record = {"number": number, "params": params, "state": "fail", "value": None, "epochs": 0, "message": None}
        try:
            cfg = configure(self.study, params)
            folder.path.mkdir(parents=True, exist_ok=True)
            folder.config.write_text(_config.to_yaml(cfg))
            seed = folder.seed(ARM, 0)
            self._replay(trial, seed.metrics)
            self.on_event({"kind": "start", "arm": f"trial {number}", "seed": 0, "seeds": None,
                           "epochs": cfg.train.epochs})
            if cfg.train.threads:
                import torch

                torch.set_num_threads(cfg.train.threads)
            ctx = tasks.SeedContext(cfg, self.dataset(cfg), self.device, trial_seed(self.study), seed,
                                    self._reporting(trial, number))
            repro.FAULT_SCOPE[0] = f"trial-{number}"
            try:
                result = tasks.get(cfg.task).train_seed(ctx)
            finally:
                repro.FAULT_SCOPE[0] = ""
            write_json(seed.result, result.to_json())
            values = self._values(seed.metrics)
            if not values:
                raise _TrialFailed(f"no epoch reported {self.metric}")
            record.update(state="complete", value=(min if self.lower else max)(values), epochs=len(values))
            self.optuna.tell(trial, record["value"])
        except optuna.TrialPruned:
            values = self._values(folder.seed(ARM, 0).metrics)
            record.update(state="pruned", value=values[-1] if values else None, epochs=len(values))
            self.optuna.tell(trial, state=TrialState.PRUNED)
        except (UserError, train.NonFiniteLoss, _TrialFailed) as e:
            record.update(message=str(e), epochs=len(self._values(folder.seed(ARM, 0).metrics)))
            self.optuna.tell(trial, state=TrialState.FAIL)
        record["seconds"] = time.perf_counter() - t0
        folder.path.mkdir(parents=True, exist_ok=True)
        write_json(folder / "trial.json", record)
        self.on_event({"kind": "trial_end", **record, "metric": self.metric, "budget": self.study.search.budget()})
        return record

    def _values(self, metrics: Path) -> list[float]:
        rows = read_jsonl(metrics) if metrics.is_file() else []
        return [float(r[self.metric]) for r in rows if r.get(self.metric) is not None]

    def _replay(self, trial: optuna.Trial, metrics: Path) -> None:
        """A resumed trial's epochs before its checkpoint, reported again where the killed run had not."""
        rows = [r for r in (read_jsonl(metrics) if metrics.is_file() else []) if r.get(self.metric) is not None]
        reported = trial.storage.get_trial(trial._trial_id).intermediate_values
        for r in rows:
            if r["epoch"] not in reported:
                trial.report(float(r[self.metric]), r["epoch"])
        if rows and trial.should_prune():  # the killed run may have died before asking after its last epoch
            raise optuna.TrialPruned(f"pruned after epoch {rows[-1]['epoch'] + 1}")

    def _reporting(self, trial: optuna.Trial, number: int) -> Callable[[dict], None]:
        """The task's events, with each epoch's metric reported to the pruner (which may stop the trial there)."""
        parent = os.getppid()

        def on_event(e: dict) -> None:
            if os.getppid() != parent:  # a worker whose search was killed: stop (the journal keeps the trial)
                os._exit(1)
            e = {**e, "arm": f"trial {number}"}
            self.on_event(e)
            if e["kind"] == "epoch" and e.get(self.metric) is not None:
                trial.report(float(e[self.metric]), e["epoch"])
                if trial.should_prune():  # (the driver writes this epoch's checkpoint as the trial stops)
                    raise optuna.TrialPruned(f"pruned after epoch {e['epoch'] + 1}")
        return on_event


class _TrialFailed(Exception):
    pass

