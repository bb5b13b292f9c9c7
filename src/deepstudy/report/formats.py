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


def count(d: dict | None, usual_n: int | None = None) -> str:
    """An integer statistic over seeds (epochs run): '6' when every seed agrees, else '5.7 ± 0.6'."""
    if not d or d.get("mean") is None:
        return "—"
    n = "" if d["n"] == usual_n else f" (n={d['n']})"
    if not d["std"] and float(d["mean"]).is_integer():
        return f"{int(d['mean'])}{n}"
    return f"{d['mean']:.1f} ± {d['std']:.1f}{n}"


# Metrics that are fractions in [0, 1] (shares, probabilities, areas under a curve): the report draws and writes
# them x100 with "%". Every other metric (R², a NAB score, perplexity, an error in data units) keeps its own scale.
# Keyed by the names in results.json (test metrics) and metrics.jsonl (per-epoch rows). Not train_accuracy: som and
# reconstruct keep their final training error under that key.
FRACTIONS = frozenset({
    "accuracy", "precision", "recall", "f1", "roc_auc", "average_precision",  # classifiers
    "topographic_error", "purity",  # som
    "confidence", "diversity",  # generate's judge
    "train_acc", "val_acc", "val_topographic_error",  # per-epoch rows
})
_NAMES = {"r2": "R²", "mae": "MAE", "rmse": "RMSE", "f1": "F1", "roc_auc": "ROC-AUC",
          "nab_standard": "NAB standard score",
          "nab_reward_low_FP_rate": "NAB score (reward low FP)", "nab_reward_low_FN_rate": "NAB score (reward low FN)",
          "frechet_distance": "Fréchet distance", "bits_per_char": "bits per character", "val_acc": "accuracy",
          "train_acc": "accuracy", "val_topographic_error": "topographic error"}


def scale(metric: str) -> float:
    """100 for a fraction (drawn and written as a percentage), else 1."""
    return 100.0 if metric in FRACTIONS else 1.0


def metric_name(metric: str) -> str:
    """'accuracy', 'R²', 'NAB standard score' — a metric's name as a reader says it."""
    return _NAMES.get(metric, metric.replace("_", " "))


def metric_label(metric: str, prefix: str = "test") -> str:
    """An axis label: 'test accuracy (%)' for a fraction, 'test NAB standard score' for anything else."""
    return f"{prefix} {metric_name(metric)}".strip() + (" (%)" if metric in FRACTIONS else "")
