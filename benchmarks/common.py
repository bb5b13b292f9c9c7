"""Evidence attached to every benchmark result: hardware, versions, command, time.

Provenance: ``evidence()`` records ``git describe --always --dirty`` and the CPU's model and flags (AVX2,
AVX-512, bf16, AMX: present or not). A results file written from a tree with uncommitted changes is not refused:
it is marked ``"dirty": true`` (top level and in the evidence), so the numbers say they may not match any commit.

Timings: every reported time is a ``timing()`` record — its unit, n, median, mean, spread (sample std, min, max;
None for a single run) and every run — so a reader sees how many measurements a number rests on and how much
they varied. The benchmarks interleave the things they compare (so machine-load drift hits all of them) and wrap
the times each collected; a whole study or search timed once is ``timing([seconds])``: n = 1, spread None, said so.
Ratios between two timings are ratios of medians, and say so (``"ratio_of": "median"``).

Summary rows: ``row()`` builds one claim of a results file's ``"rows"`` list (/work/bench-rows.md's schema: benchmark,
ours, reference, ratio, ratio_of, target, met), each side as value, unit, n and std, from a ``timing()`` record, an
``evaluate.describe`` record (mean over seeds) or a plain value; benchmarks/summary.py prints every file's rows as
the one table ``make bench`` ends with.
"""
from __future__ import annotations

import datetime as _dt
import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks import isa
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


def side(measured, unit: str | None = None, *, what: str | None = None, stat: str = "median") -> dict | None:
    """One side of a summary row: ``{"value", "unit", "n", "std"}`` (and ``"what"`` where given), or None.

    ``measured``: a ``timing()`` record (value = its ``stat``, median or mean; std = its spread's, None for one run),
    an ``evaluate.describe`` record (value = mean over seeds), a side already, a ``(value, unit)`` pair or a number.

    Example:
        >>> side(timing([1.0, 2.0, 6.0], "ms"))
        {'value': 2.0, 'unit': 'ms', 'n': 3, 'std': 2.6457513110645907}
        >>> side({"mean": 0.9, "std": 0.01, "n": 3, "values": [0.89, 0.9, 0.91]}, what="scikit-learn")
        {'value': 0.9, 'unit': None, 'n': 3, 'std': 0.01, 'what': 'scikit-learn'}
        >>> side((2e-7, None)), side(None)
        ({'value': 2e-07, 'unit': None, 'n': None, 'std': None}, None)
    """
    return _side(measured, unit, what, stat)[0]


def _side(measured, unit: str | None, what: str | None, stat: str) -> tuple[dict | None, str | None]:
    """The side and the statistic its value is (median / mean; "value" for a plain number)."""
    if measured is None:
        return None, None
    if isinstance(measured, tuple):
        measured, unit = measured
    if isinstance(measured, dict) and "value" in measured:  # a side already
        out, used = dict(measured), "value"
    elif isinstance(measured, dict) and "runs" in measured:  # timing()
        out = {"value": measured[stat], "unit": measured["unit"], "n": measured["n"],
               "std": (measured["spread"] or {}).get("std")}
        used = stat
    elif isinstance(measured, dict) and "mean" in measured:  # evaluate.describe: mean over seeds
        out, used = {"value": measured["mean"], "unit": unit, "n": measured.get("n"), "std": measured.get("std")}, "mean"
    elif isinstance(measured, (int, float)) and not isinstance(measured, bool):
        out, used = {"value": float(measured), "unit": unit, "n": None, "std": None}, "value"
    else:
        raise TypeError(f"side(): cannot read {measured!r} as a measurement (a timing record, a describe record, "
                        "a (value, unit) pair or a number)")
    if out.get("unit") is None and unit is not None:
        out["unit"] = unit
    if what is not None:
        out["what"] = what
    return out, used


