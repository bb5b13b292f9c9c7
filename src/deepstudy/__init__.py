"""deepstudy — build, train, compare and explain neural networks on real data.

Library entry points: ``deepstudy.models``, ``deepstudy.data``, ``deepstudy.train``,
``deepstudy.evaluate``, ``deepstudy.config``, ``deepstudy.study`` and the NumPy engine
``deepstudy.scratch``. The CLI is ``deepstudy``.
"""
import os as _os
import sys as _sys

__version__ = "0.1.0"

# OpenBLAS (NumPy's BLAS) runs its Haswell (AVX2) kernels on AVX-512 CPUs when OPENBLAS_CORETYPE
# says so (some platforms set it globally); its SkylakeX kernels run fp32 GEMM ~2x faster there
# (measured: 221 -> 422 GFLOPS on a 2-core AMD EPYC), which is most of the NumPy engine's time.
# OpenBLAS reads the variable once, when NumPy loads, so it is chosen here: upgraded to SkylakeX
# only if the CPU has every AVX-512 subset those kernels use and the current value is unset or an
# AVX2-class core. Any other value is kept; DEEPSTUDY_KEEP_OPENBLAS_CORETYPE=1 keeps it always.
_SKYLAKEX_FLAGS = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}
_AVX2_CORES = {"", "haswell", "zen", "sandybridge", "nehalem", "core2", "prescott"}
OPENBLAS_CORETYPE_BEFORE = _os.environ.get("OPENBLAS_CORETYPE")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _choose_openblas_kernels(flags: set[str], environ=_os.environ, numpy_loaded: bool = False) -> bool:
    current = environ.get("OPENBLAS_CORETYPE", "").lower()
    if (numpy_loaded or environ.get("DEEPSTUDY_KEEP_OPENBLAS_CORETYPE") or current not in _AVX2_CORES
            or not _SKYLAKEX_FLAGS <= flags):
        return False
    environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    return True


_choose_openblas_kernels(_cpu_flags(), numpy_loaded="numpy" in _sys.modules)
