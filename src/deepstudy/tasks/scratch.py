"""`task: scratch` — the same study machinery (arms, seeds, checkpoints, resume, report) on the NumPy engine.

Data come from the same loaders (normalized with training statistics, as float32 arrays); the
network, its optimizer and its training loop are ``deepstudy.scratch``. Checkpoints are ``.npz``
files (read with ``allow_pickle=False``), written atomically each epoch behind train.checkpoint's
sha256-checked pointer.
"""
from __future__ import annotations

import inspect
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import evaluate, scratch, train
from deepstudy.config import Study
from deepstudy.errors import UserError, closest
from deepstudy.fileio import atomic_write_bytes, read_json, read_jsonl, write_json
from deepstudy.records import SeedResult
from deepstudy.rundir import RunDir
from deepstudy.scratch.models import BUILDERS
from deepstudy.tasks import SeedContext, Size, Task

_DERIVED = {"in_features", "in_channels", "input_size", "num_classes", "rng", "dtype"}


def build(cfg: Study, input_shape: tuple[int, ...], num_classes: int, seed: int) -> scratch.Module:
    rng = np.random.default_rng(seed)
    kw = cfg.model.kwargs()
    if cfg.model.name != "mlp" and len(input_shape) != 3:
        raise UserError(f"scratch model '{cfg.model.name}' needs images (C, H, W); the data has shape {input_shape}")
    try:
        if cfg.model.name == "mlp":
            return BUILDERS["mlp"](int(np.prod(input_shape)), num_classes, rng, **kw)
        return BUILDERS[cfg.model.name](input_shape[0], num_classes, tuple(input_shape[1:]), rng, **kw)
    except (ValueError, TypeError) as e:
        raise UserError(f"scratch model '{cfg.model.name}': {e}; fix the model: section") from None


def copy_weights(numpy_model: scratch.Module, torch_model: nn.Module) -> int:
    """Every Dense/Conv2D/BatchNorm tensor of ``numpy_model``, in order, into ``torch_model``'s Linear/Conv2d/BatchNorm
    layers (the same (out, in) layouts); returns the number of layers copied. ValueError when they do not pair up."""
    kinds = {scratch.Dense: nn.Linear, scratch.Conv2D: nn.Conv2d, scratch.BatchNorm: (nn.BatchNorm1d, nn.BatchNorm2d)}
    ours = [m for m in numpy_model.modules() if type(m) in kinds]
    theirs = [m for m in torch_model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d))]
    pairs = list(zip(ours, theirs))
    if len(ours) != len(theirs) or any(not isinstance(t, kinds[type(o)]) for o, t in pairs):
        raise ValueError(f"the NumPy model ({', '.join(type(m).__name__ for m in ours)}) and the torch one "
                         f"({', '.join(type(m).__name__ for m in theirs)}) differ layer by layer")
    with torch.no_grad():
        for o, t in pairs:
            tensors = ((o.gamma, t.weight), (o.beta, t.bias)) if isinstance(o, scratch.BatchNorm) else ((o.W, t.weight),
                                                                                                        (o.b, t.bias))
            for src, dst in tensors:
                if (src is None) != (dst is None) or (src is not None and tuple(src.data.shape) != tuple(dst.shape)):
                    raise ValueError(f"a {type(o).__name__} of the NumPy model does not match torch's "
                                     f"{type(t).__name__} in shape or bias")
                if src is not None:
                    dst.copy_(torch.from_numpy(src.data))
    return len(pairs)


def copy_initial_weights(model: nn.Module, cfg: Study, input_shape: tuple[int, ...], num_classes: int,
                         run_seed: int) -> dict:
    """train.init: numpy-engine — the torch model starts from the weights ``task: scratch`` draws for this run
    seed: the NumPy twin is built and its tensors copied layer by layer (``copy_weights``)."""
    if cfg.model.name not in BUILDERS:
        raise UserError(f"train.init: numpy-engine copies the NumPy engine's initial weights, but it has no model "
                        f"'{cfg.model.name}' (it has {', '.join(BUILDERS)}); remove train.init or use model mlp")
    if cfg.pretrain.task != "none":
        raise UserError("train.init: numpy-engine and pretrain both set where the weights start; keep one of them")
    try:
        copied = copy_weights(build(cfg, input_shape, num_classes, run_seed), model)
    except ValueError as e:
        raise UserError(f"train.init: numpy-engine: {e} for model '{cfg.model.name}'; remove train.init") from None
    return {"what": "the initial weights of the NumPy engine",
            "source": f"those task: scratch draws for the same seed, "
            f"{copied} layers copied (train.init: numpy-engine)"}


def _optimizer(cfg: Study, model: scratch.Module):
    o = cfg.train.optimizer
    if o.name == "sgd":
        return scratch.SGD(model.params(), o.lr, o.momentum, o.nesterov, o.weight_decay)
    if o.name == "rmsprop":
        return scratch.RMSProp(model.params(), o.lr, o.alpha, o.eps, o.momentum)
    return scratch.Adam(model.params(), o.lr, o.betas, o.eps, o.weight_decay, decoupled=o.name == "adamw")