def row(benchmark: str, ours, reference, *, ratio: float | None = None, ratio_of: str | None = None,
        target: str | None = None, met: bool | None = None) -> dict:
    """One claim of a results file's ``"rows"`` (the summary table's row): ours vs reference, ratio, target, met.

    ``ours`` / ``reference``: anything ``side()`` reads (reference None where there is none). Where ``ratio`` is not
    given and both sides have the same unit and positive values, it is ours / reference of the values, and
    ``ratio_of`` says of what (median, mean; a timing record gives the statistic named by ``ratio_of``, median by
    default).

    Example:
        >>> r = row("demo: step time", timing([2.0, 3.0, 4.0], "ms"), timing([4.0, 4.0, 5.0], "ms"),
        ...         target="<= 0.8", met=True)
        >>> r["ours"], r["reference"]["n"], r["ratio"], r["ratio_of"], r["met"]
        ({'value': 3.0, 'unit': 'ms', 'n': 3, 'std': 1.0}, 3, 0.75, 'median', True)
        >>> p = row("parity: max |diff|", 2e-7, None, target="<= 1e-6", met=True)
        >>> p["reference"], p["ratio"], p["ours"]["value"]
        (None, None, 2e-07)
    """
    stat = ratio_of if ratio_of in ("median", "mean") else "median"
    o, o_stat = _side(ours, None, None, stat)
    r, r_stat = _side(reference, None, None, stat)
    if (ratio is None and o is not None and r is not None and o.get("unit") == r.get("unit")
            and all(isinstance(s["value"], (int, float)) and s["value"] > 0 for s in (o, r))):  # no ratio of signs
        ratio = o["value"] / r["value"]
        stats = {o_stat, r_stat} - {"value"}  # a plain value pairs with either statistic
        ratio_of = ratio_of or (" / ".join(s for s in (o_stat, r_stat) if s in stats) if len(stats) > 1
                                else next(iter(stats), "value"))
    return {"benchmark": benchmark, "ours": o, "reference": r, "ratio": None if ratio is None else float(ratio),
            "ratio_of": ratio_of if ratio is not None else None, "target": target,
            "met": None if met is None else bool(met)}


def evidence() -> dict:
    """Where and from what a result was measured: repro.environment's CPU model (``cpu``) and flags (``cpu_flags``),
    ``torch_threads`` (torch.get_num_threads()), ``torch`` and ``numpy`` versions, Python, platform; plus
    ``git describe --always --dirty``, ``dirty``, the command line and the date."""
    describe, dirty = _source_state()
    return {**repro.environment(torch.device("cpu")), **isa.evidence(), "git_describe": describe, "dirty": dirty,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "date": _dt.datetime.now().isoformat(timespec="seconds")}


def _source_state() -> tuple[str | None, bool | None]:
    """(``git describe --always``, with '-dirty' when the code has uncommitted changes; whether it has). Changes
    under benchmarks/results/ are not the code's: ``python -m benchmarks A B`` writes A's file and SUMMARY.md before
    B is measured, and B's numbers are still from the committed code."""
    root = RESULTS.parents[1]
    try:
        described = subprocess.run(["git", "describe", "--always"], capture_output=True, text=True, timeout=5, cwd=root)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                 ":(exclude)benchmarks/results"], capture_output=True, text=True, timeout=5, cwd=root)
    except (OSError, subprocess.SubprocessError):
        return None, None
    if described.returncode or status.returncode or not described.stdout.strip():
        return None, None
    dirty = bool(status.stdout.strip())
    return described.stdout.strip() + ("-dirty" if dirty else ""), dirty


def write(name: str, payload: dict) -> Path:
    """benchmarks/results/<name>.json: ``payload`` with its evidence; under ``--isa`` (benchmarks/isa.py)
    <name>.<isa>.json, beside the file of the CPU's own kernels (the summary marks its rows)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    ev = evidence()
    path = RESULTS / (f"{name}.{ev['isa_cap']}.json" if ev["isa_cap"] else f"{name}.json")
    path.write_text(json.dumps({"benchmark": name, "dirty": ev["dirty"], **payload, "evidence": ev}, indent=2) + "\n")
    print(f"wrote {path}" + (" (from a tree with uncommitted changes: marked dirty)" if ev["dirty"] else ""))
    from benchmarks import summary  # here: summary imports this module

    (RESULTS / summary.MARKDOWN).write_text(summary.summarize(RESULTS)[0])  # the table stays current with the files
    return path
