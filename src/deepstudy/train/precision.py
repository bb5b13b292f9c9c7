"""Precision as a value: an autocast context factory and a GradScaler that is on only for fp16; and what
``precision: auto`` chooses (:func:`choose_auto`, from a short timing probe, :func:`probe_speed`)."""
from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ContextManager

import torch
from torch import nn

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
FELL_BACK = "fp32 (this CPU has no native bf16; fell back)"  # the precision a seed records when bf16 was asked there
FALLBACK_NOTE = "bf16 asked, fp32 used: this CPU has no bf16 instructions"  # said once, in the run's output and report
# oneDNN's ISA caps below AVX512_CORE_BF16 (its docs: ONEDNN_MAX_CPU_ISA): no native bf16 under them
_NO_BF16_ISAS = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
AUTO_SPEEDUP = 1.2  # auto picks bf16 on a CPU only when its training step is at least this much faster than fp32's
WARMUP_STEPS, TIMED_STEPS = 3, 5  # the probe's steps per precision (fewer when one step is slow: BUDGET_SECONDS)
BUDGET_SECONDS = 1.0  # about what the probe may spend per precision; it still times at least two steps


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 instructions (AVX512-BF16 or AMX) and this process may use them; without
    them bf16 runs as fp32. A process held below them (``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``:
    how benchmarks/isa.py emulates an AVX2-only CPU, or a choice of one's own) gets emulated bf16, ~9x slower: as
    a CPU without them.

    Example:
        >>> from deepstudy import train
        >>> train.cpu_supports_bf16() in (True, False)
        True
    """
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    held = (not torch.backends.cpu.get_cpu_capability().startswith("AVX512")
            or os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "ALL")).upper() in _NO_BF16_ISAS)
    return bool((check and check()) or (amx and amx())) and not held


def autocast(precision: str, device: torch.device) -> tuple[Callable[[], ContextManager], str]:
    """(context factory, the precision actually used). fp16 needs CUDA; bf16 on CPU needs support.

    Example:
        >>> import torch
        >>> from deepstudy import train
        >>> context, used = train.autocast("fp32", torch.device("cpu"))
        >>> with context():
        ...     out = torch.nn.Linear(4, 2)(torch.zeros(1, 4))
        >>> used, out.dtype
        ('fp32', torch.float32)
    """
    if precision == "fp32":
        return contextlib.nullcontext, "fp32"
    if precision == "auto":
        raise ValueError("precision auto is resolved by a study before training (choose_auto); pass fp32 or bf16")
    if device.type == "cpu":
        if precision == "fp16":
            raise ValueError("precision fp16 needs a CUDA device; on CPU use bf16 (or fp32)")
        if not cpu_supports_bf16():
            return contextlib.nullcontext, FELL_BACK
    dtype = _DTYPES[precision]
    return (lambda: torch.autocast(device_type=device.type, dtype=dtype)), precision


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling keeps fp16 gradients from underflowing; bf16 has fp32's range and needs none.

    Example:
        >>> import torch
        >>> from deepstudy import train
        >>> cpu = torch.device("cpu")
        >>> train.grad_scaler("bf16", cpu).is_enabled(), train.grad_scaler("fp32", cpu).is_enabled()
        (False, False)
    """
    return torch.amp.GradScaler(device.type, enabled=(precision == "fp16" and device.type == "cuda"))


@dataclass(frozen=True)
class ProbeSetup:
    """What the probe trains: a fresh model per precision, one real batch and the task's training step."""

    make_model: Callable[[], nn.Module]  # on the device; called under a forked RNG (the seed's stream is untouched)
    x: torch.Tensor  # one training batch, on the device
    y: torch.Tensor
    step: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]  # -> the loss
    channels_last: bool = False


