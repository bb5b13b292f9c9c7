"""Metrics from predictions (scikit-learn), statistics across seeds, and the verdicts a report states.

- :mod:`~deepstudy.evaluate.metrics`: one model's test metrics and its run record;
- :mod:`~deepstudy.evaluate.stats`: mean ± std (95 % interval), Welch, paired t, McNemar, Holm, seeds for power;
- :mod:`~deepstudy.evaluate.verdicts`: ``compare_arms`` — the best arm against each other arm, one sentence each.
"""
from __future__ import annotations

from deepstudy.evaluate.metrics import (bias_variance, boundary_grid, classification_metrics, probe_indices,
                                        run_record, save_boundary, save_predictions, softmax)
from deepstudy.evaluate.stats import describe, holm, mcnemar_p, paired_p, pooled_std, seeds_for_power, welch_p
from deepstudy.evaluate.verdicts import compare_arms

__all__ = ["softmax", "classification_metrics", "save_predictions", "bias_variance", "boundary_grid", "save_boundary",
           "probe_indices", "run_record", "describe", "seeds_for_power", "pooled_std", "welch_p", "paired_p",
           "mcnemar_p", "holm", "compare_arms"]
