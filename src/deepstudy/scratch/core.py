"""Parameters and modules of the NumPy engine.

A layer keeps ``forward(x)`` and ``backward(dout)`` side by side; ``backward`` returns the
gradient with respect to the input and accumulates parameter gradients into ``Param.grad``.
Parameters are found by walking attributes (like ``nn.Module``), so a layer only has to store
them. NumPy only: this package never imports torch or other deepstudy code.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class Param:
    """A tensor and its gradient (same shape and dtype)."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = np.zeros_like(data)

    def __repr__(self) -> str:
        return f"Param{self.data.shape}"


class Module:
    """A layer or network of the NumPy engine: ``forward(x)`` caches what ``backward(dout)`` needs, ``backward``
    returns ``dL/dx`` and accumulates ``dL/dW`` into each :class:`Param`'s ``grad``; ``train()`` / ``eval()`` switch
    dropout and batch norm as in torch.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> layer = scratch.Dense(3, 2, np.random.default_rng(0))
        >>> out = layer(np.ones((4, 3), dtype=np.float32))
        >>> dx = layer.backward(np.ones_like(out))
        >>> out.shape, dx.shape, layer.W.grad.shape
        ((4, 2), (4, 3), (2, 3))
    """
    training = True
    buffers: tuple[str, ...] = ()  # names of non-trained arrays to checkpoint (BatchNorm's running stats)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def children(self) -> Iterator[Module]:
        for value in vars(self).values():
            if isinstance(value, Module):
                yield value
            elif isinstance(value, list | tuple):
                yield from (v for v in value if isinstance(v, Module))

    def params(self) -> list[Param]:
        """Every parameter of this module and its children, each once, in attribute order."""
        own = [v for v in vars(self).values() if isinstance(v, Param)]
        found = own + [p for child in self.children() for p in child.params()]
        return list({id(p): p for p in found}.values())  # dicts keep first-seen order: shared tensors once

    def state_dict(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Every parameter and buffer by a stable name: enough to restore the model exactly."""
        out = {f"{prefix}param{k}": p.data for k, p in enumerate(self.params())}
        for k, m in enumerate(self.modules()):
            out.update({f"{prefix}module{k}.{name}": getattr(m, name) for name in m.buffers})
        return out

    def load_state_dict(self, state: dict[str, np.ndarray], prefix: str = "") -> None:
        for k, p in enumerate(self.params()):
            p.data[...] = state[f"{prefix}param{k}"]
        for k, m in enumerate(self.modules()):
            for name in m.buffers:
                setattr(m, name, np.array(state[f"{prefix}module{k}.{name}"]))

    def modules(self) -> list[Module]:
        out = [self]
        for child in self.children():
            out += child.modules()
        return out

    def zero_grad(self) -> None:
        for p in self.params():
            p.grad[...] = 0

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def _workspace(self, name: str, shape: tuple[int, ...], dtype, fill: float | None = None) -> np.ndarray:
        """A scratch array kept between steps: allocating tens of MB afresh each step costs more in page
        faults than the matrix products themselves (measured 26 ms vs 1.9 ms for one GEMM). ``fill``: the
        value it is created with (a zero border or a ones vector that is never written stays so). An array a
        layer returns from a workspace is overwritten by the layer's next call: copy it to keep it."""
        spaces = self.__dict__.setdefault("_workspaces", {})
        buf = spaces.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = spaces[name] = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
        return buf


class Sequential(Module):
    """Layers applied in order; ``backward`` runs them in reverse.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> rng = np.random.default_rng(0)
        >>> net = scratch.Sequential(scratch.Dense(4, 8, rng), scratch.ReLU(), scratch.Dense(8, 3, rng))
        >>> net(np.zeros((2, 4), dtype=np.float32)).shape, len(net.params())
        ((2, 3), 4)
    """
    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


def kaiming_uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype) -> np.ndarray:
    """torch's default init for Linear/Conv weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
