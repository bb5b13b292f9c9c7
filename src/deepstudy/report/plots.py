"""Figures from run-directory files (matplotlib, Agg backend). Each returns the PNG path written."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def sample_grid(images: np.ndarray, labels: np.ndarray, classes: list[str], path: Path, per_class: int = 8) -> Path:
    """Rows = classes, columns = the first test examples of each class."""
    n_classes = len(classes)
    fig, axes = plt.subplots(n_classes, per_class, figsize=(per_class * 0.8, n_classes * 0.85), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    counts = dict.fromkeys(range(n_classes), 0)
    for img, label in zip(images, labels):
        label = int(label)
        if counts[label] >= per_class:
            continue
        ax = axes[label, counts[label]]
        counts[label] += 1
        ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray" if img.shape[0] == 1 else None,
                  vmin=0, vmax=255)
        if counts[label] == 1:
            ax.set_title(classes[label][:14], fontsize=7, loc="left")
    return _save(fig, path)


def class_balance(counts: dict[str, list[int]], classes: list[str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(max(4, len(classes) * 0.6), 2.8))
    x = np.arange(len(classes))
    width = 0.8 / len(counts)
    for k, (split, c) in enumerate(counts.items()):
        total = max(sum(c), 1)
        ax.bar(x + k * width, np.asarray(c) / total, width, label=f"{split} (n={total})")
    ax.set_xticks(x + width * (len(counts) - 1) / 2, [c[:12] for c in classes], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share of split")
    ax.legend(fontsize=7)
    return _save(fig, path)


def epoch_panels(curves: dict[str, list[list[dict]]], panels: list[tuple[str, str]], path: Path,
                 figsize: tuple[float, float]) -> Path:
    """One panel per (metric key, title): per arm the mean over seeds with the min-max band, per epoch.
    ``curves[arm]`` = per-seed lists of metric rows; a metric that is None everywhere leaves its panel empty."""
    fig, axes = plt.subplots(1, len(panels), figsize=figsize)
    for (key, title), ax in zip(panels, axes):
        for k, (arm, seeds) in enumerate(curves.items()):
            length = min((len(s) for s in seeds if s), default=0)
            if length == 0:
                continue
            values = np.array([[r[key] if r[key] is not None else np.nan for r in s[:length]] for s in seeds if s],
                              dtype=np.float64)
            if np.isnan(values).all():  # no accuracy for forecasting: an empty panel, not a warning
                continue
            epochs = np.arange(1, length + 1)
            color = _COLORS[k % len(_COLORS)]
            ax.plot(epochs, np.nanmean(values, 0), color=color, label=arm)
            if len(values) > 1:
                ax.fill_between(epochs, np.nanmin(values, 0), np.nanmax(values, 0), color=color, alpha=0.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:  # no epochs at all (a classical arm alone): no legend to draw
        axes[0].legend(fontsize=8)
    return _save(fig, path)


def learning_curves(curves: dict[str, list[list[dict]]], path: Path) -> Path:
    """curves[arm] = per-seed lists of metric rows; mean line with the min-max band over seeds."""
    return epoch_panels(curves, [("train_loss", "train loss"), ("val_loss", "validation loss"),
                                 ("val_acc", "validation accuracy")], path, figsize=(13, 3.4))


def arm_scores(scores: dict[str, list[float]], metric: str, path: Path) -> Path:
    """Per-seed dots and mean ± std bar for each arm."""
    arms = list(scores)
    fig, ax = plt.subplots(figsize=(max(4, len(arms) * 1.3), 3.2))
    for k, arm in enumerate(arms):
        v = np.asarray(scores[arm]) * (1 if metric == "quantization_error" else 100)
        if len(v) == 0:
            continue
        ax.errorbar(k, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0, fmt="o", color="black", capsize=6, ms=7)
        ax.scatter(np.full(len(v), k) + np.linspace(-0.12, 0.12, len(v)), v, color=_COLORS[k % len(_COLORS)], alpha=0.7,
                   s=18)
    ax.set_xticks(range(len(arms)), arms, rotation=20, ha="right")
    ax.set_ylabel({"r2": "test R² (x100)", "quantization_error": "test quantization error"}.get(metric,
                                                                                                f"test {metric} (%)"))
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def confusion(matrix: list[list[int]], classes: list[str], path: Path) -> Path:
    m = np.asarray(matrix, dtype=np.float64)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    size = max(3.5, len(classes) * 0.55)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if m[i, j]:
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ticks = [c[:12] for c in classes]
    ax.set_xticks(range(len(classes)), ticks, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), ticks, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def roc_curves(curves: dict[str, list[tuple[np.ndarray, np.ndarray]]], aucs: dict[str, str], path: Path) -> Path:
    """curves[arm] = per-seed (fpr, tpr); one colour per arm, one thin line per seed."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for k, (arm, seeds) in enumerate(curves.items()):
        for s, (fpr, tpr) in enumerate(seeds):
            ax.plot(fpr, tpr, color=_COLORS[k % len(_COLORS)], lw=1.2, alpha=0.8,
                    label=f"{arm} (AUC {aucs[arm]})" if s == 0 else None)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def generalization(train: dict[str, dict], test: dict[str, dict], path: Path) -> Path:
    """Train and test accuracy (mean ± std over seeds) per arm, in arm order: the under/overfitting picture."""
    arms = list(train)
    fig, ax = plt.subplots(figsize=(max(4.5, len(arms) * 1.1), 3.4))
    x = np.arange(len(arms))
    for d, label, color in ((train, "train", _COLORS[0]), (test, "test", _COLORS[1])):
        mean = np.array([d[a]["mean"] if d[a]["mean"] is not None else np.nan for a in arms]) * 100
        std = np.array([d[a]["std"] or 0 for a in arms]) * 100
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=4, label=label, color=color)
    ax.set_xticks(x, arms, rotation=20, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def boundaries(panels: dict[str, dict[str, np.ndarray]], classes: list[str], path: Path) -> Path:
    """Decision regions of each arm (seed 0) over 2-D inputs: colour = P(class 1) (binary) or the
    predicted class; circles = test points, dots = training points."""
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (arm, b) in zip(axes.flat, panels.items()):
        ax.axis("on")
        xs, ys = b["axes"]
        probs = b["probs"]
        if probs.shape[-1] == 2:
            ax.contourf(xs, ys, probs[..., 1], levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
            ax.contour(xs, ys, probs[..., 1], levels=[0.5], colors="black", linewidths=1)
        else:
            ax.contourf(xs, ys, probs.argmax(-1), levels=np.arange(probs.shape[-1] + 1) - 0.5, cmap="tab10", alpha=0.4)
        cmap = plt.get_cmap("RdBu_r" if probs.shape[-1] == 2 else "tab10")
        norm = max(probs.shape[-1] - 1, 1)
        ax.scatter(*b["x_train"].T, c=[cmap(int(c) / norm) for c in b["y_train"]], s=3, alpha=0.5)
        ax.scatter(*b["x_test"].T, c=[cmap(int(c) / norm) for c in b["y_test"]], s=14, edgecolors="black",
                   linewidths=0.4)
        ax.set_title(arm, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def gradient_norms(arms: dict[str, dict], path: Path) -> Path:
    """||dL/dh_t|| against distance (steps back from the loss), log scale; mean over seeds with the min-max band."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, when, title in zip(axes, ("init", "trained"), ("at initialization", "after training (best checkpoint)")):
        for k, (arm, g) in enumerate(arms.items()):
            if not g or when not in g:
                continue
            mean = np.asarray(g[when]["mean"])
            d = np.arange(len(mean))
            color = _COLORS[k % len(_COLORS)]
            ax.plot(d, mean, color=color, label=arm)
            ax.fill_between(d, g[when]["min"], g[when]["max"], color=color, alpha=0.2)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("distance from the loss (time steps back)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("mean ||dL/dh_t||")
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def sample_size(groups: dict[str, list[list]], accuracy: dict[str, dict], path: Path) -> Path:
    """Test accuracy (mean ± std over seeds) against the number of labelled training examples, one line per group."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for k, (label, points) in enumerate(groups.items()):
        n = [p[0] for p in points]
        mean = np.array([accuracy[a]["mean"] or np.nan for _, a in points]) * 100
        std = np.array([accuracy[a]["std"] or 0.0 for _, a in points]) * 100
        ax.errorbar(n, mean, yerr=std, marker="o", capsize=3, color=_COLORS[k % len(_COLORS)], label=label)
    ax.set_xscale("log")
    ax.set_xticks(sorted({p[0] for points in groups.values() for p in points}))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("labelled training examples (data.train_limit, validation included)")
    ax.set_ylabel("test accuracy %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
