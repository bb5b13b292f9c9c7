"""The learning-rate range test in a report (``analyses: [lr-range]``) and in ``deepstudy lr-find``'s folder: one
smoothed-loss-vs-rate curve per arm with both suggested rates and the divergence stop, its caption, and a line per
arm for the report's text. Reads arms/<arm>/lr-range.json only (no torch; matplotlib when a figure is drawn)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.fileio import read_json
from deepstudy.rundir import RunDir

FILE = "lr-range.json"  # what tasks/lr_range.py writes under arms/<arm>/


def _rate(lr: float | None) -> str:
    return "—" if lr is None else f"{lr:.2g}"


def figure(found: dict[str, dict], path: Path) -> Path:
    """``found[arm]``: a result of deepstudy.train.lr_range_test. Log-scale rate; the part of a diverging tail far
    above the curves is cut off (the stop is a dotted vertical line, so it shows all the same)."""
    from deepstudy.report.plots import _COLORS, _save, plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    tops, bottoms = [], []
    for k, (arm, f) in enumerate(found.items()):
        lrs, loss, color = np.asarray(f["lrs"]), np.asarray(f["smoothed"]), _COLORS[k % len(_COLORS)]
        if not len(lrs):
            continue
        ax.plot(lrs, loss, color=color, lw=1.6, label=arm)
        low = int(np.argmin(loss))
        tops.append(float(loss[: low + 1].max())), bottoms.append(float(loss[low]))
        at = lambda lr: float(np.interp(np.log10(lr), np.log10(lrs), loss))  # noqa: E731  (loss on the curve)
        s = f["suggestion"]
        if s["steepest"] is not None:
            ax.plot([s["steepest"]], [at(s["steepest"])], "v", color=color, ms=8, mec="black", mew=0.6)
        if s["min_div_10"] is not None and s["min_div_10"] >= lrs[0]:
            ax.plot([s["min_div_10"]], [at(s["min_div_10"])], "o", color=color, ms=7, mec="black", mew=0.6)
        if f.get("stopped_at"):
            ax.axvline(f["stopped_at"]["lr"], color=color, ls=":", lw=1.2)
    if tops:
        span = max(max(tops) - min(bottoms), 1e-12)
        ax.set_ylim(min(bottoms) - 0.08 * span, max(tops) + 0.15 * span)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss, smoothed")
    handles, labels = ax.get_legend_handles_labels()
    marks = [plt.Line2D([], [], ls="", marker="v", color="grey", mec="black", ms=8),
             plt.Line2D([], [], ls="", marker="o", color="grey", mec="black", ms=7),
             plt.Line2D([], [], ls=":", color="grey")]
    ax.legend(handles + marks, labels + ["steepest descent", "minimum ÷ 10", "stopped: diverged"], fontsize=7)
    ax.grid(alpha=0.3, which="both", lw=0.4)
    return _save(fig, path)


def caption(found: dict[str, dict]) -> str:
    """What the figure shows, and the suggested rates of every arm."""
    f = next(iter(found.values()))
    return ("Learning-rate range test (Smith, 2017): per arm, one short training from seed 0's initial weights while "
            f"the rate grows by a constant factor per step from {f['start']:g} to {f['end']:g} over {f['steps']} steps "
            f"(fewer where the loss diverged); training loss smoothed by a moving average (β = {f['smooth']:g}). "
            "▼: steepest descent of the smoothed loss; ●: the rate of its minimum ÷ 10; dotted line: where the "
            "sweep stopped because the loss diverged (the curve beyond it is cut). A constant rate between the two "
            "marks is the usual choice; the stop is an upper bound. Suggested rates: "
            + "; ".join(f"{arm} {_rate(x['suggestion']['steepest'])} (steepest), "
                        f"{_rate(x['suggestion']['min_div_10'])} (min ÷ 10)" for arm, x in found.items()) + ".")


def figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    """The report's figure, when the study listed lr-range and its arms have their sweeps."""
    if "lr-range" not in wanted:
        return []
    found = {a: read_json(p) for a in results["arms"] if (p := RunDir(run_dir).arm(a) / FILE).is_file()}
    if not found:
        return []
    return [{"path": figure(found, run_dir / "figures" / "lr-range.png"), "caption": caption(found)}]


def lines(results: dict) -> list[str]:
    """One sentence per arm with a range test: both suggestions beside the rate the arm trained with."""
    if "lr-range" not in results.get("analyses", ()):
        return []
    out = []
    for arm, info in results["arms"].items():
        r = info.get("lr_range")
        if not r:
            continue
        s, stop = r["suggestion"], r["stopped_at"]
        ended = (f"the loss diverged at {_rate(stop['lr'])}" if stop else
                 f"the loss had not diverged by {r['end']:g}, the end of the sweep")
        out.append(f"{arm}: steepest descent at {_rate(s['steepest'])}, minimum ÷ 10 at {_rate(s['min_div_10'])}; "
                   f"{ended}; the arm trains with {r['optimizer']} at {r['lr']:g}"
                   + (f" (the sweep ran without {' and '.join(r['not_applied'])})" if r.get("not_applied") else ""))
    return out
