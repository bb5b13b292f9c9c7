"""Optimizer trajectories on 2-D test surfaces in a report (``analyses: [trajectories]``): one figure of four contour
panels with a path per optimizer, and one sentence per surface on what each path did. Reads trajectories.json (the
figure) and results.json's block (the sentences); every number comes from the measured paths."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.fileio import read_json

FILE = "trajectories.json"  # what tasks/trajectories.py writes in the run folder
STANDARD = ("SGD", "momentum", "Nesterov", "RMSProp", "Adam", "AdamW")  # deepstudy.train.surfaces.OPTIMIZERS


def _num(v: float | None) -> str:
    return "∞" if v is None else f"{v:.2g}"


def _point(p) -> str:
    return "(" + ", ".join(f"{v:g}" for v in p) + ")"


def _array(rows) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def figure(found: dict, path: Path) -> Path:
    """Four contour panels; on a saddle the paths from the perturbed start (1e-3 off the stable manifold) are drawn,
    those from the start on it are grey dots at their ends (they never leave y = 0)."""
    from deepstudy.report.plots import _COLORS, _save, plt

    names = list(found["surfaces"])
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.6))
    labels = list(found["optimizers"])
    for ax, name in zip(axes.flat, names):
        s = found["surfaces"][name]
        g = s["grid"]
        x, y, f = np.array(g["x"]), np.array(g["y"]), _array(g["f"])
        if s["log_contours"]:
            low = max(np.nanmin(f), 0) + 1e-3
            ax.contour(x, y, f, levels=np.geomspace(low, np.nanmax(f), 25), colors="0.7", linewidths=0.6)
        else:
            ax.contour(x, y, f, levels=25, colors="0.7", linewidths=0.6)
        (x0, x1), (y0, y1) = s["window"]
        for k, label in enumerate(labels):
            run = s["runs"][label]
            drawn = run.get("perturbed", run)
            p = _array(drawn["path"])
            arm = label not in STANDARD  # an arm's own settings: dashed over the standard optimizer it varies
            ax.plot(p[:, 0], p[:, 1], color=_COLORS[k % len(_COLORS)], lw=1.4, ls="--" if arm else "-", label=label)
            if "perturbed" in run:
                end = _array(run["path"])[-1]
                ax.plot([end[0]], [end[1]], ".", color="grey", ms=5)
        start = s["perturbed"] or s["start"]
        ax.plot([start[0]], [start[1]], "o", color="black", ms=7, mfc="white", label="start")
        target = s["minimum"] or s["saddle"]
        ax.plot([target[0]], [target[1]], "*" if s["minimum"] else "X", color="black", ms=11,
                label="minimum" if s["minimum"] else "saddle point")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(f"{s['title']} ({s['steps']} steps)", fontsize=9)
        ax.tick_params(labelsize=7)
    shown = {}
    for ax in axes.flat:  # every label once (the minimum and the saddle point are in different panels)
        for handle, text in zip(*ax.get_legend_handles_labels()):
            shown.setdefault(text, handle)
    fig.legend(list(shown.values()), list(shown), loc="lower center", ncol=min(len(shown), 5), fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return _save(fig, path)


def caption(found: dict) -> str:
    t = found["tolerances"]
    return ("Optimizer paths on four 2-D test surfaces (contour lines log-spaced on Rosenbrock and Beale), one colour "
            "per optimizer, each with its own fixed learning rate per surface (results.json lists them). On the two "
            f"saddles the drawn paths start {t['perturbation']:g} off the stable manifold y = 0; grey dots: where the "
            "same optimizers end when started exactly on it (the gradient there has no y part, so no path from it "
            "leaves y = 0 sideways). The paths are not the study's training: they show how each update rule moves "
            "where the curvature is known.")


def figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    """The report's figure, when the study listed trajectories and the run has its file."""
    file = Path(run_dir) / FILE
    if "trajectories" not in wanted or not file.is_file():
        return []
    found = read_json(file)
    return [{"path": figure(found, Path(run_dir) / "figures" / "trajectories.png"), "caption": caption(found)}]


def _outcome(r: dict, target: str, eps: float) -> str:
    """What one path did, in words, with its measured numbers."""
    out, steps = r["outcome"], r["steps"]
    if out == "escaped the saddle":
        return f"escaped at step {r['escaped_at']}"
    if out == "reached the minimum":
        return f"reached the minimum (within {eps:g} of it from step {r['steps_to_within_eps']})"
    if out == "stalled at the saddle":
        y = "y stayed exactly 0" if r["max_abs_y"] == 0 else f"|y| at most {_num(r['max_abs_y'])}"
        return f"stalled ({y} over {steps} steps; ends {_num(r['distance_to_min'])} from the saddle point)"
    if out == "diverged":
        return "diverged"
    y = "y stayed exactly 0" if r["max_abs_y"] == 0 else f"|y| up to {_num(r['max_abs_y'])}"
    return f"still moving after {steps} steps ({_num(r['distance_to_min'])} from the {target}" + (
        f", {y})" if target == "saddle point" else ")")


def lines(results: dict) -> list[str]:
    """Per surface: which optimizers reached, stalled, escaped or diverged, from results.json's block."""
    block = results.get("trajectories")
    if "trajectories" not in results.get("analyses", ()) or not block:
        return []
    out, eps = [], block["tolerances"]["near_minimum"]
    for s in block["surfaces"].values():
        target = "minimum" if s["minimum"] else "saddle point"
        if s["perturbed"]:
            on = "; ".join(f"{label} {_outcome(r['result'], target, eps)}" for label, r in s["runs"].items())
            off = "; ".join(f"{label} {_outcome(r['perturbed'], target, eps)}" for label, r in s["runs"].items())
            out.append(f"{s['title']}, started on the stable manifold at {_point(s['start'])}: {on}")
            out.append(f"{s['title']}, started off it at {_point(s['perturbed'])}: {off}")
        else:
            runs = "; ".join(f"{label} {_outcome(r['result'], target, eps)}" for label, r in s["runs"].items())
            out.append(f"{s['title']}, from {_point(s['start'])} (minimum at {_point(s['minimum'])}): {runs}")
    used = [f"{', '.join(info['arms'])} train{'s' if len(info['arms']) == 1 else ''} with {label}"
            for label, info in block["optimizers"].items() if info["arms"] and label in STANDARD]
    if used:
        out.append("The study's arms: " + "; ".join(used) + " (an arm with other settings has its own path, "
                   "named after it, at the rate of the standard optimizer it varies)")
    return out
