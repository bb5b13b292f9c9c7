"""The ``search:`` section of a study file: a space over dotted config keys, sampler, pruner, budget.

Only what the section alone can tell is checked here (a distribution's form and bounds, a grid over a
continuous range, ``trials: 0``); what needs the study (an unknown key, a metric the task does not produce)
is checked by ``deepstudy.search.check`` — both before a run directory exists.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from deepstudy.config.sections import _Section

KINDS = ("uniform", "loguniform", "int", "choice")
EXAMPLE = "e.g. train.optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}"


@dataclass(frozen=True)
class Dimension:
    """One searched key: ``kind`` over ``[low, high]`` (int: with ``step``, ``log``) or over ``choices``; searched
    only in trials where every key of ``when`` has that value."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    when: tuple[tuple[str, Any], ...] = ()

    @property
    def labels(self) -> list[str]:
        """A choice's values as Optuna sees them: JSON text, so a list (``[16, 32]``) is one category."""
        return [json.dumps(c) for c in self.choices]

    def grid(self) -> list[Any]:
        """The values a grid search visits (only discrete dimensions have them)."""
        if self.kind == "choice":
            return self.labels
        return list(range(int(self.low), int(self.high) + 1, self.step or 1))


def parse(key: str, spec: Any) -> Dimension:
    """``{loguniform: [lo, hi]}`` ... as a Dimension, or a ValueError of one line naming the key."""
    where = f"search.space['{key}']"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a mapping with one of {', '.join(KINDS)}, {EXAMPLE}")
    kinds = [k for k in KINDS if k in spec]
    extra = sorted(set(spec) - {*KINDS, "step", "log", "when"})
    if len(kinds) != 1 or extra:
        bad = f"unknown key '{extra[0]}'" if extra else f"{len(kinds)} distributions"
        raise ValueError(f"{where} has {bad}; give exactly one of {', '.join(KINDS)}, {EXAMPLE}")
    kind, value = kinds[0], spec[kinds[0]]
    when = spec.get("when") or {}
    if not isinstance(when, dict) or not all(isinstance(k, str) for k in when):
        raise ValueError(f"{where}.when must map other searched keys to a value, "
                         "e.g. when: {train.optimizer.name: sgd}")
    if kind == "choice":
        if not isinstance(value, list) or not value:
            raise ValueError(f"{where}: choice needs a non-empty list of values, e.g. choice: [[16, 32], [32, 64]]")
        if len({json.dumps(v) for v in value}) != len(value):
            raise ValueError(f"{where}: choice lists a value twice; list each once")
        if "step" in spec or "log" in spec:
            raise ValueError(f"{where}: step and log belong to int ranges, not to a choice")
        return Dimension(key, kind, choices=tuple(value), when=tuple(when.items()))
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{where}: {kind} needs [low, high] (two numbers), {EXAMPLE}")
    low, high = value
    if not low < high:
        raise ValueError(f"{where}: {kind} bounds must be [low, high] with low < high, got [{low}, {high}]")
    log = kind == "loguniform" or bool(spec.get("log"))
    if log and low <= 0:
        raise ValueError(f"{where}: a log scale needs low > 0, got [{low}, {high}] (use uniform for ranges that "
                         "reach 0)")
    step = spec.get("step")
    if kind != "int" and ("step" in spec or "log" in spec):
        raise ValueError(f"{where}: step and log belong to int ranges; {kind} takes [low, high] only")
    if kind == "int":
        if not all(isinstance(v, int) for v in value):
            raise ValueError(f"{where}: int needs whole-number bounds, got [{low}, {high}]")
        if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 1 or log):
            raise ValueError(f"{where}: int's step must be a whole number >= 1 (and not combined with log: true)")
    return Dimension(key, kind, float(low), float(high), step, log, when=tuple(when.items()))


