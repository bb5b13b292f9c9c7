"""The typed records a run writes: one per (arm, seed) (result.json) and one per arm (in results.json).

Every task fills the same fields, which the report and the comparisons read; what only one task has (a
language model's n-gram baselines, a SOM's outliers, a GAN's judge) goes in ``extras`` and is written
beside them under its own key. Torch-free, like the report that reads them back as JSON.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Metrics that are fractions in [0, 1] (shares, probabilities, areas under a curve): the report draws and writes
# them x100 with "%", and their 95 % intervals are kept inside [0, 1]. Every other metric (R², a NAB score,
# perplexity, an error in data units) keeps its own scale. Keyed by the names in results.json (test metrics) and
# metrics.jsonl (per-epoch rows). Not train_accuracy: som and reconstruct keep their final training error there.
FRACTIONS = frozenset({
    "accuracy", "precision", "recall", "f1", "roc_auc", "average_precision",  # classifiers
    "topographic_error", "purity",  # som
    "confidence", "diversity",  # generate's judge
    "train_acc", "val_acc", "val_topographic_error",  # per-epoch rows
})
METRIC_NAMES = {"f1": "macro F1", "roc_auc": "ROC-AUC", "r2": "R²", "mae": "MAE", "rmse": "RMSE",
                "nab_standard": "NAB standard score", "nab_reward_low_FP_rate": "NAB score (reward low FP)",
                "nab_reward_low_FN_rate": "NAB score (reward low FN)", "frechet_distance": "Fréchet distance",
                "bits_per_char": "bits per character", "val_acc": "accuracy", "train_acc": "accuracy",
                "val_topographic_error": "topographic error"}


def metric_name(metric: str) -> str:
    """A metric's name as a reader says it: 'macro F1', 'R²', 'NAB standard score' (results.json keeps the key)."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


@dataclass
class SeedResult:
    """result.json of one finished (arm, seed)."""

    best_epoch: int  # the epoch whose weights were tested (0-based)
    epochs_run: int
    stopped_early: bool
    monitor: dict[str, Any]  # {"metric": validation metric that chose the weights, "best": its value}
    precision: str  # what actually ran (e.g. "fp32 (this CPU has no native bf16; fell back)")
    train_seconds: float
    eval_seconds: float  # validation every epoch + the test pass
    seconds_per_epoch: float | None
    train_accuracy: float | None  # on a probe of the training split: the generalization gap's other side
    test: dict[str, Any]  # the test-split metrics; the study's headline metric among them
    status: str = "ok"
    extras: dict[str, Any] = field(default_factory=dict)  # the task's own keys

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        extras = out.pop("extras")
        return {"status": out.pop("status"), **out, **extras}


@dataclass
class Failure:
    """result.json of a seed that stopped (e.g. a non-finite loss): the study goes on, the report says so."""

    message: str
    status: str = "diverged"

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message}


@dataclass
class ArmSummary:
    """One arm in results.json: what it is, its size, every seed, and mean ± std over seeds of each metric."""

    model: dict[str, Any]
    overrides: dict[str, Any]
    params: int | None
    trainable_params: int | None  # only when fewer than params (frozen layers)
    macs: int | None
    summary: dict[str, dict]  # metric -> evaluate.describe(...) over seeds
    confusion: list | None  # summed over seeds (tasks with class predictions)
    per_class: dict[str, dict]
    seeds: list[dict]  # the seeds' result.json, each with its index
    extras: dict[str, Any] = field(default_factory=dict)  # the task's own keys (Task.summarize)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        return {**out, **out.pop("extras")}
