"""SGD (momentum, Nesterov), RMSProp, Adam and AdamW — the update rules of torch.optim, step for step."""
from __future__ import annotations

import numpy as np

from deepstudy.scratch.core import Param


class Optimizer:
    def __init__(self, params: list[Param], lr: float):
        self.params, self.lr = list(params), lr
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0

    def state_dict(self) -> dict[str, np.ndarray]:
        out = {f"{k}.{name}": np.asarray(v) for k, s in enumerate(self.state) for name, v in s.items()}
        out["t"] = np.asarray(getattr(self, "t", 0))
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.state = [{} for _ in self.params]
        for key, value in state.items():
            if key == "t":
                if hasattr(self, "t"):
                    self.t = int(value)
                continue
            k, name = key.split(".", 1)
            self.state[int(k)][name] = np.array(value)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay — torch.optim.SGD's
    update, step for step.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> w = scratch.Param(np.array([1.0]))
        >>> opt = scratch.SGD([w], lr=0.1)
        >>> w.grad[:] = 2.0
        >>> opt.step()
        >>> w.data.tolist()
        [0.8]
    """
    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def step(self) -> None:
        for p, s in zip(self.params, self.state):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                s["buf"] = g.copy() if "buf" not in s else self.momentum * s["buf"] + g
                g = g + self.momentum * s["buf"] if self.nesterov else s["buf"]
            p.data -= self.lr * g


class RMSProp(Optimizer):
    """RMSProp (Hinton, 2012): steps scaled by a running mean of squared gradients, as torch.optim.RMSprop.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> w = scratch.Param(np.array([1.0]))
        >>> opt = scratch.RMSProp([w], lr=0.01)
        >>> w.grad[:] = 2.0
        >>> opt.step()
        >>> round(float(w.data[0]), 4)
        0.9
    """
    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0):
        super().__init__(params, lr)
        self.alpha, self.eps, self.momentum = alpha, eps, momentum

    def step(self) -> None:
        for p, s in zip(self.params, self.state):
            s["sq"] = self.alpha * s.get("sq", 0) + (1 - self.alpha) * p.grad ** 2
            update = p.grad / (np.sqrt(s["sq"]) + self.eps)
            if self.momentum:
                s["buf"] = self.momentum * s.get("buf", 0) + update
                update = s["buf"]
            p.data -= self.lr * update


class Adam(Optimizer):
    """Kingma & Ba (2015). ``decoupled=True`` is AdamW (Loshchilov & Hutter, 2019)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled: bool = False):
        super().__init__(params, lr)
        self.b1, self.b2 = betas
        self.eps, self.weight_decay, self.decoupled = eps, weight_decay, decoupled
        self.t = 0

    def step(self) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, s in zip(self.params, self.state):
            g = p.grad
            if self.weight_decay and self.decoupled:
                p.data *= 1 - self.lr * self.weight_decay
            elif self.weight_decay:
                g = g + self.weight_decay * p.data
            s["m"] = self.b1 * s.get("m", 0) + (1 - self.b1) * g
            s["v"] = self.b2 * s.get("v", 0) + (1 - self.b2) * g * g
            p.data -= (self.lr / c1) * s["m"] / (np.sqrt(s["v"]) / np.sqrt(c2) + self.eps)


def AdamW(params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2) -> Adam:
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``Adam(..., decoupled=True)``.

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> w = scratch.Param(np.array([1.0]))
        >>> opt = scratch.AdamW([w], lr=0.1, weight_decay=0.0)
        >>> w.grad[:] = 5.0
        >>> opt.step()                    # Adam's first step moves each weight by lr, whatever the gradient's size
        >>> round(float(w.data[0]), 4)
        0.9
    """
    return Adam(params, lr, betas, eps, weight_decay, decoupled=True)
