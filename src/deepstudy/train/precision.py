"""Precision as a value: an autocast context factory and a GradScaler that is on only for fp16."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import ContextManager

import torch

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
FELL_BACK = "fp32 (this CPU has no native bf16; fell back)"  # the precision a seed records when bf16 was asked there
FALLBACK_NOTE = "bf16 asked, fp32 used: this CPU has no bf16 instructions"  # said once, in the run's output and report


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 instructions (AVX512-BF16 or AMX); without them bf16 runs as fp32.

    Example:
        >>> from deepstudy import train
        >>> train.cpu_supports_bf16() in (True, False)
        True
    """
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((check and check()) or (amx and amx()))


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
