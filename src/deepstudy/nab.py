"""The NAB score (Lavin & Ahmad, "Evaluating real-time anomaly detection algorithms — the Numenta Anomaly
Benchmark", ICMLA 2015, arXiv:1510.03336) and event-level precision / recall / F1. NumPy only.

Written from the paper's definitions and NAB v1.1's documented conventions, so our numbers sit on NAB's
scoreboard scale:

- the first ``min(floor(0.15 n), 750)`` rows of a file are probationary: a detector may learn there,
  nothing there is scored;
- a window starts at ``-A_FN`` (missed); a detection inside it replaces that by
  ``A_TP * s(y) / s(-1)`` with ``s(y) = 2 / (1 + exp(5 y)) - 1`` and ``y = -(right - i + 1) / width``:
  the earliest detection in the window counts (about A_TP at its left edge, about 0 at its right);
  later detections in the same window add nothing;
- a detection outside every window adds ``A_FP * s(y)`` (negative) with ``y`` the distance past the end
  of the previous window in units of that window's width minus one (``y >= 3``, or no previous window:
  a full -A_FP);
- a file's raw score is the sum; a corpus sums its files; the reported score is
  ``100 (raw - null) / (perfect - null)`` with the null detector (no detection: ``-A_FN`` per window)
  and the perfect one (``A_TP`` per window).

Application profiles (NAB's config/profiles.json): standard, reward_low_FP_rate, reward_low_FN_rate.
"""
from __future__ import annotations

import math

import numpy as np

PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}


def probation(n: int, share: float = 0.15) -> int:
    """Rows at the start of a file that are never scored (NAB: 15 %, at most 750)."""
    return int(min(math.floor(share * n), share * 5000))


def scaled_sigmoid(y: np.ndarray | float) -> np.ndarray:
    """2 sigmoid(-5 y) - 1, and exactly -1 from y = 3 on (a false positive far from any window)."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(y >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(y, 3.0))) - 1.0)


def row_weights(n: int, windows: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the unweighted score a detection there would earn (TP positive, FP negative) and the index of
    its window (-1 outside any). ``windows``: inclusive (start, end) row indices, in time order."""
    score = np.empty(n)
    window = np.full(n, -1)
    prev_end, prev_width = None, None
    cursor = 0
    for k, (start, end) in enumerate([*windows, (n, n)]):
        gap = np.arange(cursor, min(start, n))  # rows before this window (after the previous one)
        if prev_end is None:
            score[gap] = -1.0
        else:
            score[gap] = scaled_sigmoid(np.abs(gap - prev_end) / max(prev_width - 1, 1e-12))
        if start >= n:
            break
        width = end - start + 1
        rows = np.arange(start, end + 1)
        score[rows] = scaled_sigmoid(-(end - rows + 1) / width) / scaled_sigmoid(-1.0)
        window[rows] = k
        prev_end, prev_width, cursor = end, width, end + 1
    return score, window


def raw_score(detected: np.ndarray, windows: list[tuple[int, int]], profile: str = "standard",
              weights: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """One file: the raw NAB score of boolean ``detected`` rows, with counts (windows hit / missed, FPs).
    ``weights``: ``row_weights(len(detected), windows)`` when scoring the same file many times."""
    w = PROFILES[profile]
    n = len(detected)
    score, window = weights if weights is not None else row_weights(n, windows)
    scored = np.arange(n) >= probation(n)
    live = [k for k, (s, e) in enumerate(windows) if e >= probation(n)]  # windows with scored rows
    hit = detected & scored
    fp_rows = hit & (window < 0)
    total = w["fp"] * score[fp_rows].sum()
    found = 0
    for k in live:
        rows = np.flatnonzero(hit & (window == k))
        if len(rows):
            total += w["tp"] * score[rows[0]]  # the earliest detection scores highest
            found += 1
        else:
            total -= w["fn"]
    return {"raw": float(total), "windows": len(live), "detected_windows": found, "false_positives": int(fp_rows.sum())}


def normalized(raws: list[dict], profile: str) -> float:
    """Corpus score on NAB's 0-100 scale (0 = the null detector, 100 = perfect; below 0 is possible)."""
    w = PROFILES[profile]
    windows = sum(r["windows"] for r in raws)
    null, perfect = -w["fn"] * windows, w["tp"] * windows
    return 100.0 * (sum(r["raw"] for r in raws) - null) / (perfect - null) if windows else float("nan")


def events(detected: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of consecutive detections as inclusive (start, end) rows."""
    d = np.r_[False, detected.astype(bool), False]
    edges = np.flatnonzero(np.diff(d.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def event_scores(detected: np.ndarray, windows: list[tuple[int, int]]) -> dict:
    """Event level, on scored rows: recall = labelled windows touched by an alarm; precision = alarms (runs of
    detections) that touch a window. Counts, so a corpus can sum them before dividing."""
    n = len(detected)
    start = probation(n)
    d = detected.copy()
    d[:start] = False
    alarms = events(d)
    live = [(s, e) for s, e in windows if e >= start]
    true_alarms = sum(any(a <= e and b >= s for s, e in live) for a, b in alarms)
    found = sum(any(a <= e and b >= s for a, b in alarms) for s, e in live)
    return {"alarms": len(alarms), "true_alarms": true_alarms, "windows": len(live), "found": found}


def f1(counts: list[dict]) -> dict:
    alarms, true, windows, found = (sum(c[k] for c in counts) for k in ("alarms", "true_alarms", "windows", "found"))
    p = true / alarms if alarms else 0.0
    r = found / windows if windows else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def alarms(scores: np.ndarray, threshold: float, refractory: int = 0) -> np.ndarray:
    """Detections: rows whose score reaches ``threshold``; after each one the next ``refractory`` rows stay
    silent (an alarm already raised is not raised again — NAB counts only a window's first detection and
    charges every extra row outside one as a false positive)."""
    hit = scores >= threshold
    if refractory <= 0:
        return hit
    out = np.zeros(len(scores), dtype=bool)
    quiet_until = -1
    for i in np.flatnonzero(hit):
        if i > quiet_until:
            out[i] = True
            quiet_until = i + refractory
    return out


def best_threshold(files: list[tuple[np.ndarray, list[tuple[int, int]]]], profile: str, candidates: int = 200,
                   refractory: int = 0) -> tuple[float, float]:
    """NAB's optimizer, on the labels: the threshold (over score quantiles of all files) with the best corpus
    score. Returns (threshold, normalized score). A number tuned this way is an upper bound, not a result."""
    pooled = np.concatenate([s for s, _ in files])
    grid = np.unique(np.quantile(pooled, np.linspace(0.5, 1.0, candidates)))
    best = (float("inf"), -float("inf"))
    weights = [row_weights(len(s), w) for s, w in files]  # per file, not per threshold
    for t in grid:
        value = normalized([raw_score(alarms(s, t, refractory), w, profile, rw) for (s, w), rw in zip(files, weights)],
                           profile)
        if value > best[1]:
            best = (float(t), value)
    return best
