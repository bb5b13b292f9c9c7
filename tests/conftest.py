"""Shared fixtures: real-format tiny data written on the fly, the shared data folder, a CLI runner."""
from __future__ import annotations

import gzip
import io
import os
import struct
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DEEPSTUDY_DATA") or REPO.parent / "shared" / "data")


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write an IDX file as the MNIST page describes (big-endian header, then the data)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def make_idx_folder(folder: Path, n_train: int = 120, n_test: int = 40, classes: int = 3, size: int = 12,
                    seed: int = 0) -> Path:
    """A tiny MNIST-format dataset whose classes are learnable (a bright square in a class-specific place)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % classes
        x = rng.integers(0, 60, size=(n, size, size)).astype(np.uint8)
        for i, c in enumerate(y):
            r = 2 + 3 * int(c)
            x[i, r:r + 3, 2:6] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y.astype(np.uint8))
    return folder


@pytest.fixture
def idx_folder(tmp_path: Path) -> Path:
    return make_idx_folder(tmp_path / "tiny-idx")


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set DEEPSTUDY_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never read or write the user's ~/.cache during tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _auto_precision_is_fp32(monkeypatch):
    """train.precision: auto (the default) resolves to fp32 without a timing probe, as on a CPU without native bf16:
    a test's numbers never depend on how fast bf16 happens to be on the machine (tests of auto itself undo this)."""
    from deepstudy import study_precision

    monkeypatch.setattr(study_precision, "native_bf16", lambda: False)


def tiny_study(tmp_path: Path, **overrides) -> Path:
    """A study file that trains in about a second on digits (in fp32, where its task has a precision: the same in a
    subprocess, which the fixture above does not reach)."""
    study = {
        "name": "tiny", "description": "test study", "task": "classify",
        "data": {"name": "digits", "train_limit": 400},
        "model": {"name": "mlp", "hidden": [32]},
        "train": {"epochs": 3, "batch_size": 64, "optimizer": {"name": "adamw", "lr": 0.01}},
        "arms": {"small": {}, "wide": {"model.hidden": [64]}},
        "seeds": 2,
    }
    from deepstudy import config

    if overrides.get("task", "classify") in config.STUDY_TYPES:  # the base keys that task reads (as an arm does)
        study = config.for_task(study, overrides.get("task", "classify"))
    for key, value in overrides.items():
        node = study
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    if "precision" in config.TRAIN_KEYS.get(study.get("task", "classify"), ()):
        study.setdefault("train", {}).setdefault("precision", "fp32")
    if "checkpoint_seconds" in config.TRAIN_KEYS.get(study.get("task", "classify"), ()):
        # every epoch's checkpoint, as the kill / resume / damaged-checkpoint tests expect of a run this short (the
        # default writes one per 2 s of training: tests/test_checkpoint_async.py)
        study.setdefault("train", {}).setdefault("checkpoint_seconds", 0)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


def run_cli(*args: str) -> CliResult:
    """``deepstudy ...`` in-process: exit code, stdout and stderr (an internal error propagates with its traceback)."""
    from deepstudy.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse usage errors
            code = e.code if isinstance(e.code, int) else 2
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """Run ``deepstudy ...`` in-process; returns exit code, stdout and stderr."""
    return run_cli


def python() -> str:
    return sys.executable


def killed_and_clean_runs(study: Path, tmp_path: Path, after_epoch: int = 1):
    """Run ``study`` twice in subprocesses: once to the end (``tmp_path/clean``) and once killed like a SIGKILL after
    ``after_epoch`` (``tmp_path/killed``); returns (clean run dir, killed run dir, resume) — ``resume()`` continues the
    killed run and returns its CompletedProcess."""
    import subprocess
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "deepstudy", "run", str(study), "--out"]
    clean = subprocess.run(cmd + [str(tmp_path / "clean")], capture_output=True, text=True, env=env)
    assert clean.returncode == 0, clean.stderr
    killed = subprocess.run(cmd + [str(tmp_path / "killed")], capture_output=True, text=True,
                            env={**env, "DEEPSTUDY_FAULT_AFTER_EPOCH": str(after_epoch)})
    assert killed.returncode == 137
    run = next((tmp_path / "killed").glob("*/*"))  # <study name>/<timestamp>
    return next((tmp_path / "clean").glob("*/*")), run, lambda: subprocess.run(
        [sys.executable, "-m", "deepstudy", "run", "--resume", str(run)], capture_output=True, text=True, env=env)
