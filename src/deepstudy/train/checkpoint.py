"""Checkpoints that a kill cannot corrupt and that damage cannot slip past.

Each epoch writes ``epoch-NNNN.safetensors`` (weights) and ``epoch-NNNN.state.pt`` (optimizer,
scheduler, scaler, epoch, monitor, extra), then atomically replaces ``last.json`` to point at
them with the sha256 of each file and, as ``previous``, the entry of the epoch before; then it
removes older epochs. A reader follows ``last.json``, so it sees a complete pair or the previous
one, and it checks the hashes first: when the newest pair no longer matches (flipped bytes, a cut
or missing file) it falls back to the previous pair, from which the task re-trains the lost epoch
deterministically. A ``last.json`` written before hashes were recorded is followed unchecked.
State is loaded with ``torch.load(weights_only=True)``: no unpickling of code. ``commit`` and
``verified`` know no file format: the NumPy engine's ``.npz`` checkpoints use them too.

Weights saved outside a checkpoint (a seed's ``best.safetensors``, a pretrained encoder, a GAN's generator) are
sealed: ``<file>.sha256`` beside them, in ``sha256sum`` format (``sha256sum -c`` checks it too), written after the
file; loading checks it first. A kill between the two writes leaves a mismatch only until the epoch that wrote the
file is re-trained on resume, which writes both again.
"""
from __future__ import annotations

import copy
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from deepstudy.errors import UserError
from deepstudy.fileio import atomic_write_bytes, read_json, sha256_file, write_json

POINTER = "last.json"


def seal(path: Path) -> None:
    """Record ``path``'s sha256 beside it as ``<name>.sha256``."""
    atomic_write_bytes(_seal_of(path), f"{sha256_file(path)}  {path.name}\n".encode())


def check_seal(path: Path) -> None:
    """A one-line UserError when ``path`` no longer has the sha256 its seal records (no seal: nothing to check)."""
    try:
        recorded = _seal_of(path).read_text().split()[0]
    except (OSError, IndexError):
        return
    try:
        actual = sha256_file(path)
    except OSError as e:
        raise UserError(f"cannot read {path} ({e.strerror or type(e).__name__})") from None
    if actual != recorded:
        raise UserError(f"{path} is damaged: its sha256 is {actual[:12]}…, not the recorded {recorded[:12]}… "
                        f"(in {_seal_of(path).name}); delete its seed folder to train that seed again")


def _seal_of(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_weights(model: nn.Module, path: Path, sealed: bool = True) -> None:
    """Weights as safetensors, written atomically; ``sealed``: with their sha256 beside them (see :func:`seal`)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        safetensors.torch.save_model(model, str(tmp))  # handles shared / tied tensors
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if sealed:
        seal(path)


@dataclass(frozen=True)
class Frozen:
    """A model's weights as ``safetensors.torch.save_model`` writes them (tied tensors once, the names dropped in the
    metadata), copied: training may go on while they are written (:func:`write_weights`)."""

    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str] | None


def frozen_weights(model: nn.Module) -> Frozen:
    """A copy of ``model``'s weights; written by :func:`write_weights`, the file is the one save_weights writes."""
    state = model.state_dict()
    metadata = None
    for kept, dropped in safetensors.torch._remove_duplicate_names(state).items():  # save_model's own rule
        for name in dropped:
            metadata = metadata or {}
            metadata.setdefault(name, kept)
            del state[name]
    return Frozen({k: v.detach().clone(memory_format=torch.contiguous_format) for k, v in state.items()}, metadata)


def write_weights(weights: Frozen, path: Path, sealed: bool = True) -> None:
    """:func:`save_weights` of a copy taken earlier (:func:`frozen_weights`); safe on a thread of its own."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        safetensors.torch.save_file(weights.tensors, str(tmp), metadata=weights.metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if sealed:
        seal(path)


def load_weights(model: nn.Module, path: Path) -> None:
    check_seal(path)
    try:
        missing, unexpected = safetensors.torch.load_model(model, str(path), strict=False)
    except (OSError, safetensors.SafetensorError, RuntimeError) as e:
        raise UserError(f"cannot load weights from {path} ({e}); the file is damaged or from another model") from None
    if missing or unexpected:
        raise UserError(f"weights in {path} do not fit this model (missing {sorted(missing)[:3]}, "
                        f"unexpected {sorted(unexpected)[:3]})")


def commit(folder: Path, epoch: int, **files: str) -> None:
    """Point ``last.json`` at this epoch's files (written already; role -> name in ``folder``) with their sha256,
    keeping the newest earlier entry it named as ``previous``; then delete every other ``epoch-*`` file."""
    try:
        old = read_json(folder / POINTER)
        earlier = [e for e in (old, old.get("previous")) if isinstance(e, dict) and e.get("epoch", epoch) < epoch]
    except (OSError, ValueError, AttributeError):  # none yet, or a damaged one: nothing earlier to keep
        earlier = []
    entry = {"epoch": epoch, **files, "sha256": {name: sha256_file(folder / name) for name in files.values()}}
    if earlier:  # a fallback re-trains its lost epoch: the damaged entry of that epoch is not kept as previous
        entry["previous"] = {k: v for k, v in earlier[0].items() if k != "previous"}
    write_json(folder / POINTER, entry)
    keep = {v for e in (entry, entry.get("previous", {})) for v in e.values() if isinstance(v, str)}
    for path in folder.glob("epoch-*"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def _reason(e: BaseException) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__


def _unreadable(folder: Path, e: BaseException) -> UserError:
    return UserError(f"checkpoint in {folder} is unreadable ({_reason(e)}); delete that folder to restart this seed "
                     "from scratch")


def _damage(folder: Path, entry: dict) -> str | None:
    """What is wrong with an entry's files, or None when each has its recorded sha256 (or none is recorded)."""
    for name, digest in entry.get("sha256", {}).items():
        try:
            actual = sha256_file(folder / name)
        except OSError as e:
            return f"{name} is unreadable ({e.strerror or type(e).__name__})"
        if actual != digest:
            return f"{name} has sha256 {actual[:12]}…, not the recorded {digest[:12]}…"
    return None


