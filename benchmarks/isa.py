"""``python -m benchmarks --isa avx2 NAME ...``: the benchmarks with every numeric library held to AVX2 kernels.

Issue 25's targets hold "on both CPU kinds": AVX-512 with native bf16, and AVX2 only. Where only the first is at hand,
this runs the benchmarks on it as the second runs them — the same code, the kernels an AVX2-only CPU gets:

    ATEN_CPU_CAPABILITY=avx2        torch's own vectorized kernels (elementwise, batch norm, reductions, optimizers)
    ONEDNN_MAX_CPU_ISA=AVX2         oneDNN (convolutions, matmuls, bf16): no AVX-512, so no native bf16
    MKL_ENABLE_INSTRUCTIONS=AVX2    MKL (torch's BLAS)
    OPENBLAS_CORETYPE=Haswell       OpenBLAS (NumPy's BLAS; DEEPSTUDY_KEEP_OPENBLAS_CORETYPE=1 keeps it)
    NPY_DISABLE_CPU_FEATURES=...    NumPy's AVX-512 loops (every AVX-512 feature this CPU reports)

It is an emulation, and says so: the results go to ``<name>.avx2.json`` with these variables and torch's reported
capability in the evidence, and every row is marked. What it measures is the kernels' share of a ratio (e.g. bf16
falls back to fp32, the convolutions lose half their vector width); an AVX2-only machine also differs in cores,
caches, clocks and neighbours, which it cannot show. deepstudy reads the caps too: ``train.cpu_supports_bf16`` is
False under them, so precision auto picks fp32 and an explicit bf16 runs fp32 and says so, as on such a CPU.
"""
from __future__ import annotations

import os
import sys

ISAS = ("avx2",)
# NumPy's dispatch names for AVX-512 (numpy._core._multiarray_umath.__cpu_features__); only those present are named,
# as NumPy refuses to disable a feature the CPU lacks
_NUMPY_AVX512 = ("AVX512F", "AVX512CD", "AVX512VPOPCNTDQ", "AVX512VL", "AVX512BW", "AVX512DQ", "AVX512VNNI",
                 "AVX512IFMA", "AVX512VBMI", "AVX512VBMI2", "AVX512BITALG", "AVX512BF16", "AVX512FP16", "AVX512_SKX",
                 "AVX512_CLX", "AVX512_CNL", "AVX512_ICL", "AVX512_SPR", "X86_V4")
VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "OPENBLAS_CORETYPE",
             "DEEPSTUDY_KEEP_OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")


def environment(isa: str) -> dict[str, str]:
    """The variables that hold torch, oneDNN, MKL, OpenBLAS and NumPy to ``isa``'s kernels."""
    if isa not in ISAS:
        raise SystemExit(f"--isa {isa}: choose one of {', '.join(ISAS)}")
    from numpy._core._multiarray_umath import __cpu_features__ as present

    return {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
            "OPENBLAS_CORETYPE": "Haswell", "DEEPSTUDY_KEEP_OPENBLAS_CORETYPE": "1",
            "NPY_DISABLE_CPU_FEATURES": " ".join(f for f in _NUMPY_AVX512 if present.get(f))}


def reexec(argv: list[str]) -> None:
    """``--isa NAME`` in ``argv``: run ``python -m benchmarks`` again with the rest of ``argv`` in a process started
    with the caps (the libraries read them once, when they load); otherwise return."""
    if "--isa" not in argv:
        return
    i = argv.index("--isa")
    if i + 1 >= len(argv):
        raise SystemExit(f"--isa needs a value: one of {', '.join(ISAS)}")
    env = {**os.environ, **environment(argv[i + 1]), "DEEPSTUDY_BENCH_ISA": argv[i + 1]}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *argv[1:i], *argv[i + 2:]], env)


def capped() -> str | None:
    """The ISA this process was started held to (``--isa``), checked against what torch reports; None if none."""
    isa = os.environ.get("DEEPSTUDY_BENCH_ISA")
    if isa is None:
        return None
    import torch

    got = torch.backends.cpu.get_cpu_capability()
    if got.lower() != isa:
        raise SystemExit(f"--isa {isa}: torch reports {got} kernels; the cap did not take (set before torch loads?)")
    return isa


def evidence() -> dict:
    """What a results file records about the kernels: torch's capability and any cap variable set."""
    import torch

    return {"torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "isa_cap": capped(),
            "isa_variables": {k: os.environ[k] for k in VARIABLES if k in os.environ} or None}
