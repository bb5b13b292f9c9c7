"""``deepstudy export``: a trained seed's network as ONNX or TorchScript, checked against torch before it is kept.

The exported model reads what the network reads — inputs already through the run's preprocessing (images as
normalized floats (N, C, H, W), table rows as encoded features (N, F), text as token ids (N, T) padded with 0) — and
outputs logits (N, classes); the batch (and the text length) may vary. The preprocessing travels inside the file:
ONNX metadata ``deepstudy.preprocessing`` and TorchScript extra file ``preprocessing.json``.

ONNX goes through torch's TorchScript-based exporter (``dynamo=False``): it works offline and needs no onnxscript.
Every export is checked on 64 inputs (two batches of different sizes; for text, two lengths too) against the torch
model: a difference above ``TOLERANCE`` (relative to logits larger than 1), or above 3x torch's own float32 rounding
error where that is larger (deep networks: ``float32_error``), refuses the export in one line instead of writing a
model that answers otherwise.
"""
from __future__ import annotations

import copy
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepstudy.data import preprocessing
from deepstudy.errors import UserError
from deepstudy.runs import trained as _trained

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-5
FLOAT32_SLACK = 3.0  # the exported model may differ by 3x torch's own float32 error (float32_error)
PARITY_INPUTS = 64


def export(run_dir: str | Path, fmt: str, out: str | Path | None = None, arm: str | None = None,
           seed: int | None = None, overwrite: bool = False,
           log: Callable[[str], None] = lambda text: None) -> tuple[Path, float]:
    """Export one trained seed; returns the file and the largest |difference| from torch on the parity inputs.
    ``log``: notes (a model class's module that changed since the run)."""
    if fmt not in FORMATS:
        raise UserError(f"--format '{fmt}' is not an export format; choose {' or '.join(FORMATS)}")
    found = _trained.load(run_dir, arm, seed, command="export", log=log)
    path = Path(out) if out is not None else Path(f"{found.name}{FORMATS[fmt]}")
    if path.is_dir() or (path.exists() and not overwrite):
        raise UserError(f"{path} already exists; choose another --out FILE or pass --force to replace it")
    batches = parity_inputs(found.state)
    diff = save(found.model, batches, fmt, path, found.state)
    return path, diff


