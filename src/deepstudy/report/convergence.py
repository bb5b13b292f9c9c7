"""How fast each arm's training loss gets somewhere: optimizer steps to a target loss, under the learning curves.

Comparing optimizers (or rates, or schedules) by their final accuracy hides how fast they got there. The target
is one every sound arm reaches: the highest of the arms' final training losses (each arm's median over its seeds)
among the arms whose curves show no divergence, plateau or non-finite loss (report/diagnostics.py) — so the
slowest sound arm reaches it at its last epoch and every other arm earlier. An arm's steps to the target are the
optimizer steps (metrics.jsonl's per-epoch ``steps``, summed) up to the end of the first epoch whose mean training
loss is at or below it: epoch resolution, from the files, at report time. A seed that never gets there is counted
as such, never as a number.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from deepstudy.fileio import read_jsonl
from deepstudy.report.diagnostics import _finite
from deepstudy.rundir import RunDir

UNSOUND = {"non-finite", "diverged", "plateau"}  # a curve that says nothing about speed to a loss


def steps_to(rows: list[dict], target: float) -> int | None:
    """Optimizer steps to the end of the first epoch whose training loss is <= ``target`` (None: never)."""
    steps = 0
    for r in rows:
        steps += r.get("steps") or 0
        if _finite(r.get("train_loss")) and r["train_loss"] <= target:
            return steps
    return None


def notes(run_dir: Path, results: dict, findings: dict[str, list[dict]]) -> list[str]:
    """The paragraph's sentence: the target and each arm's steps to it (mean ± std over the seeds that reach it),
    with at least two arms of which one is sound; otherwise nothing."""
    run = RunDir(Path(run_dir))
    curves = {arm: [read_jsonl(run.seed(arm, s["seed"]).metrics) for s in info["seeds"]]
              for arm, info in results["arms"].items()}
    curves = {arm: [rows for rows in runs if rows and "steps" in rows[0]] for arm, runs in curves.items()}
    curves = {arm: runs for arm, runs in curves.items() if runs}
    finals = {arm: statistics.median(rows[-1]["train_loss"] for rows in runs) for arm, runs in curves.items()
              if not any(f["kind"] in UNSOUND for f in findings.get(arm, ()))
              and all(_finite(rows[-1].get("train_loss")) for rows in runs)}
    if len(curves) < 2 or not finals:
        return []
    target = max(finals.values())
    said = []
    for arm, runs in curves.items():
        steps = [s for rows in runs if (s := steps_to(rows, target)) is not None]
        if not steps:
            said.append(f"{arm} never")
            continue
        spread = f" ± {statistics.stdev(steps):,.0f}" if len(steps) > 1 else ""
        missed = f", {len(runs) - len(steps)} of {len(runs)} seeds never" if len(steps) < len(runs) else ""
        said.append(f"{arm} {statistics.fmean(steps):,.0f}{spread}{missed}")
    slowest = max(finals, key=finals.get)
    return [f"Optimizer steps to a training loss of {target:.4g} (the final training loss of {slowest}, the highest "
            f"among the arms whose curves are sound; mean ± std over seeds, counted at the end of the first epoch at "
            f"or below it): " + "; ".join(said) + "."]
