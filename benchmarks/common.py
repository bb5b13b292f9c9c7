"""Evidence attached to every benchmark result: hardware, versions, command, time.

Provenance: ``evidence()`` records ``git describe --always --dirty`` and the CPU's model and flags (AVX2,
AVX-512, bf16, AMX: present or not). A results file written from a tree with uncommitted changes is not refused:
it is marked ``"dirty": true`` (top level and in the evidence), so the numbers say they may not match any commit.

Timings: every reported time is a ``timing()`` record — its unit, n, median, mean, spread (sample std, min, max;
None for a single run) and every run — so a reader sees how many measurements a number rests on and how much
they varied. The benchmarks interleave the things they compare (so machine-load drift hits all of them) and wrap
the times each collected; a whole study or search timed once is ``timing([seconds])``: n = 1, spread None, said so.
Ratios between two timings are ratios of medians, and say so (``"ratio_of": "median"``).
"""
from __future__ import annotations

import datetime as _dt
import json
import statistics
import sys
from pathlib import Path

import torch

from deepstudy import repro

RESULTS = Path(__file__).resolve().parent / "results"


def timing(runs: list[float], unit: str = "s") -> dict:
    """n and spread of repeated measurements of one time, in ``unit``.

    Example:
        >>> t = timing([2.0, 1.0, 4.0], "ms")
        >>> t["n"], t["median"], round(t["mean"], 3), round(t["spread"]["std"], 3), t["spread"]["min"], t["spread"]["max"]
        (3, 2.0, 2.333, 1.528, 1.0, 4.0)
        >>> timing([61.0], "s")["spread"] is None  # one run: no spread to report
        True
    """
    runs = [float(r) for r in runs]
    if not runs:
        raise ValueError("timing() needs at least one run")
    spread = {"std": statistics.stdev(runs), "min": min(runs), "max": max(runs)} if len(runs) > 1 else None
    return {"unit": unit, "n": len(runs), "median": statistics.median(runs), "mean": statistics.fmean(runs),
            "spread": spread, "runs": runs}


def evidence() -> dict:
    describe = repro.git_describe()
    return {**repro.environment(torch.device("cpu")), "git_describe": describe,
            "dirty": None if describe is None else describe.endswith("-dirty"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "date": _dt.datetime.now().isoformat(timespec="seconds")}


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    ev = evidence()
    path.write_text(json.dumps({"benchmark": name, "dirty": ev["dirty"], **payload, "evidence": ev}, indent=2) + "\n")
    print(f"wrote {path}" + (" (from a tree with uncommitted changes: marked dirty)" if ev["dirty"] else ""))
    return path
