"""Model registry: ``create(name, **kw)`` with the constructor's own keyword arguments.

Models are plain ``nn.Module``s: they never see a config, a device or a file. ``build`` fills the
data-dependent arguments (``in_channels``/``in_features``/``input_size``/``num_classes``) from the
dataset's input shape, so a study names only what it varies.
"""
from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from deepstudy.errors import UserError, closest
from deepstudy.models import custom


@dataclass(frozen=True)
class Entry:
    name: str
    fn: Callable[..., nn.Module]
    family: str
    inputs: str  # "image" | "vector" | "any" | "tokens" (int64 ids (T,), padding id 0) | "sequence" (tokens or (T, F))
    description: str
    tiny: dict  # keyword arguments for a fast instance of the same family (tests, `deepstudy doctor`)


_MODELS: dict[str, Entry] = {}


def register(name: str, *, family: str, inputs: str, description: str, tiny: dict | None = None):
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _MODELS[name] = Entry(name, fn, family, inputs, description, dict(tiny or {}))
        return fn
    return deco


def names() -> list[str]:
    """Every registered model name, sorted (`deepstudy schema --models` describes each).

    Example:
        >>> from deepstudy import models
        >>> "mlp" in models.names() and "resnet18" in models.names()
        True
    """
    return sorted(n for n in _MODELS if not custom.is_class_path(n))  # the zoo, not a study's own class


def entry(name: str) -> Entry:
    """The registry entry of model ``name``: its constructor (``fn``), family, the inputs it reads, a description and
    the arguments of a tiny instance (an unknown name: a UserError with the closest names).

    Example:
        >>> from deepstudy import models
        >>> e = models.entry("mlp")
        >>> e.family, e.inputs
        ('mlp', 'any')
    """
    if name not in _MODELS and custom.is_class_path(name):  # your own model ('package.module:Class'): imported once
        cls = custom.load(name)
        params = inspect.signature(cls).parameters
        _MODELS[name] = Entry(name, cls, "custom", "tokens" if "vocab_size" in params else "any",
                              custom.describe(cls), {})
    if name not in _MODELS:
        raise UserError(f"unknown model '{name}'{closest(name, _MODELS)}; registered models: {', '.join(names())}")
    return _MODELS[name]