def parity_inputs(state: dict, n: int = PARITY_INPUTS, seed: int = 0) -> list[torch.Tensor]:
    """``n`` inputs as the network reads them, in two batches of different sizes (text: of different lengths):
    random images through the run's normalization, standard-normal table rows, random token ids with padding."""
    g = torch.Generator().manual_seed(seed)
    sizes = (n - n // 4, n // 4)
    shape = tuple(state["input_shape"])
    if state["kind"] == "image":
        stored = tuple(state["image"]["stored_shape"])
        return [preprocessing.images(state, torch.randint(0, 256, (b, *stored), generator=g, dtype=torch.uint8))
                for b in sizes]
    if state["kind"] == "tokens":
        out, top, most = [], max(3, state["vocab_size"] or 3), preprocessing.max_length(state)
        for b, length in zip(sizes, (min(24, most), min(9, most))):
            ids = torch.randint(2, top, (b, length), generator=g)
            real = torch.randint(1, length + 1, (b,), generator=g)
            real[0] = length  # one row without padding: the batch's width is a real length
            out.append(ids.masked_fill(torch.arange(length) >= real[:, None], 0))
        return out
    return [torch.randn(b, *shape, generator=g) for b in sizes]


def save(model: nn.Module, batches: list[torch.Tensor], fmt: str, path: Path, state: dict | None = None) -> float:
    """Write ``model`` (eval mode) as ``fmt`` to ``path`` (atomically) after checking its outputs on ``batches``
    against torch's; returns the largest |difference| (a UserError, nothing written, above TOLERANCE — times the
    largest |logit| where that is above 1 — or above FLOAT32_SLACK x torch's own float32 error, whichever is larger)."""
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            raise UserError("ONNX export needs onnx and onnxruntime: `pip install onnx onnxruntime` "
                            "(or `pip install deepstudy[export]`), or export --format torchscript") from None
    model = model.eval()
    meta = json.dumps(state or {})
    # staged in the nearest existing folder above the file, so that the final rename stays on one filesystem (the
    # system's /tmp is often another, where os.replace fails); folders still missing are made only once it passed
    near = next(p for p in path.absolute().parents if p.is_dir())
    try:
        staging = tempfile.TemporaryDirectory(dir=near, prefix=".export-")
    except OSError as e:
        raise UserError(f"cannot write in {near} ({e.strerror or e}); choose another --out FILE") from None
    with staging as tmp:
        staged = Path(tmp) / f"model{FORMATS[fmt]}"
        try:
            run = (_onnx if fmt == "onnx" else _torchscript)(model, batches[0], staged, meta)
        except Exception as e:  # noqa: BLE001 — any exporter failure is this model's limit, said in one line
            raise UserError(f"cannot export {type(model).__name__} as {fmt}: {_first_line(e)}") from None
        try:
            pairs = [(run(x), _torch_outputs(model, x)) for x in batches]
        except Exception as e:  # noqa: BLE001 — e.g. a batch size the graph recorded as a constant
            raise UserError(f"cannot export {type(model).__name__} as {fmt}: the exported model fails on "
                            f"{tuple(batches[-1].shape)} inputs ({_first_line(e)})") from None
        diff = max(float(np.abs(a - b).max()) for a, b in pairs)
        limit = max(TOLERANCE * max(1.0, max(float(np.abs(b).max()) for _, b in pairs)),
                    FLOAT32_SLACK * float32_error(model, batches))
        if not diff <= limit:
            raise UserError(f"cannot export {type(model).__name__} as {fmt}: the exported model's outputs differ "
                            f"from torch's by up to {diff:.2g} (> {limit:.2g}) on {sum(map(len, batches))} inputs")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, path)
        except OSError as e:
            raise UserError(f"cannot write {path} ({e.strerror or e}); choose another --out FILE") from None
    return diff


def float32_error(model: nn.Module, batches: list[torch.Tensor]) -> float:
    """How far torch's own float32 outputs are from the same network in float64 on ``batches``: deep networks (a
    ResNet-101, EfficientNet) carry ~1e-4 of rounding in their logits — as much as torch's outputs move between a
    batch of 48 and single examples — so no float32 implementation can agree with another more closely."""
    twin = copy.deepcopy(model).double().eval()
    try:
        with torch.no_grad():
            return max(float((model(x).double() - twin(x.double() if x.is_floating_point() else x)).abs().max())
                       for x in batches)
    except (RuntimeError, TypeError):  # a layer without float64 kernels: no allowance
        return 0.0


def _torch_outputs(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).float().numpy()


def _onnx(model: nn.Module, example: torch.Tensor, path: Path, meta: str) -> Callable[[torch.Tensor], np.ndarray]:
    import onnx
    import onnxruntime

    axes = {0: "batch", 1: "length"} if not example.is_floating_point() else {0: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": axes, "logits": {0: "batch"}}, opset_version=17)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(proto, {"deepstudy.preprocessing": meta})
    onnx.save(proto, str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x.numpy()})[0]


def _torchscript(model: nn.Module, example: torch.Tensor, path: Path,
                 meta: str) -> Callable[[torch.Tensor], np.ndarray]:
    with warnings.catch_warnings():  # torch 2.13 deprecates torch.jit for torch.export; TorchScript still works
        warnings.simplefilter("ignore")
        try:  # scripting keeps Python control flow (a padded batch, a variable length); tracing records one path
            module = torch.jit.script(model)
        except Exception:  # noqa: BLE001 — most of the zoo is not scriptable: trace it
            module = torch.jit.trace(model, (example,), check_trace=False)
        torch.jit.save(module, str(path), _extra_files={"preprocessing.json": meta})
        loaded = torch.jit.load(str(path))

    def run(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return loaded(x).float().numpy()
    return run


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__
