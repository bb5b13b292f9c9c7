"""Figures of a hyperparameter search, from results.json's ``search`` block (matplotlib, Agg backend).

``figures(run_dir, results)`` writes them under ``run_dir/figures/`` and returns ``{"path", "caption"}`` dicts
for the report's search section: the optimization history, fANOVA importances, one slice per parameter and
every trial's per-epoch curve.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

from deepstudy.report.search_view import fmt_value, val_scale

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_BLUE, _GREY, _RED, _GREEN = "#2b6cb0", "#a0aec0", "#c53030", "#2f855a"


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def _ylabel(s: dict) -> str:
    return f"{s['metric']}{' (%)' if val_scale(s) != 1.0 else ''} ({'lower' if s['lower_is_better'] else 'higher'} " \
           "is better)"


def history(s: dict, path: Path) -> Path:
    """Each complete trial's value by trial number, pruned ones as × at their last value, the best so far as steps,
    and the best configuration's fresh-seed mean ± std as a dashed line and band."""
    scale, lower = val_scale(s), s["lower_is_better"]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    done = [t for t in s["trials"] if t["state"] == "complete" and t.get("value") is not None]
    pruned = [t for t in s["trials"] if t["state"] == "pruned" and t.get("value") is not None]
    if done:
        ax.scatter([t["number"] for t in done], [t["value"] * scale for t in done], color=_BLUE, s=22, zorder=3,
                   label="complete trial")
        numbers, best, steps = [], None, []
        for t in sorted(done, key=lambda t: t["number"]):
            if best is None or (t["value"] < best if lower else t["value"] > best):
                best = t["value"]
            numbers.append(t["number"])
            steps.append(best * scale)
        last = max(t["number"] for t in s["trials"])
        ax.step(numbers + [last], steps + [steps[-1]], where="post", color=_GREEN, label="best so far")
    if pruned:
        ax.scatter([t["number"] for t in pruned], [t["value"] * scale for t in pruned], marker="x", color=_GREY,
                   s=30, zorder=3, label="pruned (last reported value)")
    fresh = s["reevaluated"]["tuned"]["val"]
    if fresh.get("mean") is not None:
        mean, std = fresh["mean"] * scale, (fresh.get("std") or 0.0) * scale
        ax.axhline(mean, color=_RED, ls="--", lw=1, label=f"best config on {fresh['n']} fresh seed(s)")
        if std:
            ax.axhspan(mean - std, mean + std, color=_RED, alpha=0.12)
    ax.set_xlabel("trial")
    ax.set_ylabel(_ylabel(s), fontsize=8)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def importances(values: dict[str, float], path: Path) -> Path:
    """fANOVA importances as horizontal bars, the most important on top."""
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(items) + 1.0))
    ax.barh(range(len(items)), [v for _, v in items], color=_BLUE)
    ax.set_yticks(range(len(items)), [k for k, _ in items], fontsize=8)
    for k, (_, v) in enumerate(items):
        ax.text(v, k, f" {v:.2f}", va="center", fontsize=7)
    ax.set_xlim(0, max(1.0, max(v for _, v in items) * 1.15))
    ax.set_xlabel("share of the variance of the score explained (fANOVA)")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def _kind(spec: dict) -> tuple[bool, bool]:
    """(categorical, log axis) of a space entry."""
    return "choice" in spec, "loguniform" in spec or ("int" in spec and bool(spec.get("log")))


