"""`make bench`'s summary table (benchmarks/summary.py): the row helper of the results schema, the table over a folder
of results files (own rows, adapted, unknown), and over the committed benchmarks/results/."""
from __future__ import annotations

import doctest
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import common, summary

REAL_RESULTS = Path(common.__file__).resolve().parent / "results"
REPO = REAL_RESULTS.parents[1]


def test_row_helper_keeps_n_and_spread_and_computes_the_ratio():
    ours, ref = common.timing([2.0, 3.0, 4.0], "ms"), common.timing([5.0, 6.0, 7.0, 8.0], "ms")
    r = common.row("step time", ours, common.side(ref, what="plain loop"), target="<= 0.6", met=True)
    assert r["ours"] == {"value": 3.0, "unit": "ms", "n": 3, "std": 1.0}
    assert r["reference"]["what"] == "plain loop" and r["reference"]["n"] == 4
    assert r["reference"]["std"] == pytest.approx(1.2909944)
    assert r["ratio"] == pytest.approx(3.0 / 6.5) and r["ratio_of"] == "median"
    assert set(r) == {"benchmark", "ours", "reference", "ratio", "ratio_of", "target", "met"}
    by_mean = common.row("mean", ours, ref, ratio_of="mean")
    assert by_mean["ours"]["value"] == 3.0 and by_mean["ratio"] == pytest.approx(3.0 / 6.5)
    one = common.row("one run", common.timing([61.0]), None, target=None)
    assert one["ours"]["n"] == 1 and one["ours"]["std"] is None and one["ratio"] is None and one["met"] is None
    seeds = common.row("accuracy", {"mean": 0.9, "std": 0.01, "n": 3}, {"mean": 0.8, "std": 0.02, "n": 3}, met=False)
    assert seeds["ratio_of"] == "mean" and seeds["ratio"] == pytest.approx(1.125) and seeds["met"] is False
    assert common.row("units differ", (1.0, "s"), (2.0, "ms"))["ratio"] is None  # no ratio across units
    assert common.row("signs", 3.0, -2.0)["ratio"] is None  # nor of a negative score
    with pytest.raises(TypeError, match="cannot read"):
        common.row("bad", "fast", None)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for fn in (common.row, common.side):
        for test in finder.find(fn, fn.__name__, globs=vars(common)):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_evidence_records_threads_versions_cpu_and_git():
    ev = common.evidence()
    import numpy
    import torch

    assert ev["torch_threads"] == torch.get_num_threads() and ev["torch"] == torch.__version__
    assert ev["numpy"] == numpy.__version__ and ev["cpu"] and "cpu_flags" in ev
    assert "git_describe" in ev and ev["dirty"] in (True, False, None)


def _write(folder: Path, name: str, payload: dict) -> None:
    (folder / f"{name}.json").write_text(json.dumps({"benchmark": name, **payload}))


