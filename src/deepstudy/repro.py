"""Randomness as an explicit input: derived seeds, deterministic settings, environment record.

Every random stream of a run is seeded from ``derive_seed(study_seed, arm, seed_index, part,
epoch)``. Seeding each epoch afresh (data order, augmentation, dropout) makes the RNG state at
any epoch boundary derivable, so a resumed run needs no saved generator state to end identical.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import platform
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts; stable across processes and Python versions."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def numpy_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def seed_torch(seed: int) -> None:
    """Seed torch's global streams (dropout and init use them) on every device."""
    torch.manual_seed(seed)


def set_deterministic(device: torch.device) -> dict[str, Any]:
    """Ask torch for deterministic kernels; warn (and record) where none exists."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    _deterministic_algorithms()
    return {
        "use_deterministic_algorithms": True,
        "warn_only": True,
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def _deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its ``import torch._inductor.config``,
    which pulls in dynamo and inductor: about 2 s of every process's start (each ``--jobs`` worker's) for a compiler
    deepstudy does not use. Its one setting there, inductor's ``deterministic``, is still set: in the config if it is
    loaded, else through the variable it reads when it loads."""
    import sys

    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None:  # another torch: the public call, whatever it imports
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    if (inductor := sys.modules.get("torch._inductor.config")) is not None:
        inductor.deterministic = True
    else:
        os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1"
    set_flag(True, warn_only=True)


@contextlib.contextmanager
def record_nondeterminism(sink: set[str]) -> Iterator[None]:
    """Collect torch's 'no deterministic implementation' warnings into ``sink``."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        # other warnings are re-emitted outside the recording context (inside, each would be caught again, forever)
        for w in caught:
            text = str(w.message)
            if "deterministic" in text:
                sink.add(text.split("\n")[0][:300])
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


FAULT_SCOPE = [""]  # where the process is (a search sets "trial-<k>"): DEEPSTUDY_FAULT_SCOPE narrows the fault


def fault_point(epoch: int) -> None:
    """Fault injection for the resume tests: DEEPSTUDY_FAULT_AFTER_EPOCH=k dies like a SIGKILL after epoch k (with
    DEEPSTUDY_FAULT_SCOPE=trial-3: only in trial 3 of a search)."""
    if fault_armed(epoch):
        os._exit(137)  # no clean-up, no atexit, no flush: the closest thing to a kill


def fault_armed(epoch: int) -> bool:
    """Whether :func:`fault_point` kills the process after ``epoch`` (the driver then waits for that epoch's
    checkpoint first, so the resume tests know where the run resumes)."""
    fault = os.environ.get("DEEPSTUDY_FAULT_AFTER_EPOCH")
    scope = os.environ.get("DEEPSTUDY_FAULT_SCOPE")
    return fault is not None and int(fault) == epoch and scope in (None, FAULT_SCOPE[0])


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        from deepstudy.errors import UserError

        raise UserError("device 'cuda' was asked for but this torch build sees no GPU; use --device cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_dir_name(now: _dt.datetime | None = None) -> str:
    return (now or _dt.datetime.now()).strftime("%Y-%m-%dT%H-%M-%S")


def git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def git_describe() -> str | None:
    """``git describe --always --dirty`` of the source tree: a '-dirty' suffix when it has uncommitted changes."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], check=False, capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what decides the fast kernels (bf16 above all)


def cpu_flags() -> dict[str, bool] | None:
    """Which of ``CPU_FLAGS`` the CPU reports (/proc/cpuinfo); None where it cannot be read (not Linux)."""
    import deepstudy

    present = deepstudy._cpu_flags()  # the flags that also choose the NumPy engine's BLAS kernels
    return {f: f in present for f in CPU_FLAGS} if present else None


def environment(device: torch.device) -> dict[str, Any]:
    import deepstudy

    info: dict[str, Any] = {
        "deepstudy": deepstudy.__version__,
        "git": git_hash(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        # NumPy engine's BLAS kernels (see deepstudy/__init__)
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "openblas_coretype_before": deepstudy.OPENBLAS_CORETYPE_BEFORE,
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info
