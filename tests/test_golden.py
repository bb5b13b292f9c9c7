"""Every built-in study, shrunk to 1 seed and 1-2 epochs (tests/golden_studies.py `tiny`), gives exactly the
per-seed results recorded from the code before the task-seam refactor — bit for bit, on the CPU kind the records
were made on (tests/golden/<signature>/; on another CPU kind or torch build these tests skip: re-record there
from a known-good commit with `python tests/golden_studies.py --record`).

The default suite checks five fast studies (classify, scratch, classical, som, reconstruct); `make test-slow`
checks all of them.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import golden_studies as golden
import pytest
from conftest import SHARED_DATA

FAST = ["digits-quickstart", "scratch-mlp", "logistic-regression", "som-clustering", "nab-autoencoder"]  # ~10 s each
ALL = sorted(p.stem for p in golden.STUDIES.glob("*.yaml"))


def _check(name: str) -> None:
    path = golden.golden_path(name)
    if not path.is_file():
        pytest.skip(f"no golden record of {name} for this CPU kind and torch build ({golden.signature()})")
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set DEEPSTUDY_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        got = json.loads(json.dumps(golden.run_study(name, Path(tmp))))
    want = golden.recorded(name)
    assert got.keys() == want.keys(), f"{name}: arms differ"
    for arm in want:
        assert got[arm] == want[arm], f"{name}, arm {arm}: results differ from the golden record"


@pytest.mark.parametrize("name", FAST)
def test_fast_studies_reproduce_their_golden_results(name):
    _check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL if n not in FAST])
def test_every_builtin_study_reproduces_its_golden_results(name):
    _check(name)