def _body(text: str) -> list[list[str]]:
    """The cells of the summary's first table (the claims), header first."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    table = lines[:lines.index(next(x for x in lines[1:] if x.startswith("| file ")))] if any(
        x.startswith("| file ") for x in lines) else lines
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in table]


def test_summary_of_own_rows_adapted_and_unknown_files(tmp_path):
    evidence = {"git": "a" * 40, "git_describe": "aaaaaaa", "dirty": False, "cpu": "Test CPU", "torch_threads": 2,
                "torch": "2.0", "numpy": "2.0", "cpu_flags": {"avx2": True, "amx_bf16": False}, "date": "2026-01-02"}
    rows = [common.row("speedrun: time to 99 %", common.timing([2.0, 3.0, 4.0]), common.side(common.timing([5.0, 6.0]),
                       what="published recipe"), target="<= 0.6x", met=True),
            common.row("parity", 1e-7, None, target="<= 1e-6", met=False)]
    _write(tmp_path, "own", {"rows": rows, "evidence": evidence})
    _write(tmp_path, "search_jobs", {"target": 0.65, "runs": {"w": {
        "1": {"trials_seconds": 10.0}, "2": {"trials_seconds": 8.0}, "ratio": 0.8, "met": False}},
        "evidence": {**evidence, "git_describe": "bbbbbbb-dirty", "dirty": True, "cpu": "Other CPU", "date": "2026-01-03"}})
    _write(tmp_path, "mystery", {"speed": 3})
    (tmp_path / "broken.json").write_text("{not json")
    md = tmp_path / "out.md"
    text = summary.main(tmp_path, markdown=md)
    assert md.read_text() == text
    cells = _body(text)
    assert cells[0] == list(summary.COLUMNS)
    by_name = {c[0]: c for c in cells[1:]}
    assert by_name["speedrun: time to 99 %"][1:] == ["3 s ± 1 (n=3)", "published recipe: 5.5 s ± 0.71 (n=2)",
                                                     "0.545 (median)", "<= 0.6x", "yes"]
    assert by_name["parity"][1:] == ["1e-07", "—", "—", "<= 1e-6", "NO"]
    jobs = by_name["search --jobs 2 vs --jobs 1, 16 trials' wall time (w)"]
    assert jobs[1:] == ["8 s", "--jobs 1: 10 s", "0.800 (one run each (n = 1))", "<= 0.65", "NO"]
    assert "mystery.json: no summary rows" in text and "broken.json: no summary rows (JSONDecodeError" in text
    assert "1 met, 2 not met" in text
    # environments differ: per file, the older file marked against the newest (search_jobs.json)
    own_env = next(line for line in text.splitlines() if line.startswith("| own.json"))
    assert "differs: commit, CPU" in own_env and "Test CPU" in own_env
    assert "dirty tree" in next(line for line in text.splitlines() if line.startswith("| search_jobs.json"))
    assert "Shared by every file: " in text and "torch 2.0" in text


def test_summary_of_agreeing_files_prints_one_environment_block(tmp_path):
    evidence = {"git_describe": "ccccccc", "dirty": False, "cpu": "Test CPU", "torch_threads": 4, "torch": "2.1",
                "numpy": "2.2", "date": "2026-01-02"}
    for name in ("a", "b"):
        _write(tmp_path, name, {"rows": [common.row(f"claim {name}", 1.0, None)], "evidence": evidence})
    text, rows = summary.summarize(tmp_path)
    assert [r["benchmark"] for r in rows] == ["claim a", "claim b"]
    assert "## Environment (the same for every file)" in text and "- threads: 4" in text and "- commit: ccccccc" in text
    assert "| file " not in text


def test_summary_of_the_committed_results(tmp_path):
    """Every committed results file gives rows (its own or its adapter's); the recorded verdicts come through."""
    names = sorted(p.stem for p in REAL_RESULTS.glob("*.json"))
    assert len(names) >= 16
    for name in names:
        payload = json.loads((REAL_RESULTS / f"{name}.json").read_text())
        got = summary.rows_of(name, payload)
        assert got, f"{name}: no summary rows"
        for r in got:
            assert set(r) >= {"benchmark", "ours", "reference", "ratio", "target", "met"} and r["met"] in (True, False, None)
    text, rows = summary.summarize(REAL_RESULTS)
    assert "no summary rows" not in text
    executors = json.loads((REAL_RESULTS / "executors.json").read_text())
    if "rows" not in executors:  # the adapted file: one row per executor, the target and verdict as recorded
        jobs = next(r for r in rows if r["benchmark"].startswith("executors: --jobs 2"))
        assert ">= 1.6" in jobs["target"] and jobs["met"] is executors["met"]["processes"]
        assert executors["met"]["processes"] is (executors["speedup"]["processes"] >= executors["target"])
        assert jobs["ours"]["n"] == executors["timing"]["processes"]["n"] == executors["repeats"]
        assert jobs["ratio"] == pytest.approx(1 / executors["speedup"]["processes"])
    accuracy = json.loads((REAL_RESULTS / "study_accuracy.json").read_text())
    if "rows" not in accuracy:  # one row per accuracy target
        targets = [t for r in accuracy["results"] for t in r["targets"].values()]
        studies = [r for r in rows if "): test " in r["benchmark"]]  # "mlp-vs-cnn (mnist): test accuracy, ..."
        assert [r["met"] for r in studies] == [t["met"] for t in targets] and len(studies) == len(targets)
    # `python -m benchmarks summary`: the same table, nothing trained; the committed SUMMARY.md is up to date
    folder = tmp_path / "results"
    shutil.copytree(REAL_RESULTS, folder)
    out = subprocess.run([sys.executable, "-c", f"from benchmarks import summary; summary.main({str(folder)!r})"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == text == (folder / "SUMMARY.md").read_text()
    assert (REAL_RESULTS / "SUMMARY.md").read_text() == text, "benchmarks/results/SUMMARY.md is stale: run " \
                                                               "`python -m benchmarks summary`"


def test_an_isa_capped_file_is_marked_and_its_kernels_shown(tmp_path):
    """benchmarks/isa.py: <name>.avx2.json sits beside <name>.json; its rows say the kernels were held to AVX2, and
    the environment table shows each file's kernels (adapted files too: trainer_overhead has no rows of its own)."""
    evidence = {"git_describe": "ccccccc", "dirty": False, "cpu": "Test CPU", "torch_threads": 1, "torch": "2.1",
                "numpy": "2.2", "date": "2026-01-02", "torch_cpu_capability": "AVX512"}
    rows = [common.row("speedrun fp32", common.timing([2.0, 3.0]), common.timing([5.0, 6.0]), met=True)]
    _write(tmp_path, "speed", {"rows": rows, "evidence": evidence})
    _write(tmp_path, "speed.avx2", {"rows": rows, "evidence": {**evidence, "torch_cpu_capability": "AVX2",
                                                                "isa_cap": "avx2", "date": "2026-01-03"}})
    text, got = summary.summarize(tmp_path)
    assert [r["benchmark"] for r in got] == [
        "speedrun fp32", "speedrun fp32 [AVX2 kernels only, on Test CPU: an emulated AVX2-only CPU]"]
    table = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| speed")}
    assert "| AVX2 " in table["speed.avx2.json"] and "| AVX512 " in table["speed.json"]
    assert "differs: kernels" in table["speed.json"]  # against the newest file, the capped one


def test_the_avx2_caps_take_and_deepstudy_then_sees_no_native_bf16():
    """The variables benchmarks/isa.py starts a process with hold torch to AVX2 kernels (it reports them), and
    train.cpu_supports_bf16 then says no, so precision auto and an explicit bf16 behave as on an AVX2-only CPU."""
    from benchmarks import isa

    env = {**__import__("os").environ, **isa.environment("avx2"), "DEEPSTUDY_BENCH_ISA": "avx2"}
    code = ("from benchmarks import isa; from deepstudy import train; e = isa.evidence(); "
            "print(e['isa_cap'], e['torch_cpu_capability'], train.cpu_supports_bf16())")
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["avx2", "AVX2", "False"]
    with pytest.raises(SystemExit, match="choose one of avx2"):
        isa.environment("avx9")


def test_results_written_earlier_in_the_same_run_do_not_make_the_code_dirty(tmp_path, monkeypatch):
    """`python -m benchmarks A B`: A's results file and SUMMARY.md change before B is measured; B's evidence still
    names the committed code (a change to the code itself is dirty)."""
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "SUMMARY.md").write_text("old\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    monkeypatch.setattr(common, "RESULTS", results)
    (results / "SUMMARY.md").write_text("new\n")
    (results / "a.json").write_text("{}\n")
    describe, dirty = common._source_state()
    assert dirty is False and not describe.endswith("-dirty")
    (tmp_path / "code.py").write_text("x = 2\n")
    describe, dirty = common._source_state()
    assert dirty is True and describe.endswith("-dirty")
