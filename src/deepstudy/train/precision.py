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
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((check and check()) or (amx and amx()))


def autocast(precision: str, device: torch.device) -> tuple[Callable[[], ContextManager], str]:
    """(context factory, the precision actually used). fp16 needs CUDA; bf16 on CPU needs support."""
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
    """Loss scaling keeps fp16 gradients from underflowing; bf16 has fp32's range and needs none."""
    return torch.amp.GradScaler(device.type, enabled=(precision == "fp16" and device.type == "cuda"))
