"""Optimizer trajectories on 2-D test surfaces (``analyses: [trajectories]``): where SGD, momentum, Nesterov,
RMSProp, Adam and AdamW go on a saddle, Rosenbrock's valley, Beale's function and a monkey saddle.

Each surface is a function of a (2,) tensor with its known minimum or saddle, a plotting window and a start.
:func:`trajectory` steps one torch optimizer (built by :func:`deepstudy.train.build_optimizer`, as a study's arms
are) on the point and returns the path, shape (steps + 1, 2); :func:`classify_path` says what the path did, from
the path alone. Nothing is random: the same call gives the same path, bit for bit (float64 on the CPU).

The point is held as a (1, 2) weight so that AdamW's decoupled weight decay applies to it (build_optimizer decays
tensors with ndim > 1 only, as it does a network's weight matrices).

Learning rates (:data:`RATES`): one per (surface, optimizer), picked ONCE from the grid 1e-4, 3e-4, 1e-3, 3e-3,
0.01, 0.03, 0.1 by the smallest final distance to the minimum after the surface's steps (Rosenbrock 2000, Beale
1000; a rate whose path diverged counts as infinitely far) and written down here; nothing is tuned when the
analysis runs. On the two saddles every optimizer uses 0.01, so that what differs between paths is the algorithm,
not the step size.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from deepstudy.train.optim import build_optimizer

# the six optimizers drawn on every surface: name -> build_optimizer's arguments (without lr)
OPTIMIZERS: dict[str, dict] = {
    "SGD": {"name": "sgd"},
    "momentum": {"name": "sgd", "momentum": 0.9},
    "Nesterov": {"name": "sgd", "momentum": 0.9, "nesterov": True},
    "RMSProp": {"name": "rmsprop", "alpha": 0.99},
    "Adam": {"name": "adam", "betas": (0.9, 0.999)},
    "AdamW": {"name": "adamw", "betas": (0.9, 0.999), "weight_decay": 0.01},
}
PERTURBATION = 1e-3  # y of the perturbed start on a saddle's stable manifold (y = 0)

# Tolerances of classify_path
DIVERGED = 1e6  # a coordinate beyond this (or not finite): diverged
NEAR_MINIMUM = 1e-2  # final distance to the minimum that counts as reached (and the eps of steps_to_within_eps)
NEAR_SADDLE = 0.1  # final distance to the saddle point that counts as stalled there
ESCAPED = 1.0  # distance from the saddle point beyond which a path that went below the saddle's height escaped


@dataclass(frozen=True)
class Surface:
    """A 2-D test function. ``minimum`` or ``saddle`` (or both) are the points paths are measured against; a
    saddle's stable manifold is the line y = 0 (``start`` lies on it, ``perturbed`` is the start moved off it)."""

    name: str
    title: str  # the formula, for a figure
    f: Callable[[torch.Tensor], torch.Tensor]  # (2,) -> scalar
    window: tuple[tuple[float, float], tuple[float, float]]  # ((x min, x max), (y min, y max)) of a plot
    start: tuple[float, float]
    steps: int
    minimum: tuple[float, float] | None = None
    saddle: tuple[float, float] | None = None
    log_contours: bool = False  # contour levels spaced on a log scale (a narrow valley)

    @property
    def perturbed(self) -> tuple[float, float] | None:
        """A saddle's start moved PERTURBATION off the stable manifold (None without a saddle)."""
        return None if self.saddle is None else (self.start[0], self.start[1] + PERTURBATION)


def _saddle(p: torch.Tensor) -> torch.Tensor:
    return p[0] ** 2 - p[1] ** 2


def _rosenbrock(p: torch.Tensor) -> torch.Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def _beale(p: torch.Tensor) -> torch.Tensor:
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2


def _monkey_saddle(p: torch.Tensor) -> torch.Tensor:
    return p[0] ** 3 - 3 * p[0] * p[1] ** 2


SURFACES: dict[str, Surface] = {s.name: s for s in (
    Surface("saddle", "x² − y²", _saddle, ((-1.5, 1.5), (-1.5, 1.5)), (1.0, 0.0), 300, saddle=(0.0, 0.0)),
    Surface("rosenbrock", "Rosenbrock (1 − x)² + 100 (y − x²)²", _rosenbrock, ((-2.0, 2.0), (-1.0, 3.0)),
            (-1.5, 2.0), 2000, minimum=(1.0, 1.0), log_contours=True),
    Surface("beale", "Beale", _beale, ((-0.5, 4.0), (-1.5, 2.0)), (1.0, 1.5), 1000, minimum=(3.0, 0.5),
            log_contours=True),
    Surface("monkey-saddle", "monkey saddle x³ − 3xy²", _monkey_saddle, ((-1.5, 1.5), (-1.5, 1.5)), (1.0, 0.0),
            300, saddle=(0.0, 0.0)),
)}

# (surface, optimizer) -> learning rate; how they were picked: the module's docstring
RATES: dict[str, dict[str, float]] = {
    "saddle": dict.fromkeys(OPTIMIZERS, 0.01),
    "monkey-saddle": dict.fromkeys(OPTIMIZERS, 0.01),
    "rosenbrock": {"SGD": 1e-3, "momentum": 1e-3, "Nesterov": 1e-3, "RMSProp": 0.01, "Adam": 0.1, "AdamW": 0.03},
    "beale": {"SGD": 0.03, "momentum": 0.003, "Nesterov": 0.003, "RMSProp": 0.01, "Adam": 0.1, "AdamW": 0.1},
}


