"""Metrics from one model's predictions on the test split (scikit-learn), and the record of one finished run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
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
