"""Optimizer trajectories on 2-D test surfaces for a study (``analyses: [trajectories]``).

The paths depend on no data and no model, so they are computed once per study, after its seeds (no training
number changes: nothing random is drawn): the six standard optimizers of deepstudy.train.surfaces on every surface,
plus the optimizer of each arm whose settings (momentum, Nesterov, betas, alpha, eps, weight decay) differ from all
six — drawn with the surface's learning rate for its family, not the arm's own rate, which is scaled for the
network's loss and not for these surfaces. On a saddle each optimizer starts twice: exactly on the stable manifold
(y = 0) and 1e-3 off it. The run folder gets trajectories.json (the paths, a contour grid per surface, what each
path did); results.json a block without the paths (:func:`summary`).
"""
from __future__ import annotations

import numpy as np
import torch

from deepstudy.config import Study
from deepstudy.fileio import read_json, write_json
from deepstudy.rundir import RunDir
from deepstudy.train import surfaces

FILE = "trajectories.json"  # in the run folder (the report reads it)
GRID = 81  # contour grid points per axis


def _settings(name: str, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
              betas=(0.9, 0.999), eps: float = 1e-8, alpha: float = 0.99) -> dict:
    """An optimizer's settings that matter for its algorithm, defaults filled in (to compare two)."""
    if name == "sgd":
        return {"name": name, "momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay}
    if name == "rmsprop":
        return {"name": name, "momentum": momentum, "alpha": alpha, "eps": eps, "weight_decay": weight_decay}
    return {"name": name, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}


def _family(settings: dict) -> str | None:
    """Which of the six standard optimizers an optimizer's settings are a variant of (its rates are used)."""
    name = settings["name"]
    if name == "sgd":
        return "Nesterov" if settings["nesterov"] else "momentum" if settings["momentum"] > 0 else "SGD"
    return {"rmsprop": "RMSProp", "adam": "Adam", "adamw": "AdamW"}.get(name)


def optimizers(arms: dict[str, Study]) -> dict[str, dict]:
    """label -> {"settings", "family", "arms"}: the six standard optimizers (with the arms that train with exactly
    one of them) and every other optimizer setting an arm uses (labelled by its arms; an arm whose optimizer is
    none of the six families is left out)."""
    out = {label: {"settings": _settings(**kw), "family": label, "arms": []}
           for label, kw in surfaces.OPTIMIZERS.items()}
    for arm, cfg in arms.items():
        o = cfg.train.optimizer
        mine = _settings(o.name, o.momentum, o.nesterov, o.weight_decay, o.betas, o.eps, o.alpha)
        same = next((info for info in out.values() if info["settings"] == mine), None)
        if same is not None:
            same["arms"].append(arm)
        elif (family := _family(mine)) is not None:
            out[f"arm {arm} ({_describe(mine, out[family]['settings'])})"] = {"settings": mine, "family": family,
                                                                                 "arms": [arm]}
    return out


def _describe(settings: dict, standard: dict) -> str:
    """The settings that differ from the standard optimizer of the family, e.g. "adamw, weight_decay 0"."""
    keys = [k for k in settings if k != "name" and settings[k] != standard[k]]
    return ", ".join([settings["name"], *(f"{k} {settings[k]:g}" if isinstance(settings[k], float) else
                                          f"{k} {settings[k]}" for k in keys)])


def _run(surface: surfaces.Surface, label: str, info: dict, start) -> dict:
    settings = {k: v for k, v in info["settings"].items() if k != "name"}
    lr = surfaces.RATES[surface.name][info["family"]]
    path = surfaces.trajectory(surface, info["settings"]["name"], lr=lr, start=start, **settings)
    return {"start": list(start), "path": _rounded(path), "result": surfaces.classify_path(surface, path)}


def _rounded(a: np.ndarray) -> list:
    """Seven significant digits for the file (the outcomes are measured on the full paths); None where not finite."""
    return [[float(f"{v:.7g}") if np.isfinite(v) else None for v in row] for row in np.asarray(a)]


def _grid(surface: surfaces.Surface) -> dict:
    (x0, x1), (y0, y1) = surface.window
    xs, ys = np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID)
    mesh = torch.from_numpy(np.stack(np.meshgrid(xs, ys)))  # (2, GRID rows over y, GRID columns over x)
    with torch.no_grad():
        values = surface.f(mesh).numpy()
    return {"x": _rounded(xs[None])[0], "y": _rounded(ys[None])[0], "f": _rounded(values)}


def compute(arms: dict[str, Study]) -> dict:
    """trajectories.json's content for a study of these arms."""
    opts = optimizers(arms)
    out = {"tolerances": {"near_minimum": surfaces.NEAR_MINIMUM, "near_saddle": surfaces.NEAR_SADDLE,
                          "escaped": surfaces.ESCAPED, "diverged": surfaces.DIVERGED,
                          "perturbation": surfaces.PERTURBATION},
           "optimizers": {label: {**info, "settings": _plain(info["settings"])} for label, info in opts.items()},
           "surfaces": {}}
    for s in surfaces.SURFACES.values():
        runs = {}
        for label, info in opts.items():
            runs[label] = {"lr": surfaces.RATES[s.name][info["family"]], **_run(s, label, info, s.start)}
            if s.perturbed is not None:
                runs[label]["perturbed"] = _run(s, label, info, s.perturbed)
        out["surfaces"][s.name] = {
            "title": s.title, "window": [list(w) for w in s.window], "start": list(s.start),
            "perturbed": list(s.perturbed) if s.perturbed else None, "steps": s.steps,
            "minimum": list(s.minimum) if s.minimum else None, "saddle": list(s.saddle) if s.saddle else None,
            "log_contours": s.log_contours, "grid": _grid(s), "runs": runs}
    return out


def _plain(settings: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def after_seeds(study: Study, arms: dict[str, Study], run: RunDir) -> None:
    """trajectories.json in the run folder, when the study lists trajectories (a resume keeps one already written:
    the paths are deterministic)."""
    path = run.path / FILE
    if "trajectories" in study.analyses and not path.is_file():
        write_json(path, compute(arms))


def summary(run: RunDir) -> dict | None:
    """results.json's block: per surface and optimizer the rate and what its path(s) did (not the paths)."""
    path = run.path / FILE
    if not path.is_file():
        return None
    found = read_json(path)
    out = {"tolerances": found["tolerances"], "optimizers": found["optimizers"], "surfaces": {}}
    for name, s in found["surfaces"].items():
        out["surfaces"][name] = {
            "title": s["title"], "start": s["start"], "perturbed": s["perturbed"], "steps": s["steps"],
            "minimum": s["minimum"], "saddle": s["saddle"],
            "runs": {label: {"lr": r["lr"], "result": r["result"],
                             **({"perturbed": r["perturbed"]["result"]} if "perturbed" in r else {})}
                     for label, r in s["runs"].items()}}
    return out