def slices(s: dict, path: Path) -> Path | None:
    """One panel per searched parameter: each complete trial's value against its setting, coloured by trial number."""
    space, scale = s.get("space") or {}, val_scale(s)
    done = [t for t in s["trials"] if t["state"] == "complete" and t.get("value") is not None]
    keys = [k for k in space if any(k in (t.get("params") or {}) for t in done)]
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False, sharey=True)
    last = max(1, max(t["number"] for t in s["trials"]))
    for ax, key in zip(axes.flat, keys):
        categorical, log = _kind(space[key])
        have = [t for t in done if key in (t.get("params") or {})]
        y = [t["value"] * scale for t in have]
        colors = [t["number"] / last for t in have]
        if categorical:
            labels = [fmt_value(c) for c in space[key]["choice"]]
            labels += sorted({fmt_value(t["params"][key]) for t in have} - set(labels))
            x = [labels.index(fmt_value(t["params"][key])) for t in have]
            ax.set_xticks(range(len(labels)), [lab[:16] for lab in labels], rotation=30 if len(labels) > 3 else 0,
                          fontsize=7)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        else:
            x = [t["params"][key] for t in have]
            if log:
                ax.set_xscale("log")
        ax.scatter(x, y, c=colors, cmap="viridis", vmin=0, vmax=1, s=22, edgecolors="none")
        ax.set_title(key, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(_ylabel(s), fontsize=8)
    return _save(fig, path)


def curves(s: dict, path: Path) -> Path | None:
    """Every trial's per-epoch validation metric: complete in blue, pruned in grey ending in ×, the best in green."""
    scale, best = val_scale(s), (s.get("best") or {}).get("number")
    drawn = [t for t in s["trials"] if t.get("curve")]
    if not drawn:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for t in drawn:
        epochs, values = np.arange(1, len(t["curve"]) + 1), np.asarray(t["curve"], dtype=float) * scale
        if t["number"] == best:
            continue
        color = _BLUE if t["state"] == "complete" else _GREY if t["state"] == "pruned" else _RED
        ax.plot(epochs, values, color=color, lw=1, alpha=0.6 if t["state"] == "complete" else 0.9)
        if t["state"] == "pruned":
            ax.plot(epochs[-1], values[-1], marker="x", color=_GREY, ms=6)
    for t in drawn:
        if t["number"] == best:
            ax.plot(np.arange(1, len(t["curve"]) + 1), np.asarray(t["curve"], dtype=float) * scale, color=_GREEN, lw=2,
                    label=f"best (trial {best})")
    ax.plot([], [], color=_BLUE, lw=1, label="complete")
    ax.plot([], [], color=_GREY, lw=1, marker="x", label="pruned (stopped at ×)")
    if any(t["state"] == "fail" for t in drawn):
        ax.plot([], [], color=_RED, lw=1, label="failed")
    ax.set_xlabel("epoch")
    ax.set_ylabel(_ylabel(s), fontsize=8)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def figures(run_dir: Path, results: dict) -> list[dict]:
    """The search section's figures with captions that say how to read them; [] without a search."""
    s = results.get("search")
    if not s:
        return []
    if s.get("mode") == "compare":
        from deepstudy.report import search_compare

        return search_compare.figures(run_dir, s)
    fig_dir, metric = Path(run_dir) / "figures", s["metric"]
    fresh = s["reevaluated"]["tuned"]["val"]
    out = [{"path": history(s, fig_dir / "search_history.png"),
            "caption": f"Optimization history: each dot is a complete trial's {metric} (its best epoch), in the order "
                       "the sampler asked for them; × marks a pruned trial at the last value it reported; the green "
                       "steps are the best so far. "
                       + (f"The dashed red line and band are the best configuration re-trained on {fresh['n']} fresh "
                          "seed(s) (mean ± std): the distance from the last step to it is the winner's "
                          "curse. " if fresh.get("mean") is not None else "")
                       + "Steps that stop improving early mean more trials would have bought little."}]
    values = (s.get("importances") or {}).get("values")
    if values:
        out.append({"path": importances(values, fig_dir / "search_importances.png"),
                    "caption": "Parameter importances (fANOVA): the share of the variance of the trials' scores each "
                               "parameter explains over the searched ranges. A parameter near 0 barely mattered "
                               "there — fix it and search the others; with few trials these shares are rough."})
    path = slices(s, fig_dir / "search_slices.png")
    if path:
        out.append({"path": path,
                    "caption": f"Slices: each complete trial's {metric} against one parameter's value (log axis for "
                               "log-scaled ranges; choices as categories), coloured by trial number (dark = early, "
                               "yellow = late). A clear trend shows where the good region is; points crowding one "
                               "edge of a range suggest widening it there."})
    path = curves(s, fig_dir / "search_curves.png")
    if path:
        out.append({"path": path,
                    "caption": f"Every trial's per-epoch {metric}: complete trials in blue, pruned ones in grey "
                               "ending where the pruner stopped them (×), the best trial in green. A pruned curve "
                               "that was still improving faster than the others when it was cut is a trial the "
                               "pruner may have judged too early."})
    return out
