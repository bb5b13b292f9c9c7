"""Results across runs: every run under an output root as one table, and arms of different runs in one comparison.

``list_runs(root, study=None, where=())`` — one ``RunSummary`` per run directory (finished, damaged or
unfinished), filtered by study and by ``KEY=VALUE`` on its config.yaml; ``compare_runs(run_dirs, out)`` — arms
of several runs tested on the same test set, compared with a study's statistics, as comparison.json and an HTML
report. Listing is torch-free; comparing reads the tasks' metric directions (deepstudy.tasks).
"""
from __future__ import annotations

from pathlib import Path

from deepstudy.runs import testset
from deepstudy.runs.listing import RunSummary, config_keys, list_runs

__all__ = ["RunSummary", "compare_runs", "config_keys", "list_runs", "testset"]


def compare_runs(run_dirs: list[str | Path], out: str | Path | None = None, arms: str | None = None,
                 command: str | None = None) -> Path:
    """Compare the arms of finished runs on one test set; writes comparison.json, report.html and report.md to
    ``out`` (default <root>/comparisons/<timestamp>) and returns the HTML path (deepstudy.runs.compare)."""
    from deepstudy.runs.compare import compare_runs as _compare

    return _compare(run_dirs, out, arms, command)
