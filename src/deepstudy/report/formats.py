"""The report's number formats, shared by the templates (as filters) and the figure captions."""
from __future__ import annotations

from deepstudy.records import FRACTIONS, metric_name


def pm(d: dict | None, scale: float = 100.0, digits: int = 2, usual_n: int | None = None) -> str:
    """'92.31 ± 0.12 (n=3)' from a describe() dict; '(n=…)' is left out when n is the usual one."""
    if not d or d.get("mean") is None:
        return "—"
    n = "" if d["n"] == usual_n else f" (n={d['n']})"
    return f"{d['mean'] * scale:.{digits}f} ± {d['std'] * scale:.{digits}f}{n}"


def ci(d: dict | None, scale: float = 100.0) -> str:
    """'[92.87, 93.07]' — the 95% t-interval of the mean, or '—' with one seed; an interval that a bounded metric
    (accuracy ...) would leave [0, 100] by is clipped there (evaluate.describe), and says so."""
    if not d or not d.get("ci95"):
        return "—"
    lo, hi = d["ci95"]
    clipped = " (clipped)" if d.get("ci95_clipped") else ""
    return f"[{lo * scale:.2f}, {hi * scale:.2f}]{clipped}"


def human(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def mdcell(text: object) -> str:
    """Text that stays inside one Markdown table cell: '|' escaped, line breaks as spaces."""
    return " ".join(str(text).replace("|", "\\|").splitlines())


def count(d: dict | None, usual_n: int | None = None) -> str:
    """An integer statistic over seeds (epochs run): '6' when every seed agrees, else '5.7 ± 0.6'."""
    if not d or d.get("mean") is None:
        return "—"
    n = "" if d["n"] == usual_n else f" (n={d['n']})"
    if not d["std"] and float(d["mean"]).is_integer():
        return f"{int(d['mean'])}{n}"
    return f"{d['mean']:.1f} ± {d['std']:.1f}{n}"


def scale(metric: str) -> float:
    """100 for a fraction (drawn and written as a percentage), else 1."""
    return 100.0 if metric in FRACTIONS else 1.0


def metric_label(metric: str, prefix: str = "test") -> str:
    """An axis label: 'test accuracy (%)' for a fraction, 'test NAB standard score' for anything else."""
    return f"{prefix} {metric_name(metric)}".strip() + (" (%)" if metric in FRACTIONS else "")
