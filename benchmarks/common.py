"""Evidence attached to every benchmark result: hardware, versions, command, time."""
from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path

import torch

from deepstudy import repro

RESULTS = Path(__file__).resolve().parent / "results"


def evidence() -> dict:
    return {**repro.environment(torch.device("cpu")), "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "date": _dt.datetime.now().isoformat(timespec="seconds")}


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, **payload, "evidence": evidence()}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
