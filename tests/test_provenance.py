"""Benchmark provenance: every results file says which commit (and whether the tree was dirty) and which CPU
(model and the flags that choose the fast kernels) produced it."""
from __future__ import annotations

import json

from deepstudy import repro


def test_cpu_flags_name_each_flag_that_matters():
    flags = repro.cpu_flags()
    assert flags is None or (set(flags) == set(repro.CPU_FLAGS) and all(isinstance(v, bool) for v in flags.values()))
    assert repro.environment(__import__("torch").device("cpu"))["cpu_flags"] == flags


def test_results_file_records_describe_and_marks_a_dirty_tree(tmp_path, monkeypatch):
    from benchmarks import common

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    for describe, dirty in (("v1-3-gabc1234-dirty", True), ("abc1234", False)):
        # the code's state (git describe, dirty outside benchmarks/results: tests/test_bench_summary.py checks it)
        monkeypatch.setattr(common, "_source_state", lambda d=describe, x=dirty: (d, x))
        saved = json.loads(common.write("toy", {"timings": [1.0]}).read_text())
        assert saved["dirty"] is dirty and saved["evidence"]["git_describe"] == describe
        assert saved["evidence"]["dirty"] is dirty and "cpu" in saved["evidence"] and "cpu_flags" in saved["evidence"]
