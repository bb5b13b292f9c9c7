"""The text of the progress view: times, run names as on disk, one finished run's headline, a search trial's
line, and how one line of the live view fits a terminal's width."""
from __future__ import annotations

# a bar never shrinks below MIN_BAR glyphs, and metrics are shown only beside one of PREFERRED_BAR
MIN_BAR, PREFERRED_BAR, MAX_BAR, MAX_LABEL = 10, 20, 40, 36


def clock(seconds: float | None) -> str:
    """m:ss, or h:mm:ss from an hour on; "…" while unknown."""
    if seconds is None:
        return "…"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def label(arm: str, seed: int, seeds: int | None) -> str:
    """A run as on disk (arms/<arm>/seed-<i>) with its place among the seeds: ``cnn seed-1 (2/5)``."""
    return f"{arm} seed-{seed}" + (f" ({seed + 1}/{seeds})" if seeds else "")


def headline(e: dict) -> str:
    """One finished run: ``✓ cnn seed-1 (2/5): test accuracy 91.8 %, 6 epochs, 14 s``."""
    name = label(e["arm"], e["seed"], e.get("seeds"))
    if e.get("status", "ok") != "ok":
        return f"✗ {name}: {e.get('status')}: {e.get('message')}"
    parts, value, seconds = [], e.get("value"), e.get("seconds")
    if value is not None:
        shown = f"{value * 100:.1f} %" if e.get("percent") else f"{value:.4g}"
        parts.append(f"test {e.get('label', e['metric'])} {shown}")  # label: 'macro F1' for the key 'f1'
    if e.get("epochs"):
        parts.append(f"{e['epochs']} epoch{'s' if e['epochs'] != 1 else ''}")
    if seconds is not None:
        parts.append(f"{seconds:.{1 if seconds < 10 else 0}f} s" if seconds < 60 else clock(seconds))
    return f"✓ {name}: {', '.join(parts) or 'done'}"


def fit_line(name: str, right: str, info: list[str], width: int, bar: int | None = None) -> tuple[str, int, str]:
    """(label, bar width, metrics) of one line of ``width`` columns: the bar keeps at least MIN_BAR glyphs and the
    count/time on its right are never cut; metrics that do not fit beside a PREFERRED_BAR are dropped (whole),
    then the label is cut. ``bar``: a width given (the rows of the view share one)."""
    width -= 1  # a terminal wraps a line that fills its last column
    fixed = len(name) + len(right) + 4  # two spaces either side of the bar
    floor = bar or PREFERRED_BAR
    shown: list[str] = []
    for item in info:
        if fixed + floor + len("  ".join([*shown, item])) + 2 <= width:
            shown.append(item)
    text = "  ".join(shown)
    extra = len(text) + 2 if text else 0
    bar = bar or max(MIN_BAR, min(MAX_BAR, width - fixed - extra))
    over = fixed + bar + extra - width
    if over > 0:  # still too wide: the label gives way, down to 8 characters
        keep = max(8, len(name) - over)
        name = name if keep >= len(name) else name[:keep - 1] + "…"
    return name, bar, text


def trial_line(e: dict) -> str:
    """One line per finished trial of a search: how it ended, its score, its values."""
    values = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in e["params"].items())
    how = {"complete": f"{e['metric']} {e['value']:.4f}" if e["value"] is not None else "complete",
           "pruned": f"pruned after {e['epochs']} epoch(s)", "fail": f"failed: {e['message']}"}[e["state"]]
    search = f"{e['search']} " if e.get("search") else ""
    return f"◆ {search}trial {e['number']} [{e['number'] + 1}/{e['budget']}]  {how}  ({values})"
