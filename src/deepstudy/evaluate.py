"""Metrics from predictions (scikit-learn) and statistics across seeds.

Conclusions compare the best arm with every other arm two ways:
- Welch's t-test over per-seed test scores: do the arms' means differ by more than seed-to-seed noise?
  p-values are Holm-adjusted for the number of comparisons. A gap the test does not separate is "no evidence
  of a difference", with the number of seeds per arm that would detect a gap that size (80 % power).
- McNemar's exact test on the test set, for each seed pair: does one trained model get more of the same test
  examples right than the other, beyond what chance allows? (Dietterich, 1998.)
Both are said in one sentence per comparison, so that they never read as a contradiction.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from deepstudy.records import SeedResult


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits, shifted by each row's maximum so large logits do not overflow.

    Example:
        >>> import numpy as np
        >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])).round(3).tolist()
        [[0.5, 0.5], [1.0, 0.0]]
    """
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classification_metrics(logits: np.ndarray, y: np.ndarray, classes: list[str]) -> dict:
    """Test metrics from ``(N, K)`` logits and labels ``y``: accuracy, macro precision / recall / F1, the
    confusion matrix, per-class scores and (two classes) ROC AUC.

    Example:
        >>> import numpy as np
        >>> m = classification_metrics(np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), np.array([0, 1, 1]), ["a", "b"])
        >>> round(m["accuracy"], 3), m["confusion"]
        (0.667, [[1, 0], [1, 1]])
    """
    probs = softmax(logits.astype(np.float64))
    pred = probs.argmax(1)
    labels = list(range(len(classes)))
    out = {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision": float(skm.precision_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "recall": float(skm.recall_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "f1": float(skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "confusion": skm.confusion_matrix(y, pred, labels=labels).tolist(),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, *skm.precision_recall_fscore_support(
                y, pred, labels=labels, zero_division=0))
        },
    }
    present = np.unique(y)
    if len(present) == len(classes) and len(classes) >= 2:
        out["roc_auc"] = float(skm.roc_auc_score(y, probs[:, 1]) if len(classes) == 2 else
                               skm.roc_auc_score(y, probs, multi_class="ovr", labels=labels))
    else:
        out["roc_auc"] = None  # undefined when a class is missing from the test split
    return out


def save_predictions(folder: Path, logits: np.ndarray) -> None:
    """predictions.npy (argmax, int16) and, for two classes, scores.npy (P(class 1), for ROC curves).

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> save_predictions(folder, np.array([[0.0, 2.0], [3.0, 1.0]]))
        >>> np.load(folder / "predictions.npy").tolist(), sorted(p.name for p in folder.iterdir())
        ([1, 0], ['predictions.npy', 'scores.npy'])
    """
    np.save(folder / "predictions.npy", logits.argmax(1).astype(np.int16))
    if logits.shape[1] == 2:
        np.save(folder / "scores.npy", softmax(logits.astype(np.float64))[:, 1].astype(np.float32))


def bias_variance(predictions: list[np.ndarray], y: np.ndarray) -> dict:
    """Domingos' (2000) decomposition of the 0-1 loss over models trained on different seeds / samples.

    main prediction = the most frequent prediction per example; bias = share of examples where it is
    wrong; variance = mean disagreement with it. Variance on examples the main prediction gets right
    adds errors ("unbiased"), on wrong ones it removes them ("biased"): for two classes,
    loss = bias + unbiased − biased variance exactly.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 1, 1, 0])
        >>> bv = bias_variance([np.array([0, 1, 0, 0]), np.array([0, 1, 0, 1]), np.array([0, 1, 1, 0])], y)
        >>> round(bv["bias"], 3), round(bv["variance"], 3)
        (0.25, 0.167)
    """
    p = np.stack(predictions)  # (seeds, N)
    counts = np.stack([(p == c).sum(0) for c in range(int(max(p.max(), y.max())) + 1)])  # (K, N)
    main = counts.argmax(0)
    wrong_main = main != y
    disagree = (p != main).mean(0)
    n = len(y)
    return {"loss": float((p != y).mean()), "bias": float(wrong_main.mean()), "variance": float(disagree.mean()),
            "unbiased_variance": float(disagree[~wrong_main].sum() / n),
            "biased_variance": float(disagree[wrong_main].sum() / n),
            "models": len(predictions)}