class SearchConfig(_Section):
    """Hyperparameter search (Optuna): the trials each train the study's config with the space's values on one
    seed; the best configuration and the default are then re-trained on fresh seeds and tested once."""

    space: dict[str, dict[str, Any]] = Field(..., description=(
        "Dotted config key -> its distribution: {loguniform: [low, high]}, {uniform: [low, high]}, {int: [low, "
        "high]} (optional step, log: true), {choice: [v1, v2, ...]} (values may be lists). `when: {key: value}` "
        "searches a key only in trials where another searched key has that value (e.g. momentum only for sgd)."))
    sampler: Literal["tpe", "random", "grid", "gp", "cmaes"] = Field("tpe", description=(
        "tpe (Optuna's default), random, grid (every combination of choice and int values), gp (Gaussian "
        "process), cmaes (continuous spaces)."))
    pruner: Literal["none", "median", "successive-halving", "hyperband"] = Field("none", description=(
        "Stops unpromising trials early from the per-epoch validation metric: median (below the median of "
        "earlier trials at the same epoch), successive-halving, hyperband."))
    trials: int | None = Field(None, ge=1, le=10_000, description=(
        "How many configurations to train; grid: every combination when omitted."))
    metric: str | None = Field(None, description=(
        "The per-epoch validation metric a trial is scored by (its best epoch); default: the study's "
        "train.early_stopping.monitor (val_loss when it is 'last'). Direction comes from the task."))
    final_seeds: int = Field(3, ge=2, le=100, description=(
        "Fresh seeds (never used by a trial) on which the best and the default configuration are re-trained "
        "and tested once: the winner's curse, measured."))
    startup_trials: int = Field(5, ge=0, description=(
        "Trials sampled at random before tpe/gp model the space, and before the median pruner prunes."))
    seed: int | None = Field(None, ge=0, description="Seed of the sampler; default: the study's seed.")
    samplers: tuple[Literal["tpe", "random", "grid", "gp", "cmaes"], ...] = Field((), description=(
        "Compare samplers instead of tuning: each sampler's search is repeated `repeats` times with other search "
        "seeds at the same budget, each winner re-trained on final_seeds fresh seeds, and the samplers compared "
        "on those honest scores (study search-vs-random)."))
    repeats: int = Field(1, ge=1, le=100, description="Searches per sampler of `samplers` (each its own search seed).")
    storage: str | None = Field(None, description=(
        "Where trials are recorded: default a journal file in the run directory (safe for several worker "
        "processes); any SQLAlchemy URL (postgresql://...) to share a search between machines."))

    @model_validator(mode="after")
    def _space_is_well_formed(self) -> SearchConfig:
        if not self.space:
            raise ValueError(f"search.space needs at least one key, {EXAMPLE}")
        dims = self.dimensions()
        for d in dims:
            for key, value in d.when:
                target = next((o for o in dims if o.key == key), None)
                if target is None or target.kind != "choice":
                    raise ValueError(f"search.space['{d.key}'].when names '{key}', which is not a searched choice; "
                                     "conditions name another key of the space with choice: [...]")
                if json.dumps(value) not in target.labels:
                    raise ValueError(f"search.space['{d.key}'].when: {value!r} is not one of {key}'s choices")
        if self.samplers and (len(set(self.samplers)) != len(self.samplers) or self.repeats < 2):
            raise ValueError("search.samplers compares each sampler over repeated searches: list each sampler once "
                             "and set search.repeats >= 2 (e.g. samplers: [tpe, random], repeats: 5)")
        if self.repeats > 1 and not self.samplers:
            raise ValueError("search.repeats repeats the searches of search.samplers; list the samplers to compare "
                             "(e.g. samplers: [tpe, random]) or remove repeats")
        if self.samplers and self.trials is None:
            raise ValueError("search.samplers compares samplers at an equal budget; set search.trials")
        for name in self.samplers or (self.sampler,):
            self._check_sampler(name, dims)
        return self

    def _check_sampler(self, name: str, dims: list[Dimension]) -> None:
        if name == "grid":
            continuous = [d.key for d in dims if d.kind in ("uniform", "loguniform") or (d.kind == "int" and d.log)]
            if continuous:
                raise ValueError(f"sampler grid needs discrete values, but '{continuous[0]}' is a continuous range; "
                                 "give it as choice: [...] (or int with step), or use sampler random / tpe")
            if any(d.when for d in dims):
                raise ValueError("sampler grid visits every combination, so it cannot take `when:` conditions; "
                                 "use sampler tpe or random, or split the search into studies")
            size = self.grid_size()
            if self.trials is not None and self.trials > size:
                raise ValueError(f"search.trials={self.trials} exceeds the grid's {size} combinations; set trials "
                                 f"to at most {size} (or omit it to visit them all)")
        elif self.trials is None:
            raise ValueError(f"search.trials is required for sampler {name} (how many configurations to "
                             "train), e.g. trials: 20")
        if name == "cmaes" and any(d.kind == "choice" for d in dims):
            raise ValueError("sampler cmaes models continuous and int ranges only; use tpe for a space with choices")

    def dimensions(self) -> list[Dimension]:
        return [parse(key, spec) for key, spec in self.space.items()]

    def grid_size(self) -> int:
        size = 1
        for d in self.dimensions():
            size *= len(d.grid())
        return size

    def budget(self) -> int:
        return self.trials if self.trials is not None else self.grid_size()
