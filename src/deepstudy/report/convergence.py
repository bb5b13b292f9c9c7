"""How fast each arm's training loss gets somewhere: optimizer steps to a target loss, under the learning curves.

Comparing optimizers (or rates, or schedules) by their final accuracy hides how fast they got there. The target
is one every sound arm reaches: the highest of the arms' final training losses (each arm's median over its seeds)
among the arms whose curves show no divergence, plateau or non-finite loss (report/diagnostics.py) — so the
slowest sound arm reaches it at its last epoch and every other arm earlier. An arm's steps to the target are the
optimizer steps (metrics.jsonl's per-epoch ``steps``, summed) up to the end of the first epoch whose mean training
loss is at or below it: epoch resolution, from the files, at report time. A seed that never gets there is counted
as such, never as a number. Losses on different scales are not compared: arms with a teacher (a distillation
loss) or another label smoothing form their own group, with a sentence of their own.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import yaml

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


def _loss_kind(info: dict, base_smoothing: float) -> tuple:
    """What an arm's training loss measures: its scale differs with a teacher (a distillation loss) or label
    smoothing (its floor is above 0), so only arms of one kind are compared."""
    o = info.get("overrides") or {}
    smoothing = o.get("train.label_smoothing", (o.get("train") or {}).get("label_smoothing", base_smoothing))
    return bool(info.get("teacher")), smoothing


def notes(run_dir: Path, results: dict, findings: dict[str, list[dict]],
          curves: dict[str, list[list[dict]]] | None = None) -> list[str]:
    """One sentence per group of at least two arms whose training losses are comparable (``_loss_kind``), one of
    them sound: the target and each arm's steps to it (mean ± std over the seeds that reach it). ``curves``: each
    arm's seeds' metrics.jsonl rows where the caller has read them already (diagnostics.for_run)."""
    run = RunDir(Path(run_dir))
    base = (yaml.safe_load(run.config.read_text()) or {}) if run.config.is_file() else {}  # checked when it ran
    base_smoothing = (base.get("train") or {}).get("label_smoothing", 0.0)
    groups: dict[tuple, dict] = {}
    for arm, info in results["arms"].items():
        runs = (curves or {}).get(arm) or [read_jsonl(run.seed(arm, s["seed"]).metrics) for s in info["seeds"]]
        runs = [rows for rows in runs if rows and "steps" in rows[0]]
        if runs:
            groups.setdefault(_loss_kind(info, base_smoothing), {})[arm] = runs
    named = len(groups) > 1
    return [line for curves in groups.values() if (line := _sentence(curves, findings, named))]


def _sentence(curves: dict[str, list[list[dict]]], findings: dict[str, list[dict]], named: bool) -> str | None:
    finals = {arm: statistics.median(rows[-1]["train_loss"] for rows in runs) for arm, runs in curves.items()
              if not any(f["kind"] in UNSOUND for f in findings.get(arm, ()))
              and all(_finite(rows[-1].get("train_loss")) for rows in runs)}
    if len(curves) < 2 or not finals:
        return None
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
    among = f"the arms {', '.join(curves)} (same loss)" if named else "the arms"
    return (f"Optimizer steps to a training loss of {target:.4g} (the final training loss of {slowest}, the highest "
            f"among {among} whose curves are sound; mean ± std over seeds, counted at the end of the first epoch at "
            f"or below it): " + "; ".join(said) + ".")