def verified(folder: Path) -> tuple[dict, dict | None]:
    """The newest entry of ``last.json`` whose files pass their sha256 check, and None — or, when the newest failed,
    the previous one and ``{"epoch": the newest's epoch, "reason": what failed}``. Neither: a one-line UserError."""
    try:
        pointer = read_json(folder / POINTER)
        entries = [e for e in (pointer, pointer.get("previous")) if e is not None]
    except (OSError, ValueError, AttributeError) as e:  # a damaged pointer: unreadable, not JSON, not an object
        raise _unreadable(folder, e) from None
    problems = []
    for entry in entries:
        if (problem := _damage(folder, entry)) is None:
            return entry, ({"epoch": pointer["epoch"], "reason": problems[0]} if problems else None)
        problems.append(problem)
    raise UserError(f"checkpoint in {folder} is damaged ({'; '.join(problems)}); delete that folder to restart this "
                    "seed from scratch")


def save(folder: Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, scaler,
         extra: dict, averages=None) -> None:
    """``averages``: a train.Averages (EMA / SWA) saved in the state file too (none: the file is as it always was)."""
    write(folder, epoch, frozen_weights(model), state_of(epoch, optimizer, scheduler, scaler, extra, averages))


def state_of(epoch: int, optimizer, scheduler, scaler, extra: dict, averages=None) -> dict:
    """What the state file holds (it refers to the live tensors: :func:`copied` before training on)."""
    return {"epoch": epoch, "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict(), "extra": extra,
            **({"averages": averages.state_dict()} if averages is not None else {})}


def copied(state):
    """A copy of :func:`state_of` that training cannot change any more (tensors cloned), to write while it goes on.
    Plain containers are rebuilt and tensors cloned (what a state dict is made of: a tenth of deepcopy's time, run
    every epoch on the training thread); anything else is deep-copied."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if type(state) is dict:
        return {k: copied(v) for k, v in state.items()}
    if type(state) in (list, tuple):
        return type(state)(copied(v) for v in state)
    if state is None or type(state) in (int, float, bool, str, bytes):
        return state
    return copy.deepcopy(state)


def write(folder: Path, epoch: int, weights: Frozen, state: dict) -> None:
    """An epoch's checkpoint from a snapshot (:func:`frozen_weights`, :func:`state_of`): both files written
    atomically, then committed — until then ``last.json`` names the epoch before. Safe on a thread of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"epoch-{epoch:04d}"
    write_weights(weights, folder / f"{stem}.safetensors", sealed=False)  # last.json holds its sha256
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(folder / f"{stem}.state.pt", buf.getvalue())
    commit(folder, epoch, weights=f"{stem}.safetensors", state=f"{stem}.state.pt")


def exists(folder: Path) -> bool:
    return (folder / POINTER).is_file()


def load(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, scaler, averages=None) -> dict:
    """Restore everything saved by :func:`save` from the newest checkpoint that passes its sha256 check; returns
    ``{"epoch": ..., "extra": ...}``, with ``"fell_back_from": {"epoch", "reason"}`` when that is not the newest."""
    entry, fallback = verified(folder)
    try:
        state = torch.load(folder / entry["state"], map_location="cpu", weights_only=True)
    except Exception as e:  # any parse failure of a damaged file (UnpicklingError, ValueError, OSError ...)
        raise _unreadable(folder, e) from None
    load_weights(model, folder / entry["weights"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if averages is not None:  # after the optimizer: SWALR continues from the rate it left there
        if "averages" not in state:
            raise UserError(f"checkpoint in {folder} holds no weight average (train.ema / train.swa); it was written "
                            "by a run without one — delete that folder to restart this seed from scratch")
        averages.load_state_dict(state["averages"])
    return {"epoch": state["epoch"], "extra": state["extra"], **({"fell_back_from": fallback} if fallback else {})}
