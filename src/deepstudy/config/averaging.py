"""The ``train.ema`` and ``train.swa`` sections: averages of the weights taken while a model trains
(deepstudy.train.averaging). Either is off unless given; ``train.l1`` sits beside them in the train section.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EmaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # as every section
    decay: float = Field(0.999, gt=0, lt=1, description=(
        "Each optimizer step the average moves (1 - decay) of the way to the new weights (batch-norm statistics "
        "too): an average over about 1 / (1 - decay) steps."))


class SwaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    start: int = Field(..., ge=1, description=(
        "The first epoch averaged (counted from 1, at most train.epochs): the weights at the end of it and of "
        "every later epoch are averaged with equal weight."))
    lr: float | None = Field(None, gt=0, description=(
        "The learning rate from `start` on (torch's SWALR anneals to it; the schedule stops there); default: "
        "train.optimizer.lr."))
    anneal_epochs: int = Field(5, ge=0, description=(
        "Epochs over which the rate moves from where the schedule left it to `lr` (cosine; 0: at once)."))


def averaging_rules(t) -> list[tuple[object, str]]:
    """(broken, message) rules of train.ema / train.swa that need the rest of the train section ``t``."""
    return [
        (t.swa and t.swa.start > t.epochs, f"train.swa.start {t.swa.start if t.swa else 0} is after the last "
         f"epoch ({t.epochs}); set it to at most train.epochs"),
        (t.swa and t.ema, "train.ema and train.swa both replace the tested weights by an average; keep one of them"),
        (t.swa and t.early_stopping.patience, "train.swa averages the weights up to the last epoch, so "
         "early_stopping.patience cannot stop it; remove one of them"),
    ]