def probe_speed(setup: ProbeSetup, device: torch.device) -> dict:
    """Median milliseconds of one training step (forward, backward, SGD step) in fp32 and in bf16 autocast, after
    warm-up steps, and bf16's speedup (fp32 time / bf16 time). The models are built and trained under
    ``torch.random.fork_rng``: the random state is as it was before, so a seed trained after the probe draws the
    same numbers as one trained without it.

    Example:
        >>> import torch
        >>> from deepstudy.train.precision import ProbeSetup, probe_speed
        >>> x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
        >>> setup = ProbeSetup(lambda: torch.nn.Linear(4, 2), x, y,
        ...                    lambda m, x, y: torch.nn.functional.cross_entropy(m(x), y))
        >>> before = torch.random.get_rng_state()
        >>> found = probe_speed(setup, torch.device("cpu"))
        >>> sorted(found), torch.equal(before, torch.random.get_rng_state())
        (['bf16_ms', 'fp32_ms', 'speedup', 'steps'], True)
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        fp32, steps = _median_step(setup, device, contextlib.nullcontext)
        bf16, _ = _median_step(setup, device, lambda: torch.autocast(device.type, dtype=torch.bfloat16))
    return {"fp32_ms": round(fp32 * 1e3, 3), "bf16_ms": round(bf16 * 1e3, 3), "speedup": round(fp32 / bf16, 3),
            "steps": steps}


def _median_step(setup: ProbeSetup, device: torch.device, context: Callable[[], ContextManager]) -> tuple[float, int]:
    """(median seconds of the timed steps, how many were timed)."""
    model = setup.make_model()
    x = setup.x.contiguous(memory_format=torch.channels_last) if setup.channels_last and setup.x.dim() == 4 else setup.x
    if setup.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    times: list[float] = []
    for k in range(WARMUP_STEPS + TIMED_STEPS):
        t0 = time.perf_counter()
        with context():
            loss = setup.step(model, x, setup.y)
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        if k >= WARMUP_STEPS or seconds > BUDGET_SECONDS / 2:  # a slow model: its first step is warm-up enough
            times.append(seconds)
        if len(times) >= 2 and sum(times) > BUDGET_SECONDS:
            break
    return statistics.median(times), len(times)


def choose_auto(device: torch.device, native_bf16: bool, probe: Callable[[], dict | None]) -> dict:
    """What ``precision: auto`` runs in on ``device``: ``{"used": "fp32" | "bf16", "why": ..., "probe": ...}``.
    CUDA: bf16 where the GPU supports it (no probe); a CPU without native bf16 (``native_bf16`` False): fp32, no
    probe; a CPU with it: ``probe()`` (:func:`probe_speed`'s result, None: the task has none) decides, bf16 only
    at :data:`AUTO_SPEEDUP` or more.

    Example:
        >>> import torch
        >>> from deepstudy.train.precision import choose_auto
        >>> choose_auto(torch.device("cpu"), False, probe=lambda: None)["why"]
        'this CPU has no native bf16'
        >>> choose_auto(torch.device("cpu"), True, lambda: {"speedup": 1.8})["used"]
        'bf16'
    """
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return {"used": "bf16", "why": "this GPU supports bf16; no probe on CUDA", "probe": None}
        return {"used": "fp32", "why": "this GPU has no bf16", "probe": None}
    if device.type != "cpu":
        return {"used": "fp32", "why": f"no bf16 probe on {device.type}", "probe": None}
    if not native_bf16:
        return {"used": "fp32", "why": "this CPU has no native bf16", "probe": None}
    found = probe()
    if found is None:
        return {"used": "fp32", "why": "this task has no bf16 probe", "probe": None}
    speedup = found["speedup"]
    if speedup >= AUTO_SPEEDUP:
        return {"used": "bf16", "why": f"probe: bf16 {speedup:.2f}x faster", "probe": found}
    return {"used": "fp32", "why": f"probe: bf16 only {speedup:.2f}x as fast, below {AUTO_SPEEDUP}x", "probe": found}
