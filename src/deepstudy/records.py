"""The typed records a run writes: one per (arm, seed) (result.json) and one per arm (in results.json).

Every task fills the same fields, which the report and the comparisons read; what only one task has (a
language model's n-gram baselines, a SOM's outliers, a GAN's judge) goes in ``extras`` and is written
beside them under its own key. Torch-free, like the report that reads them back as JSON.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
