"""The monitor: which epoch's weights are the best, and when patience runs out (early stopping)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Monitor:
    """Tracks the validation metric that picks the best checkpoint and drives early stopping
    (metric "last": every epoch counts as the best, so the final weights are tested)."""

    metric: str = "val_loss"
    patience: int | None = None
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value: float | None, epoch: int) -> bool:
        if self.metric == "last":  # no selection: the final epoch's weights are the ones tested
            self.best_epoch = epoch
            return True
        sign = -1.0 if self.metric.endswith("loss") else 1.0
        improved = self.best is None or sign * (value - self.best) > self.min_delta
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]
