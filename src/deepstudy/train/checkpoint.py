"""Checkpoints that a kill cannot corrupt.

Each epoch writes ``epoch-NNNN.safetensors`` (weights) and ``epoch-NNNN.state.pt`` (optimizer,
scheduler, scaler, epoch, monitor, extra), then atomically replaces ``last.json`` to point at
them, then removes older epochs. A reader follows ``last.json``, so it sees a complete pair or
the previous one. State is loaded with ``torch.load(weights_only=True)``: no unpickling of code.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from deepstudy.errors import UserError
from deepstudy.fileio import atomic_write_bytes, read_json, write_json


def save_weights(model: nn.Module, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        safetensors.torch.save_model(model, str(tmp))  # handles shared / tied tensors
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_weights(model: nn.Module, path: Path) -> None:
    try:
        missing, unexpected = safetensors.torch.load_model(model, str(path), strict=False)
    except (OSError, safetensors.SafetensorError, RuntimeError) as e:
        raise UserError(f"cannot load weights from {path} ({e}); the file is damaged or from another model") from None
    if missing or unexpected:
        raise UserError(f"weights in {path} do not fit this model (missing {sorted(missing)[:3]}, "
                        f"unexpected {sorted(unexpected)[:3]})")


def save(folder: Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, scaler,
         extra: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"epoch-{epoch:04d}"
    save_weights(model, folder / f"{stem}.safetensors")
    buf = io.BytesIO()
    torch.save({"epoch": epoch, "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict(), "extra": extra}, buf)
    atomic_write_bytes(folder / f"{stem}.state.pt", buf.getvalue())
    write_json(folder / "last.json", {"epoch": epoch, "weights": f"{stem}.safetensors", "state": f"{stem}.state.pt"})
    for old in folder.glob("epoch-*"):
        if not old.name.startswith(stem):
            old.unlink(missing_ok=True)


def exists(folder: Path) -> bool:
    return (folder / "last.json").is_file()


def load(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, scaler) -> dict:
    """Restore everything saved by :func:`save`; returns ``{"epoch": ..., "extra": ...}``."""
    try:
        pointer = read_json(folder / "last.json")
        state = torch.load(folder / pointer["state"], map_location="cpu", weights_only=True)
    except Exception as e:  # any parse failure of a damaged file (UnpicklingError, ValueError, OSError ...)
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise UserError(f"checkpoint in {folder} is unreadable ({reason}); delete that folder to restart this arm "
                        "from scratch") from None
    load_weights(model, folder / pointer["weights"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    return {"epoch": state["epoch"], "extra": state["extra"]}