def check_kwargs(name: str, kwargs: dict) -> None:
    """A misspelt keyword is a UserError naming the closest valid ones.

    Example:
        >>> from deepstudy import models
        >>> models.check_kwargs("mlp", {"hidden": [64]})          # fine: returns None
        >>> models.check_kwargs("mlp", {"hiden": [64]})
        Traceback (most recent call last):
        deepstudy.errors.UserError: model 'mlp' has no argument 'hiden' (did you mean: hidden?); its arguments: ...
    """
    params = inspect.signature(entry(name).fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for key in kwargs:
        if key not in params:
            raise UserError(f"model '{name}' has no argument '{key}'{closest(key, params)}; "
                            f"its arguments: {', '.join(params)}")


def unbuildable(name: str, kwargs: dict, reason: object) -> str:
    """Why model ``name`` cannot be built, as one line naming the argument at fault where one holds a size below 1
    (a width, a channel count, a depth: the usual cause of torch's errors at construction).

    Example:
        >>> from deepstudy import models
        >>> print(models.unbuildable("mlp", {"hidden": [0]}, "empty layer"))
        model 'mlp': hidden=[0] asks for a size below 1 (empty layer); widths, channel counts and ... — fix model.hidden
    """
    for key, value in kwargs.items():
        values = value if isinstance(value, (list, tuple)) else (value,)
        if any(isinstance(v, int) and not isinstance(v, bool) and v < 1 for v in values):
            return (f"model '{name}': {key}={value!r} asks for a size below 1 ({reason}); widths, channel counts and "
                    f"other sizes are whole numbers >= 1 — fix model.{key}")
    return f"model '{name}' cannot be built with {kwargs}: {reason}"


def checked_build(name: str, kwargs: dict, make: Callable[[], Any], where: str = "") -> Any:
    """``make()`` (model ``name`` built from ``kwargs``: a module or a tuple of them), with torch's errors (a negative
    width, a stride of 0) and a layer without weights (a width of 0, which would train a constant) as one line.

    Example:
        >>> from deepstudy import models
        >>> make = lambda: models.create("mlp", in_features=4, num_classes=2, hidden=[8])
        >>> net = models.checked_build("mlp", {"hidden": [8]}, make)
        >>> type(net).__name__
        'MLP'
    """
    try:
        with warnings.catch_warnings():  # a width of 0: said below, in one line
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            model = make()
    except (RuntimeError, ArithmeticError) as e:
        raise UserError(where + unbuildable(name, kwargs, e)) from None
    for module in model if isinstance(model, tuple) else (model,):
        empty = next((n for n, p in module.named_parameters() if p.numel() == 0), None)
        if empty is not None:
            raise UserError(where + unbuildable(name, kwargs, f"its layer {empty} would have no weights"))
    return model


def create(name: str, **kwargs) -> nn.Module:
    """Model ``name`` from its constructor's own keyword arguments (see ``build`` to take the sizes from the data).

    A misspelt or impossible argument is a UserError of one line.

    Example:
        >>> from deepstudy import models
        >>> net = models.create("mlp", in_features=64, num_classes=10, hidden=[32])
        >>> sum(p.numel() for p in net.parameters())
        2410
    """
    check_kwargs(name, kwargs)
    # your own class (family custom) may raise anything on arguments it refuses: one line too, with its kwargs
    refused = Exception if entry(name).family == "custom" else (TypeError, ValueError)
    try:
        return checked_build(name, kwargs, lambda: entry(name).fn(**kwargs))
    except UserError:
        raise
    except refused as e:
        raise UserError(unbuildable(name, kwargs, f"{type(e).__name__}: {e}")
                        if entry(name).family == "custom" else unbuildable(name, kwargs, e)) from None


def example(name: str, input_shape: tuple[int, ...], batch: int = 1) -> torch.Tensor:
    """An input of the right dtype: zeros for most models; for token models int64 ids of 1 (<unk>), so
    that no position is padding and sizes count the full length.

    Example:
        >>> from deepstudy import models
        >>> models.example("cnn", (1, 28, 28), batch=2).shape
        torch.Size([2, 1, 28, 28])
    """
    if entry(name).inputs == "tokens" or entry(name).inputs == "sequence" and len(input_shape) == 1:
        return torch.ones(batch, *input_shape, dtype=torch.long)
    return torch.zeros(batch, *input_shape)


def build(name: str, input_shape: tuple[int, ...], num_classes: int, vocab_size: int | None = None,
          **kwargs) -> nn.Module:
    """``create`` with in_channels / in_features / input_size / num_classes (and a text dataset's
    vocab_size) taken from the data.

    Example:
        >>> import torch
        >>> from deepstudy import models
        >>> net = models.build("cnn", input_shape=(1, 28, 28), num_classes=10, channels=[8, 16])
        >>> net(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    params = inspect.signature(entry(name).fn).parameters
    given = dict(kwargs)
    kind = entry(name).inputs
    if kind == "sequence" and vocab_size is None and "vocab_size" not in given:  # numeric steps (T, F)
        if len(input_shape) != 2:
            raise UserError(f"model '{name}' reads token ids or time series (steps, features); the data has shape "
                            f"{tuple(input_shape)}")
        given.setdefault("in_features", input_shape[-1])
    elif kind in ("tokens", "sequence"):
        if vocab_size is None and "vocab_size" not in given:
            raise UserError(f"model '{name}' reads token ids: use it on a text dataset (imdb, ag-news, 20newsgroups)")
        given.setdefault("vocab_size", vocab_size)
    elif vocab_size is not None:
        raise UserError(f"model '{name}' does not read text; for text data use rnn, conv1d or transformer")
    derived = {
        "num_classes": num_classes,
        "in_features": math.prod(input_shape),
        "in_channels": input_shape[0],
        "input_size": tuple(input_shape[1:]),
        "input_shape": tuple(input_shape),
    }
    for key, value in derived.items():
        if key in params and key not in given:
            given[key] = value
    if entry(name).inputs == "image" and len(input_shape) != 3:
        raise UserError(f"model '{name}' needs images (C, H, W) but the data has shape {tuple(input_shape)}; "
                        "use an MLP for tables")
    return create(name, **given)
