"""Tasks: what a study trains and how it is scored, one module per task behind one protocol.

The orchestrator (``deepstudy.study``) knows no task by name: it asks the registry. A task

- ``check(arm, cfg, study)``: refuses settings it cannot honour, before any data is read;
- ``prepare(ds, cfg)`` / ``data_key(cfg)``: the task's view of the loaded data (e.g. text as token ids);
- ``check_data(arm, cfg, ds)``: the data fits (kind, shapes, model arguments), before the run directory exists;
- ``train_seed(ctx) -> SeedResult``: trains one (arm, seed) in ``ctx.seed`` (resuming from its checkpoint) and
  returns its result record (``evaluate.run_record``, the task's own keys in ``extras``);
- ``headline(data_info) -> (metric, metrics)``: the metric arms are ranked by and the ones summarized;
  ``lower_is_better``; ``headline_note(data_info)``: why that metric, when it is not the obvious one;
- ``size(cfg, data_info, ok) -> Size``: parameters (and MACs) for the results table;
- ``summarize(study, cfg, run, arm, ok, data_info) -> dict``: the task's own keys of an arm in results.json;
- ``study_extras(study, arms, out_arms) -> dict``: run-level additions to results.json (asked of every task
  in the study; it may also complete its arms' entries with what needs the other arms);
- ``after_seeds(study, arms, datasets, run, device)``: work over all arms once every seed is done;
- ``data_notes(arms, info)``: sentences for data.json on how the task uses the data;
- ``epoch_metrics``: the validation metrics of each epoch's row and their direction (a search scores by one);
- ``lr_range(cfg, ds, device) -> dict``: the learning-rate range test of one arm (``sweeps_lr``: it has one;
  ``deepstudy lr-find``).
- ``precision_probe(cfg, ds, device) -> ProbeSetup | None``: the model, one batch and the training step that
  ``train.precision: auto`` times in fp32 and bf16 (deepstudy.study_precision); None: the task has none (fp32).

Adding a task: one module with a class that implements this (subclass :class:`Task` for the defaults)
and one line in ``_BUILTIN`` (or ``tasks.register(MyTask())`` from outside the package).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import models
from deepstudy.config import ModelConfig, Study
from deepstudy.errors import UserError, closest
from deepstudy.records import SeedResult
from deepstudy.rundir import RunDir, SeedDir

Event = Callable[[dict], None]
CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc")
# a class is a minority when its share is below this fraction of the balanced share 1/K (two classes: 30 %)
MINORITY_BELOW = 0.6


def imbalance(data_info: dict) -> str | None:
    """Why accuracy cannot rank classifiers on this data (its smallest class is a minority), or None.

    Read on the test split's class counts (the scores are test scores), else the training split's. With a
    minority class, accuracy rewards a model that favours the majority (always answering "stayed" scores 80 % on
    churn); macro F1 weighs every class equally. We rank by macro F1 rather than balanced accuracy: balanced
    accuracy is macro recall, blind to false alarms on the minority class, while F1 counts them too — and both
    were already computed per seed, so no recorded number changes, only which one ranks the arms.
    """
    counts = data_info.get("class_counts") or {}
    split = next((s for s in ("test", "train") if sum(counts.get(s) or []) > 0), None)
    if split is None or len(counts[split]) < 2:
        return None
    n = np.asarray(counts[split], dtype=np.float64)
    share, k = n / n.sum(), int(np.argmin(n))
    if share[k] >= MINORITY_BELOW / len(n):
        return None
    name = data_info["classes"][k] if len(data_info.get("classes") or []) == len(n) else f"class {k}"
    where = "test set" if split == "test" else "training labels"
    balanced = "" if len(n) == 2 else f" (balanced: {100 / len(n):.0f} %)"
    return (f"macro F1, not accuracy, ranks the arms: the minority class ({name}) is {share[k] * 100:.0f} % of the "
            f"{where}{balanced}, so accuracy would flatter a model that favours the majority")


@dataclass
class SeedContext:
    """Everything one (arm, seed) run gets from the orchestrator."""

    cfg: Study  # the arm's config
    dataset: _data.Dataset  # as ``prepare`` made it
    device: torch.device
    run_seed: int  # derive_seed(study seed, "seed", index): every random stream of this run starts here
    seed: SeedDir
    on_event: Event

    @property
    def arm(self) -> str:
        return self.seed.arm

    @property
    def index(self) -> int:
        return self.seed.index

    @property
    def run(self) -> RunDir:
        return self.seed.run


def build_model(model: ModelConfig, data: _data.Dataset | dict) -> nn.Module:
    """A zoo model (``model:`` of a study) for this data: a Dataset, or the data.json of a finished run."""
    if isinstance(data, dict):
        shape, classes, vocab = tuple(data["input_shape"]), len(data["classes"]), data.get("vocab_size")
    else:
        shape, classes, vocab = data.input_shape, data.num_classes, data.vocab_size
    return models.build(model.name, shape, classes, vocab_size=vocab, **model.kwargs())


@dataclass(frozen=True)
class Size:
    params: int | None
    macs: int | None = None
    trainable: int | None = None  # when fewer than params (frozen layers)


class Task:
    """The protocol with its defaults (a classifier's scores; no task block in results.json)."""

    name: str = ""
    lower_is_better: bool = False
    predictions: bool = False  # writes predictions.npy of class labels: confusion, per-class scores, McNemar
    owns: dict[str, str] = {}  # data kinds no other task reads -> the sentence that says so
    # a task from outside the package: the keys its config accepts, {"train": (...), "data": (...), "sections": (...)}
    # (see config.define; the built-in tasks have theirs in config/tasks.py)
    config_keys: dict | None = None
    # the per-epoch validation metrics of its metrics.jsonl rows -> lower is better (what a search can score by);
    # empty: the task has no one per-epoch score a search could use
    epoch_metrics: dict[str, bool] = {"val_loss": True}
    sweeps_lr: bool = False  # has a learning-rate range test (lr_range)
    # what data.format series-csv is read as (data.load): "windows" (forecasting) or "anomaly" (NAB-style series)
    series_csv: str = "windows"

    def check(self, arm: str, cfg: Study, study: Study) -> None:
        pass

    def shared(self, cfg: Study) -> str | None:
        """What this arm trains once into the run directory for its seeds (or other arms) to share, said in words
        (None: nothing): such an arm's seeds cannot run at once (deepstudy.executors refuses --jobs / --executor
        ray). Task generate: its judge; classify: a teacher or a pretrained encoder."""
        return None

    def data_key(self, cfg: Study) -> str:
        return cfg.data.model_dump_json()

    def prepare(self, ds: _data.Dataset, cfg: Study) -> _data.Dataset:
        return ds

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        pass

    def train_seed(self, ctx: SeedContext) -> SeedResult:
        raise NotImplementedError

    def headline(self, data_info: dict) -> tuple[str, tuple[str, ...]]:
        return ("f1" if imbalance(data_info) else "accuracy"), CLASSIFICATION

    def headline_note(self, data_info: dict) -> str | None:
        """Why the headline metric ranks the arms, when a reader would expect another (None: it is the usual one)."""
        return imbalance(data_info) if self.headline(data_info)[0] == "f1" else None

    def gap_metric(self, metric: str) -> str:
        """The test metric set against train_accuracy for the generalization gap."""
        return "accuracy" if metric == "f1" else metric  # train_accuracy is an accuracy, whatever ranks the arms

    def comparison(self, metric: str) -> dict:
        """Extra arguments of evaluate.compare_arms for this metric (scale and unit of a non-percentage)."""
        return {}

    def size(self, cfg: Study, data_info: dict, ok: list[dict]) -> Size:
        return Size(None)

    def summarize(self, study: Study, cfg: Study, run: RunDir, arm: str, ok: list[dict], data_info: dict) -> dict:
        return {}

    def study_extras(self, study: Study, arms: dict[str, Study], out_arms: dict) -> dict:
        return {}

    def after_seeds(self, study: Study, arms: dict[str, Study], datasets: dict, run: RunDir, device) -> None:
        pass

    def lr_range(self, cfg: Study, ds: _data.Dataset, device: torch.device) -> dict:
        """The learning-rate range test of one arm (deepstudy.train.lr_range_test's result)."""
        raise UserError(f"task: {self.name} has no learning-rate range test")

    def precision_probe(self, cfg: Study, ds: _data.Dataset, device: torch.device):
        """What ``precision: auto`` times (a train.precision.ProbeSetup), or None: no probe, auto means fp32."""
        return None

    def data_notes(self, arms: dict[str, Study], info: dict) -> list[str]:
        """Sentences for data.json's notes on how this task uses the data (e.g. cross-validation folds)."""
        return []


_REGISTRY: dict[str, Task] = {}
_BUILTIN = {  # the built-in tasks: module of deepstudy.tasks -> its class (one line per task)
    "classify": "ClassifyTask",
    "forecast": "ForecastTask",
    "scratch": "ScratchTask",
    "classical": "ClassicalTask",
    "som": "SomTask",
    "reconstruct": "ReconstructTask",
    "generate": "GenerateTask",
    "language_model": "LanguageModelTask",
}


def register(task: Task) -> Task:
    """Make ``task`` available as ``task: <task.name>`` in study files (replaces one of the same name); a task new
    to the config gets its study class from ``task.config_keys``."""
    from deepstudy import config

    if task.name not in config.STUDY_TYPES:
        if task.config_keys is None:
            raise ValueError(f"task '{task.name}' needs config_keys (the train and data keys it reads)")
        config.define(task.name, **task.config_keys, doc=(task.__doc__ or "").strip().splitlines()[0])
    _REGISTRY[task.name] = task
    return task


def _load_builtin() -> None:
    if not _REGISTRY.keys() >= {m.replace("_", "-") for m in _BUILTIN}:
        for module, cls in _BUILTIN.items():
            task = getattr(import_module(f"deepstudy.tasks.{module}"), cls)()
            _REGISTRY.setdefault(task.name, task)


def get(name: str) -> Task:
    _load_builtin()
    if name not in _REGISTRY:
        raise UserError(f"unknown task '{name}'{closest(name, _REGISTRY)}; tasks: {', '.join(names())}")
    return _REGISTRY[name]


def owner(kind: str) -> tuple[Task, str] | None:
    """The task that alone reads data of ``kind`` (e.g. series: forecast), and why, if there is one."""
    _load_builtin()
    return next(((t, t.owns[kind]) for t in _REGISTRY.values() if kind in t.owns), None)


def names() -> list[str]:
    _load_builtin()
    return list(_REGISTRY)