def schedule(cfg: Study, steps_per_epoch: int):
    """lr(step) for the constant, step and cosine schedules, the same curves as torch's StepLR / CosineAnnealingLR."""
    t, lr = cfg.train, cfg.train.optimizer.lr
    total = max(t.epochs * steps_per_epoch, 1)
    if t.schedule == "step":
        return lambda step: lr * t.gamma ** (step // (t.step_epochs * steps_per_epoch))
    if t.schedule == "cosine":
        return lambda step: lr * 0.5 * (1 + np.cos(np.pi * min(step, total) / total))
    return None


def arrays(dataset: _data.Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A split as float32 NumPy arrays, normalized exactly as the torch path normalizes it."""
    x, y = dataset.split(split)
    transform = dataset.transform()
    x = transform(x, None) if transform is not None else x
    return np.ascontiguousarray(x.numpy(), dtype=np.float32), y.numpy()


def _save(path: Path, **groups: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{f"{g}/{k}": v for g, d in groups.items() for k, v in d.items()})
    atomic_write_bytes(path, buf.getvalue())


def _load(path: Path) -> dict[str, dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            out: dict[str, dict[str, np.ndarray]] = {}
            for key in z.files:
                group, name = key.split("/", 1)
                out.setdefault(group, {})[name] = z[key]
            return out
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:  # BadZipFile: a bad CRC, flipped bytes
        raise UserError(f"checkpoint {path} is unreadable ({e}); delete it to restart this arm from scratch") from None


class NumpyState:
    """The NumPy engine's checkpoint for the epoch driver: ``epoch-NNNN.npz`` files (read with allow_pickle=False),
    written atomically, behind train.checkpoint's sha256-checked ``last.json`` (with its fallback to the epoch
    before). Runs of earlier versions left one ``checkpoint.npz`` beside the folder: it still loads, unchecked."""

    def __init__(self, model: scratch.Module, optimizer):
        self.model, self.optimizer = model, optimizer

    def exists(self, folder: Path) -> bool:
        return train.checkpoint.exists(folder) or folder.with_suffix(".npz").is_file()

    def save(self, folder: Path, epoch: int, extra: dict) -> None:
        name = f"epoch-{epoch:04d}.npz"
        _save(folder / name, model=self.model.state_dict(), optim=self.optimizer.state_dict(),
              meta={"epoch": np.asarray(epoch), "monitor": np.asarray(json.dumps(extra["monitor"]))})
        train.checkpoint.commit(folder, epoch, state=name)
        folder.with_suffix(".npz").unlink(missing_ok=True)  # an earlier version's checkpoint, superseded

    def load(self, folder: Path) -> tuple[int, dict, dict | None]:
        entry, fallback = train.checkpoint.verified(folder) if train.checkpoint.exists(folder) else (None, None)
        state = _load(folder / entry["state"] if entry else folder.with_suffix(".npz"))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optim"])
        return int(state["meta"]["epoch"]), {"monitor": json.loads(str(state["meta"]["monitor"]))}, fallback

    def save_best(self, path: Path) -> None:
        _save(path, model=self.model.state_dict())
        train.checkpoint.seal(path)

    def load_best(self, path: Path) -> None:
        train.checkpoint.check_seal(path)
        self.model.load_state_dict(_load(path)["model"])


class ScratchTask(Task):
    """The study machinery (arms, seeds, checkpoints, resume, report) on the NumPy engine."""

    name = "scratch"
    epoch_metrics = {"val_loss": True, "val_acc": False}
    predictions = True

    def check(self, arm: str, cfg: Study, study: Study) -> None:
        name, t = cfg.model.name, cfg.train
        if name not in BUILDERS:
            raise UserError(f"arm '{arm}': the NumPy engine has no model '{name}'{closest(name, BUILDERS)}; "
                            f"task: scratch models are {', '.join(BUILDERS)}")
        params = inspect.signature(BUILDERS[name]).parameters
        for key in cfg.model.kwargs():
            if key not in params or key in _DERIVED:
                raise UserError(f"arm '{arm}': scratch model '{name}' has no argument '{key}'{closest(key, params)}")
        unsupported = {"train.precision": t.precision != "fp32", "train.channels_last": t.channels_last,
                       "train.schedule: onecycle": t.schedule == "onecycle",
                       "train.label_smoothing": t.label_smoothing > 0,
                       "train.grad_clip": t.grad_clip is not None, "data.augment": bool(cfg.data.augment)}
        unsupported["analyses: gradients (needs model rnn)"] = "gradients" in cfg.analyses and name != "rnn"
        bad = [k for k, v in unsupported.items() if v]
        if bad:
            raise UserError(f"arm '{arm}': {', '.join(bad)} is not supported by the NumPy engine (task: scratch); "
                            "remove it or use task: classify")

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        if ds.kind == "text":
            raise UserError(f"dataset '{ds.name}' is text: the NumPy engine has no text models; use task: classify "
                            "(rnn, conv1d, transformer) or task: classical (naive-bayes, logistic-regression)")
        build(cfg, ds.input_shape, ds.num_classes, 0)

    def train_seed(self, ctx: SeedContext) -> SeedResult:
        return train_one(ctx)

    def size(self, cfg: Study, data_info: dict, ok: list[dict]) -> Size:
        return Size(size(cfg, tuple(data_info["input_shape"]), len(data_info["classes"])))

    def summarize(self, study: Study, cfg: Study, run: RunDir, arm: str, ok: list[dict], data_info: dict) -> dict:
        return {"gradients": gradient_summary(run, arm, study.seeds)} if "gradients" in study.analyses else {}


def train_one(ctx: SeedContext) -> SeedResult:
    cfg, dataset, run_seed, folder, t = ctx.cfg, ctx.dataset, ctx.run_seed, ctx.seed.path, ctx.cfg.train
    x, y = arrays(dataset, "train")
    xv, yv = arrays(dataset, "val")
    model = build(cfg, dataset.input_shape, dataset.num_classes, run_seed)
    optimizer = _optimizer(cfg, model)
    monitor = train.Monitor(t.early_stopping.monitor, t.early_stopping.patience, t.early_stopping.min_delta)

    def epochs(start: int):
        if start == 0 and "gradients" in cfg.analyses:
            write_json(folder / "gradients.json", {"init": _gradient_norms(model, xv, yv)})
        yield from scratch.fit(model, optimizer, x, y, xv, yv, epochs=t.epochs, batch_size=t.batch_size,
                               seed=run_seed % 2**63, start_epoch=start, eval_batch_size=t.eval_batch_size,
                               lr_at=schedule(cfg, -(-len(x) // t.batch_size)), l1=t.l1)

    state = NumpyState(model, optimizer)
    try:
        driven = train.drive(folder, state, epochs, total=t.epochs, monitor=monitor, on_event=ctx.on_event, arm=ctx.arm,
                             seed=ctx.index, best="best.npz")
    except scratch.NonFiniteLoss as e:  # the study handles both engines' divergence the same way
        raise train.NonFiniteLoss(e.epoch, e.value) from None
    state.load_best(folder / "best.npz")
    if "gradients" in cfg.analyses:
        write_json(folder / "gradients.json",
                   {**read_json(folder / "gradients.json"), "trained": _gradient_norms(model, xv, yv)})
    xt, yt = arrays(dataset, "test")
    t0 = time.perf_counter()
    logits = scratch.predict(model, xt, t.eval_batch_size)
    test_seconds = time.perf_counter() - t0
    evaluate.save_predictions(folder, logits)
    if "boundary" in cfg.analyses and ctx.index == 0 and x.shape[1:] == (2,):
        evaluate.save_boundary(folder, x, y, xt, yt,
                               lambda q: evaluate.softmax(scratch.predict(model, q, t.eval_batch_size)))
    idx = evaluate.probe_indices(len(x))
    train_accuracy = float((scratch.predict(model, x[idx], t.eval_batch_size).argmax(1) == y[idx]).mean())
    return evaluate.run_record(
        read_jsonl(ctx.seed.metrics), best_epoch=monitor.best_epoch,
                               monitor={"metric": monitor.metric, "best": monitor.best},
        stopped_early=driven.stopped_early, precision="fp32 (NumPy engine)", test_seconds=test_seconds,
        train_accuracy=train_accuracy, test=evaluate.classification_metrics(logits, yt, dataset.classes))


def _gradient_norms(model: scratch.Module, x: np.ndarray, y: np.ndarray, n: int = 512) -> list[float]:
    """Batch-mean ||dL/dh_t|| for t = last step, last - 1, ... (index = distance from the loss), on n validation
    examples."""
    model.eval()
    _, grad = scratch.softmax_cross_entropy(model.forward(x[:n]), y[:n])
    model.backward(grad)
    model.zero_grad()  # a measurement, not a training step
    return model.recurrent.grad_norms[::-1].tolist()


def size(cfg: Study, input_shape: tuple[int, ...], num_classes: int) -> int:
    return sum(p.data.size for p in build(cfg, input_shape, num_classes, 0).params())


def gradient_summary(run: RunDir, arm: str, seeds: int) -> dict | None:
    """Mean over seeds of ||dL/dh_t|| by distance from the last step, at initialization and after training."""
    runs = [read_json(p) for i in range(seeds) if (p := run.seed(arm, i) / "gradients.json").is_file()]
    if not runs:
        return None
    return {when: {"mean": np.mean([r[when] for r in runs], 0).tolist(),
                   "min": np.min([r[when] for r in runs], 0).tolist(),
                   "max": np.max([r[when] for r in runs], 0).tolist()}
            for when in ("init", "trained") if all(when in r for r in runs)}
