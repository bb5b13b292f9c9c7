"""The report's number formats, shared by the templates (as filters) and the figure captions."""
from __future__ import annotations


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
