"""Figures from run-directory files (matplotlib, Agg backend). Each returns the PNG path written."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from deepstudy.report.formats import metric_label, scale  # noqa: E402

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


# Called with (figure, path) before each figure is closed: a test reads the axes the report drew.
RECORDERS: list[Callable] = []


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    for record in RECORDERS:
        record(fig, path)
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


def series_files(curves: dict[str, list[list[dict]]]) -> list[str]:
    """The files each seed trained one model on, in order (a NAB seed: one autoencoder per file); [] for one model."""
    return list(dict.fromkeys(r["file"] for seeds in curves.values() for s in seeds for r in s if r.get("file")))


def with_data(curves: dict[str, list[list[dict]]], keys: list[str]) -> list[str]:
    """The metric keys some row of some seed has a number for (a panel without one is not drawn)."""
    return [k for k in keys if any(r.get(k) is not None for seeds in curves.values() for s in seeds for r in s)]


def epoch_panels(curves: dict[str, list[list[dict]]], panels: list[tuple[str, str, str]], path: Path,
                 width: float = 4.3) -> Path | None:
    """One panel per (metric key, title, y label) that has data: per arm the mean over seeds with the min-max band,
    per epoch. ``curves[arm]`` = per-seed lists of metric rows. Rows with a ``file`` (one model per series) get one
    row of panels per file, so each file's epochs stay its own curve. A fraction (records.FRACTIONS) is drawn x100.
    None when no panel has data."""
    panels = [p for p in panels if p[0] in with_data(curves, [p[0] for p in panels])]
    if not panels:
        return None
    groups = series_files(curves) or [None]
    fig, axes = plt.subplots(len(groups), len(panels), figsize=(width * len(panels), 3.2 * len(groups)),
                             squeeze=False)
    for g, group in enumerate(groups):
        for (key, title, ylabel), ax in zip(panels, axes[g]):
            for k, (arm, seeds) in enumerate(curves.items()):
                rows = [[r for r in s if r.get("file") == group] for s in seeds]
                rows = [s for s in rows if s]
                length = min((len(s) for s in rows), default=0)
                values = np.array([[r.get(key) if r.get(key) is not None else np.nan for r in s[:length]]
                                   for s in rows], dtype=np.float64) * scale(key)
                if length == 0 or np.isnan(values).all():
                    continue
                epochs = np.arange(1, length + 1)
                color = _COLORS[k % len(_COLORS)]
                ax.plot(epochs, np.nanmean(values, 0), color=color, label=arm, marker="." if length < 4 else None)
                if len(values) > 1:
                    ax.fill_between(epochs, np.nanmin(values, 0), np.nanmax(values, 0), color=color, alpha=0.2)
            ax.set_title(title if group is None else f"{Path(group).stem}\n{title}", fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel, fontsize=9)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
    first = next((ax for ax in axes.flat if ax.get_legend_handles_labels()[0]), None)
    if first is not None:
        first.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def learning_curves(curves: dict[str, list[list[dict]]], path: Path, loss: str) -> Path | None:
    """curves[arm] = per-seed lists of metric rows; mean line with the min-max band over seeds. ``loss`` names the
    task's loss for the y axes ('cross-entropy loss')."""
    return epoch_panels(curves, [("train_loss", "train loss", loss), ("val_loss", "validation loss", loss),
                                 ("val_acc", "validation accuracy", metric_label("val_acc", ""))], path)


def arm_scores(scores: dict[str, list[float]], metric: str, path: Path) -> Path:
    """Per-seed dots and mean ± std bar for each arm."""
    arms = list(scores)
    fig, ax = plt.subplots(figsize=(max(4, len(arms) * 1.3), 3.2))
    for k, arm in enumerate(arms):
        v = np.asarray(scores[arm], dtype=np.float64) * scale(metric)
        if len(v) == 0:
            continue
        ax.errorbar(k, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0, fmt="o", color="black", capsize=6, ms=7)
        ax.scatter(np.full(len(v), k) + np.linspace(-0.12, 0.12, len(v)), v, color=_COLORS[k % len(_COLORS)], alpha=0.7,
                   s=18)
    ax.set_xticks(range(len(arms)), arms, rotation=20, ha="right")
    ax.set_ylabel(metric_label(metric))
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def confusion_fonts(n_classes: int) -> tuple[float, float, float]:
    """(figure side in inches, cell font size, tick font size) for an n x n matrix: the figure grows with the
    classes (0.7 in per class, capped at 22 in), the fonts fill about a third of a cell (6-12 pt)."""
    side = min(max(4.0, 0.7 * n_classes), 22.0)
    cell_pt = side * 72 / max(n_classes, 1)
    return side, float(np.clip(cell_pt * 0.3, 6, 12)), float(np.clip(cell_pt * 0.28, 7, 11))


def confusion(matrix: list[list[int]], classes: list[str], path: Path) -> Path:
    m = np.asarray(matrix, dtype=np.float64)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    side, cell_font, tick_font = confusion_fonts(len(classes))
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if m[i, j]:
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=cell_font,
                        color="white" if norm[i, j] > 0.5 else "black")
    ticks = [c[:14] for c in classes]
    ax.set_xticks(range(len(classes)), ticks, rotation=45, ha="right", fontsize=tick_font)
    ax.set_yticks(range(len(classes)), ticks, fontsize=tick_font)
    ax.set_xlabel("predicted", fontsize=tick_font + 1)
    ax.set_ylabel("true", fontsize=tick_font + 1)
    fig.colorbar(im, ax=ax, fraction=0.046).ax.tick_params(labelsize=tick_font)
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
        mean = np.array([d[a]["mean"] if d[a]["mean"] is not None else np.nan for a in arms]) * scale("accuracy")
        std = np.array([d[a]["std"] or 0 for a in arms]) * scale("accuracy")
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=4, label=label, color=color)
    ax.set_xticks(x, arms, rotation=20, ha="right")
    ax.set_ylabel(metric_label("accuracy", ""))
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
        mean = np.array([accuracy[a]["mean"] or np.nan for _, a in points]) * scale("accuracy")
        std = np.array([accuracy[a]["std"] or 0.0 for _, a in points]) * scale("accuracy")
        ax.errorbar(n, mean, yerr=std, marker="o", capsize=3, color=_COLORS[k % len(_COLORS)], label=label)
    ax.set_xscale("log")
    ax.set_xticks(sorted({p[0] for points in groups.values() for p in points}))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("labelled training examples (data.train_limit, validation included)")
    ax.set_ylabel(metric_label("accuracy"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
