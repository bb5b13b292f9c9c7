"""The conclusions of a study: the best arm against every other arm, each said in one sentence.

Two tests, said together so that they never read as a contradiction:
- Welch's t-test over per-seed test scores: do the arms' means differ by more than seed-to-seed noise?
  p-values are Holm-adjusted for the number of comparisons. A gap the test does not separate is "no evidence
  of a difference", with the number of seeds per arm that would detect a gap that size (80 % power).
- McNemar's exact test on the test set, for each seed pair: does one trained model get more of the same test
  examples right than the other, beyond what chance allows? (Dietterich, 1998.)
"""
from __future__ import annotations

import numpy as np

from deepstudy.evaluate.stats import describe, holm, mcnemar_p, paired_p, pooled_std, seeds_for_power, welch_p
from deepstudy.records import metric_name

POWER = 0.8  # the power a "you would need about n seeds" sentence plans for (the usual 80 %)
MAX_SEEDS = 1000  # beyond this many seeds per arm a gap is called too small to resolve


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
    label = metric_name(metric)
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
        return (f"at this spread about n = {need} {samples} per arm detect a gap of {amount} with "
                f"{POWER * 100:.0f} % power; "
                f"this run missed it after the correction for several comparisons or unequal spreads — "
                f"more {samples} would settle it")
    return (f"to detect a gap of {amount} with {POWER * 100:.0f} % power you would need about n = {need} {samples} "
            "per arm")


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