def gradient(surface: Surface, point) -> np.ndarray:
    """The surface's gradient at ``point`` (autograd, float64), shape (2,)."""
    p = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    surface.f(p).backward()
    return p.grad.numpy().copy()


def trajectory(surface: Surface | str, optimizer: str, lr: float | None = None, steps: int | None = None,
               start=None, **opt_kwargs) -> np.ndarray:
    """The path of ``optimizer`` on ``surface``: the start, then the point after each step; shape (steps + 1, 2).

    ``optimizer``: one of :data:`OPTIMIZERS` (its settings, updated by ``opt_kwargs``) or a build_optimizer name
    (``"sgd"``, ``"adam"`` ...) with ``opt_kwargs`` (momentum, nesterov, betas, alpha, eps, weight_decay).
    ``lr``, ``steps``, ``start``: default to the surface's (:data:`RATES` for a named optimizer). A path that
    leaves the finite numbers stops there; the rest of its rows repeat the last finite point's non-finite step
    (NaN/inf), so every path has steps + 1 rows.

    Example:
        >>> from deepstudy.train import surfaces
        >>> path = surfaces.trajectory("saddle", "SGD", steps=100)
        >>> path.shape, bool((path[:, 1] == 0).all())
        ((101, 2), True)
    """
    s = SURFACES[surface] if isinstance(surface, str) else surface
    if optimizer in OPTIMIZERS:
        settings = {**OPTIMIZERS[optimizer], **opt_kwargs}
        lr = RATES.get(s.name, {}).get(optimizer, 0.01) if lr is None else lr
    else:
        settings = {"name": optimizer, **opt_kwargs}
        lr = 0.01 if lr is None else lr
    steps = s.steps if steps is None else steps
    holder = nn.Module()
    holder.point = nn.Parameter(torch.tensor([start if start is not None else s.start], dtype=torch.float64))
    name = settings.pop("name")
    opt = build_optimizer(holder, name, lr=lr, fused=False, **settings)
    path = np.full((steps + 1, 2), np.nan)
    path[0] = holder.point.detach().numpy()[0]
    for k in range(1, steps + 1):
        opt.zero_grad(set_to_none=False)
        s.f(holder.point[0]).backward()
        opt.step()
        path[k] = holder.point.detach().numpy()[0]
        if not np.isfinite(path[k]).all():
            path[k:] = path[k]
            break
    return path


def _distance(path: np.ndarray, point) -> np.ndarray:
    return np.hypot(path[:, 0] - point[0], path[:, 1] - point[1])


def classify_path(surface: Surface | str, path: np.ndarray) -> dict:
    """What a path did, measured on it (the tolerances are this module's constants):

    - ``"escaped the saddle"``: on a saddle surface, the path went downhill past the saddle: a point farther than
      ESCAPED from the saddle point and lower than it (f below f(saddle)); ``escaped_at``: the first step there
      (checked first: an escape on a surface unbounded below goes on to infinity);
    - ``"diverged"``: a coordinate became non-finite or passed DIVERGED;
    - ``"reached the minimum"``: the last point lies within NEAR_MINIMUM of the minimum;
    - ``"stalled at the saddle"``: the last point lies within NEAR_SADDLE of the saddle point;
    - ``"still moving"``: none of these.

    Also ``final`` (the last point), ``distance_to_min`` (of the last point, to the minimum; on a saddle surface to
    the saddle point), ``steps_to_within_eps`` (the first step within NEAR_MINIMUM of that point, or None),
    ``max_abs_y`` (the largest |y| along the path) and ``steps``.
    """
    s = SURFACES[surface] if isinstance(surface, str) else surface
    path = np.asarray(path, dtype=np.float64)
    target = s.minimum if s.minimum is not None else s.saddle
    finite = np.isfinite(path).all(axis=1)
    dist = np.where(finite, _distance(np.where(finite[:, None], path, 0.0), target), np.inf)
    within = np.flatnonzero(dist < NEAR_MINIMUM)
    abs_y = np.where(finite, np.abs(np.where(finite, path[:, 1], 0.0)), np.inf)
    out = {"final": [float(v) for v in path[-1]], "distance_to_min": _plain(dist[-1]),
           "steps_to_within_eps": int(within[0]) if len(within) else None, "max_abs_y": _plain(abs_y.max()),
           "steps": len(path) - 1, "escaped_at": None}
    escaped = np.array([], dtype=int)
    if s.saddle is not None:
        height = float(s.f(torch.tensor(s.saddle, dtype=torch.float64)))
        with torch.no_grad():
            heights = np.array([float(s.f(torch.from_numpy(p))) if ok else np.nan for p, ok in zip(path, finite)])
        far = finite & (_distance(np.where(finite[:, None], path, 0.0), s.saddle) > ESCAPED)
        escaped = np.flatnonzero(far & (heights < height))
    if len(escaped):
        return {**out, "outcome": "escaped the saddle", "escaped_at": int(escaped[0])}
    if not finite.all() or np.abs(path).max() > DIVERGED:
        return {**out, "outcome": "diverged"}
    if s.minimum is not None and dist[-1] < NEAR_MINIMUM:
        return {**out, "outcome": "reached the minimum"}
    if s.saddle is not None and _distance(path[-1:], s.saddle)[0] < NEAR_SADDLE:
        return {**out, "outcome": "stalled at the saddle"}
    return {**out, "outcome": "still moving"}


def _plain(value: float) -> float | None:
    """A float for JSON (None for inf / NaN)."""
    return float(value) if math.isfinite(value) else None
