"""Statistics across seeds: mean ± std with a 95 % interval, Welch / paired t-tests, McNemar, Holm, and the
number of seeds a t-test needs to see a gap (its power)."""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats


def describe(values: list[float], bounds: tuple[float, float] | None = None) -> dict:
    """mean, sample std, n and a 95% t-interval of per-seed values.

    ``bounds``: the range the metric cannot leave (accuracy: (0, 1)). The t-interval assumes normally spread
    seed scores, which a bounded metric near its bound is not (3 seeds at 99.9 % and one at 96 % gave an
    interval reaching 103.77 %). We clip it to the bounds and say so (``ci95_clipped``) rather than use a logit
    interval: a logit interval is undefined for a seed at exactly 0 or 1 (common: 100 % test accuracy on small
    data), and clipping keeps the interval identical to the textbook one wherever it was already possible.

    Example:
        >>> d = describe([0.90, 0.92, 0.91])
        >>> round(d["mean"], 4), round(d["std"], 4), d["n"], [round(v, 3) for v in d["ci95"]]
        (0.91, 0.01, 3, [0.885, 0.935])
    """
    a = np.asarray([v for v in values if v is not None], dtype=np.float64)
    n = len(a)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "ci95": None, "values": []}
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else None
    ci95 = [mean - half, mean + half] if half is not None else None
    out = {"mean": mean, "std": std, "n": n, "ci95": ci95, "values": a.tolist()}
    if bounds is not None and ci95 is not None:
        lo, hi = bounds
        out["ci95"] = [max(ci95[0], lo), min(ci95[1], hi)]
        out["ci95_clipped"] = out["ci95"] != ci95
    return out


def seeds_for_power(d: float, alpha: float = 0.05, power: float = 0.8, paired: bool = False,
                    cap: int = 1000) -> int | None:
    """About how many samples per arm a two-sided t-test needs to detect a standardized gap ``d`` (|gap| / pooled
    std; paired: / std of the differences) with probability ``power`` at level ``alpha``; None above ``cap``.

    The exact power of the equal-variance t-test from the noncentral t distribution (what statsmodels'
    TTestIndPower computes: d = 0.5 needs 64 per arm), searched over n. Welch's test, used on the seeds, has
    about the same power when the two arms' spreads are alike, so the answer is an estimate — "about n".

    Example:
        >>> seeds_for_power(0.5), seeds_for_power(0.8), seeds_for_power(0.01)  # Cohen's medium and large effects
        (64, 26, None)
    """
    if not d > 0:
        return None
    ns = np.arange(2, cap + 1)
    df = ns - 1 if paired else 2 * ns - 2
    nc = d * np.sqrt(ns if paired else ns / 2)
    crit = stats.t.ppf(1 - alpha / 2, df)
    reach = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    hit = np.flatnonzero(reach >= power)
    return int(ns[hit[0]]) if len(hit) else None


def pooled_std(a: list[float], b: list[float]) -> float:
    """The pooled sample std of two groups (the denominator of Cohen's d).

    Example:
        >>> round(pooled_std([0.90, 0.92, 0.91], [0.85, 0.89, 0.87]), 4)
        0.0158
    """
    na, nb = len(a), len(b)
    va = np.var(a, ddof=1) if na > 1 else 0.0
    vb = np.var(b, ddof=1) if nb > 1 else 0.0
    return float(math.sqrt(((na - 1) * va + (nb - 1) * vb) / max(na + nb - 2, 1)))


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Welch's two-sided t-test p-value for "the two arms' per-seed scores have the same mean" (unequal variances);
    None with fewer than 2 scores per arm.

    Example:
        >>> round(welch_p([0.91, 0.90, 0.92], [0.70, 0.72, 0.69]), 5)
        0.00012
        >>> welch_p([0.9], [0.8]) is None
        True
    """
    if len(a) < 2 or len(b) < 2:
        return None
    if np.std(a) == 0 and np.std(b) == 0:
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    with warnings.catch_warnings():  # near-identical seeds: scipy warns about precision, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def paired_p(a: list[float], b: list[float]) -> float | None:
    """Paired t-test: for cross-validation folds, where seed i of every arm is scored on the same rows.

    Example:
        >>> round(paired_p([0.80, 0.85, 0.90], [0.78, 0.82, 0.89]), 3)
        0.074
    """
    if len(a) < 2 or len(a) != len(b):
        return None
    d = np.asarray(a) - np.asarray(b)
    if np.std(d) == 0:
        return 1.0 if d.mean() == 0 else 0.0
    return float(stats.ttest_rel(a, b).pvalue)


def mcnemar_p(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """(a right & b wrong, a wrong & b right, exact two-sided p).

    Example:
        >>> import numpy as np
        >>> a = np.array([True] * 10 + [False] * 2)
        >>> b = np.array([False] * 9 + [True] * 3)
        >>> only_a, only_b, p = mcnemar_p(a, b)
        >>> only_a, only_b, round(p, 4)
        (9, 2, 0.0654)
    """
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return only_a, only_b, p


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None).

    Example:
        >>> holm([0.01, None, 0.04, 0.03])
        [0.03, None, 0.06, 0.06]
    """
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    order = sorted(idx, key=lambda i: pvalues[i])
    out: list[float | None] = list(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[i]))
        out[i] = running
    return out
