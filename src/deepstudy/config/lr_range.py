"""The `lr_range:` section of a study: the sweep of the learning-rate range test (deepstudy.train.lr_range_test)."""
from __future__ import annotations

from pydantic import Field, model_validator

from deepstudy.config.sections import _Section


class LRRangeConfig(_Section):
    """The learning-rate range test (Smith, 2017): `analyses: [lr-range]` and `deepstudy lr-find`."""

    start: float = Field(1e-7, gt=0, description="First learning rate of the sweep.")
    end: float = Field(10.0, gt=0, description=(
        "Last learning rate of the sweep (it stops earlier where the loss diverges)."))
    steps: int = Field(200, ge=10, le=100000, description=(
        "Training steps of the sweep, each at a rate a constant factor above the previous one (exponential); "
        "the training batches are cycled as often as needed."))
    smooth: float = Field(0.98, ge=0, lt=1, description=(
        "Beta of the exponential moving average of the loss (bias-corrected, as fast.ai); 0: the raw losses."))
    diverge: float = Field(4.0, gt=1, description=(
        "Stop the sweep when the smoothed loss exceeds this many times its best value."))

    @model_validator(mode="after")
    def _end_above_start(self) -> LRRangeConfig:
        if self.end <= self.start:
            where = "at" if self.end == self.start else f"({self.end:g}) below"
            raise ValueError(f"the LR range ends {where} its start ({self.start:g}): set lr_range.end above "
                             "lr_range.start (e.g. start: 1.0e-7, end: 10)")
        return self
