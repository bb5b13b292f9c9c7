"""Evidence attached to every benchmark result: hardware, versions, command, time.

Provenance: ``evidence()`` records ``git describe --always --dirty`` and the CPU's model and flags (AVX2,
AVX-512, bf16, AMX: present or not). A results file written from a tree with uncommitted changes is not refused:
it is marked ``"dirty": true`` (top level and in the evidence), so the numbers say they may not match any commit.
"""
from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path

import torch

from deepstudy import repro

RESULTS = Path(__file__).resolve().parent / "results"


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