def boundary_grid(x: np.ndarray, steps: int = 120, margin: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A (steps*steps, 2) grid covering 2-D points ``x`` plus a margin, and the (xs, ys) axes that span it.

    Example:
        >>> import numpy as np
        >>> grid, (xs, ys) = boundary_grid(np.array([[0.0, 0.0], [1.0, 2.0]]), steps=5, margin=0.0)
        >>> grid.shape, xs.tolist(), ys.tolist()
        ((25, 2), [0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 1.0, 1.5, 2.0])
    """
    lo, hi = x.min(0) - margin, x.max(0) + margin
    xs, ys = np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32), np.stack([xs, ys])


def save_boundary(folder: Path, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                  predict_proba) -> None:
    """boundary.npz: P(class) on a grid over 2-D inputs, with the points, for the report's decision-region plot.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> x, y = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])
        >>> save_boundary(folder, x, y, x, y, lambda grid: np.stack([grid[:, 0] < 0.5, grid[:, 0] >= 0.5], 1))
        >>> (folder / "boundary.npz").is_file()
        True
    """
    grid, axes = boundary_grid(np.concatenate([x_train, x_test]))
    probs = predict_proba(grid).astype(np.float32)  # (steps*steps, K)
    np.savez_compressed(folder / "boundary.npz", axes=axes, probs=probs.reshape(axes.shape[1], axes.shape[1], -1),
                        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def probe_indices(n: int, size: int = 10_000) -> np.ndarray:
    """Evenly spaced training indices for the clean (unaugmented, eval-mode) train accuracy.

    Example:
        >>> probe_indices(10, size=4).tolist()
        [0, 3, 6, 9]
    """
    return np.linspace(0, n - 1, min(n, size)).astype(np.int64)


def run_record(rows: list[dict], *, best_epoch: int, monitor: dict, stopped_early: bool, precision: str,
               test_seconds: float, train_accuracy: float, test: dict) -> SeedResult:
    """The result.json of one arm/seed from its metrics rows, the same for every engine (the report reads it).

    Example:
        >>> rows = [{"epoch": e, "train_loss": 0.9 - e / 2, "seconds": 1.0, "eval_seconds": 0.2} for e in (0, 1)]
        >>> record = run_record(rows, best_epoch=1, monitor={"metric": "val_loss", "best": 0.4}, stopped_early=False,
        ...                     precision="fp32", test_seconds=0.1, train_accuracy=0.9, test={"accuracy": 0.88})
        >>> record.best_epoch, record.epochs_run, record.test["accuracy"]
        (1, 2, 0.88)
    """
    return SeedResult(
        test=test, best_epoch=best_epoch, epochs_run=len(rows), stopped_early=stopped_early, monitor=monitor,
        precision=precision, train_seconds=sum(r["seconds"] for r in rows),
        eval_seconds=sum(r["eval_seconds"] for r in rows) + test_seconds,  # validation each epoch + one test pass
        seconds_per_epoch=float(np.mean([r["seconds"] for r in rows])) if rows else None,
        train_accuracy=train_accuracy)


# metrics that live in [0, 1] (shown as %): their confidence intervals are kept inside it
UNIT_INTERVAL = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "average_precision",
                           "topographic_error", "purity", "train_accuracy"})


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
    """The pooled sample std of two groups (the denominator of Cohen's d)."""
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


# how a verdict names a metric (results.json keeps the key)
METRIC_LABELS = {"accuracy": "accuracy", "f1": "macro F1", "roc_auc": "ROC-AUC", "r2": "R²",
                 "nab_standard": "NAB standard score", "quantization_error": "quantization error",
                 "frechet_distance": "Fréchet distance", "perplexity": "perplexity"}
POWER = 0.8  # the power a "you would need about n seeds" sentence plans for (the usual 80 %)
MAX_SEEDS = 1000  # beyond this many seeds per arm a gap is called too small to resolve


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def compare_arms(scores: dict[str, list[float]], correct: dict[str, list[np.ndarray]], metric: str = "accuracy",
                 alpha: float = 0.05, paired: bool = False, lower_better: bool = False, scale: float = 100.0,
                 unit: str = "points", sample: str = "seed", note: str | None = None) -> dict:
    """Best arm vs each other arm; each comparison carries one sentence a reader can act on.

    ``paired``: seed i of every arm was tested on the same rows (cross-validation folds), so the
    fold-to-fold spread cancels in a paired t-test; otherwise Welch's t-test over seeds.
    ``lower_better``: an error (e.g. a SOM's quantization error), reported in its own units, not points.
    ``scale``, ``unit``: how a gap is written (accuracy: x100 "points"; a NAB score: x1 "NAB points"; R²: x1 and
    no unit — R² is not a percentage).
    ``sample``: what one score of an arm is (a seed; a whole search when samplers are compared).

    ``note``: why this metric ranks the arms, added to the summary (e.g. macro F1 on imbalanced classes).

    A gap that the test does not separate from noise is "no evidence of a difference", never "no difference":
    the sentence says how many samples per arm would detect a gap of the observed size with 80 % power.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> correct = {"a": [rng.random(50) < 0.9 for _ in range(3)], "b": [rng.random(50) < 0.7 for _ in range(3)]}
        >>> out = compare_arms({"a": [0.91, 0.90, 0.92], "b": [0.70, 0.72, 0.69]}, correct)
        >>> c = out["comparisons"][0]
        >>> out["best"], c["other"], round(c["gap"], 4), c["verdict"]
        ('a', 'b', 0.2067, 'beyond-noise')
        >>> [m["only_best"] for m in c["mcnemar"]]
        [17, 13, 21]
    """
    noise = f"{sample}-to-{sample} noise"
    samples = f"{sample}es" if sample.endswith(("s", "sh", "ch", "x")) else f"{sample}s"
    label = metric_label(metric)
    means = {arm: float(np.mean(v)) for arm, v in scores.items() if v}
    if not means:
        return {"best": None, "comparisons": [], "summary": "no arm finished, so nothing can be compared"}
    best = (min if lower_better else max)(means, key=means.get)
    above = "below" if lower_better else "above"
    percent = not lower_better and scale == 100.0 and unit == "points"  # a [0, 1] score read as a percentage

    def amount(gap: float) -> str:
        if lower_better or not unit:
            return f"{gap * (1.0 if lower_better else scale):.3g}"
        v = gap * scale
        return f"{v:.2f} {unit}" if v >= 0.1 or v == 0 else f"{v:.2g} {unit}"  # 0.0042 points, not 0.00

    def measured(arm: str) -> tuple[str, int]:
        """('91.70 ± 0.30 % test accuracy' or 'test R² 0.8601 ± 0.0021', n)."""
        d = describe(scores[arm])
        if percent:
            spread = f" ± {d['std'] * 100:.2f}" if d["n"] > 1 else ""
            return f"{d['mean'] * 100:.2f}{spread} % test {label}", d["n"]
        spread = f" ± {d['std']:.2g}" if d["n"] > 1 else ""
        return f"test {label} {d['mean']:.4g}{spread}", d["n"]

    others = [a for a in means if a != best]
    test = "a paired t-test over folds" if paired else "Welch's t-test"
    short = "paired t-test over folds" if paired else "Welch"
    raw = [(paired_p if paired else welch_p)(scores[best], scores[o]) for o in others]
    adjusted = holm(raw)
    holm_note = f", Holm-adjusted for {len(others)} comparisons" if len(others) > 1 else ""
    comparisons = []
    for other, p_raw, p_adj in zip(others, raw, adjusted):
        gap = abs(means[best] - means[other])
        pairs = [mcnemar_p(ca, cb) for ca, cb in zip(correct.get(best, []), correct.get(other, []))]
        n = min(len(scores[best]), len(scores[other]))
        if p_adj is None:
            verdict = "unknown"
            text = (f"{best} scores {amount(gap)} {above} {other} on one {sample} each: the {noise} "
                    f"is unknown, so this is not a finding — "
                    + ("run with --seeds 3 or more" if sample == "seed" else f"repeat each {sample} 3 or more times"))
        elif p_adj < alpha:
            verdict = "beyond-noise"
            text = (f"{best} beats {other} by {amount(gap)} ({label}, mean of {n} {samples}; {short} p = "
                    f"{p_adj:.2g}{holm_note}): larger than {noise}")
        else:
            verdict = "within-noise"
            text = (f"{best} is {amount(gap)} {above} {other} ({label}, mean of {n} {samples}), but there is no "
                    f"evidence that the arms' mean {label} differs at n = {n} ({short} p = {p_adj:.2g}{holm_note})")
        text += _mcnemar_clause(verdict, pairs, best, other, alpha, paired, label)
        if verdict == "within-noise":
            text += "; " + _power_clause(scores[best], scores[other], gap, amount(gap), n, alpha, paired, samples)
        comparisons.append({"best": best, "other": other, "gap": gap, "test": test, "p": p_raw, "p_holm": p_adj,
                            "mcnemar": [{"only_best": a, "only_other": b, "p": p} for a, b, p in pairs],
                            "verdict": verdict, "text": text})
    beyond = [c["other"] for c in comparisons if c["verdict"] == "beyond-noise"]
    highest = "lowest" if lower_better else "highest"
    value, n_best = measured(best)
    result = f"{value}, n = {n_best}"
    if not others:
        summary = f"{best}: {value} (n = {n_best}); one arm only, so nothing is compared"
    elif all(c["verdict"] == "unknown" for c in comparisons):
        summary = (f"{best} has the {highest} score ({result}), but with one {sample} per arm the {noise} "
                   "is unknown, so no gap is a finding")
    elif len(beyond) == len(others):
        summary = f"{best} is the best arm ({result}), and its lead over every other arm is larger than {noise}"
    elif beyond:
        summary = (f"{best} has the {highest} mean ({result}); it is reliably better than {', '.join(beyond)}, "
                   f"but there is no evidence at this n that it beats "
                   f"{', '.join(o for o in others if o not in beyond)}")
    else:
        summary = (f"{best} has the {highest} mean ({result}), but there is no evidence at this n that it beats "
                   f"any other arm: no gap is larger than {noise}")
    if others:  # the margin that decides the ranking: best vs the runner-up
        nearest = min(comparisons, key=lambda c: c["gap"])
        summary += (f" (runner-up: {nearest['other']}, {amount(nearest['gap'])} "
                    f"{'higher' if lower_better else 'behind'})")
    if note:
        summary += f"; {note}"
    return {"best": best, "metric": metric, "comparisons": comparisons, "summary": summary,
            **({"metric_note": note} if note else {})}


def _power_clause(a: list[float], b: list[float], gap: float, amount: str, n: int, alpha: float, paired: bool,
                  samples: str) -> str:
    """How many samples per arm would detect a gap of the observed size with 80 % power, at the observed spread."""
    if gap == 0:
        return f"the two means are identical, so there is no gap for more {samples} to resolve"
    if paired and len(a) == len(b):
        spread = float(np.std(np.asarray(a) - np.asarray(b), ddof=1))
    else:
        spread = pooled_std(a, b)
    need = seeds_for_power(gap / spread, alpha, POWER, paired, MAX_SEEDS) if spread > 0 else None
    if need is None:
        return (f"a gap of {amount} is too small to resolve at this spread: more than {MAX_SEEDS:,} {samples} per "
                f"arm would be needed to detect it with {POWER * 100:.0f} % power")
    if need <= n:  # the pooled t-test would have found it: Holm's adjustment or Welch's unequal spreads did not
        return (f"at this spread about n = {need} {samples} per arm detect a gap of {amount} with {POWER * 100:.0f} % power; "
                f"this run missed it after the correction for several comparisons or unequal spreads — "
                f"more {samples} would settle it")
    return f"to detect a gap of {amount} with {POWER * 100:.0f} % power you would need about n = {need} {samples} per arm"


def _mcnemar_clause(verdict: str, pairs: list[tuple[int, int, float]], best: str, other: str, alpha: float,
                    paired: bool, label: str = "accuracy") -> str:
    """McNemar's test on the test set, said together with the t-test over seeds, so the two never read as a
    contradiction: the t-test asks whether the arms' means differ across seeds; McNemar asks, for one trained
    model of each arm, whether they get different shares of the same test examples right. McNemar counts right
    and wrong answers — accuracy —, so beside another ranking metric (macro F1) it is reported, not reconciled."""
    if not pairs:
        return ""
    where = "on each fold's test rows" if paired else "on the shared test set"
    unit = "fold" if paired else "seed"
    m = len(pairs)
    hits = [(a, b) for a, b, p in pairs if p < alpha]
    k = len(hits)
    ahead_other = sum(b > a for a, b in hits)
    side = (f"; {best} ahead in {k - ahead_other}, {other} in {ahead_other}" if ahead_other else "")
    which = f"{k} of {m} {unit} pairs" if k else f"none of the {m} {unit} pairs" if m > 1 else f"the one {unit} pair"
    if label != "accuracy":
        return (f"; {where} McNemar, which counts right and wrong answers (accuracy, not {label}), finds the two "
                f"models' errors differ in {which}" + (f" ({side[2:]})" if side else ""))
    if verdict == "unknown":
        p = pairs[0][2]
        return (f"; {where} McNemar finds the two models' errors {'differ' if k else 'do not differ'} "
                f"(p = {p:.2g}), but that is one trained model of each arm, not the arms")
    if verdict == "beyond-noise":
        if k == m:
            return f", and McNemar agrees {where}: the two models' errors differ in {which}{side}"
        if k:
            return (f"; {where} the two models' errors differ in {which} (McNemar{side}): the lead holds across "
                    f"{unit}s, though for some pairs of trained models it is too small to show on this test set alone")
        return (f", yet {where} the two models' errors differ in {which} (McNemar): the lead is consistent across "
                f"{unit}s but too small to show on this test set for any one pair of trained models")
    if not k:
        return f", and McNemar agrees {where}: the two models' errors differ in {which}"
    return (f", although {where} the two models' errors differ in {which} (McNemar{side}): particular trained "
            f"models do err differently on this test set, but the gap moves with the {unit} too much to call the "
            f"arms different")
