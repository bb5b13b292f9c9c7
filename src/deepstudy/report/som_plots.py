"""Figures of task: som, from maps.npz / outliers.npz / metrics.jsonl (no torch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.report.formats import metric_label
from deepstudy.report.plots import _COLORS, _save, epoch_panels, plt


def curves(rows: dict[str, list[list[dict]]], path: Path) -> Path | None:
    """Quantization error (training and validation inputs) and topographic error per epoch, mean over seeds."""
    qe = "mean distance to the best unit"
    return epoch_panels(rows, [("train_loss", "quantization error, training inputs", qe),
                               ("val_loss", "quantization error, validation inputs", qe),
                               ("val_topographic_error", "topographic error, validation inputs",
                                metric_label("val_topographic_error", ""))], path)


def umatrix(maps: dict[str, np.ndarray], outliers: dict[str, np.ndarray], classes: list[str], path: Path) -> Path:
    """Left: U-matrix (white = far from its neighbours) with the majority class of each unit's rows as a marker,
    flagged units outlined. Right: hit map (rows won per unit)."""
    u, hits = maps["umatrix"], maps["class_hits"].sum(0)
    rows, cols = u.shape
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
    im = axes[0].imshow(u, cmap="bone", origin="upper")
    fig.colorbar(im, ax=axes[0], fraction=0.046, label="mean distance to neighbours")
    majority = maps["class_hits"].argmax(0)
    markers = "os^Dv<>p*hx+"
    for c, name in enumerate(classes[:len(markers)]):
        r, k = np.nonzero((majority == c) & (hits > 0))
        axes[0].scatter(k, r, marker=markers[c], facecolors="none", edgecolors=_COLORS[c % len(_COLORS)], s=40,
                        label=name)
    flagged_units = np.unique(outliers["unit"][outliers["flagged"]])
    for unit in flagged_units:
        axes[0].add_patch(plt.Rectangle((unit % cols - 0.5, unit // cols - 0.5), 1, 1, fill=False, edgecolor="red",
                                        lw=2))
    axes[0].set_title("U-matrix; red squares: units whose rows are flagged", fontsize=9)
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.25, 1.0))
    im = axes[1].imshow(hits, cmap="viridis", origin="upper")
    fig.colorbar(im, ax=axes[1], fraction=0.046, label="rows")
    axes[1].set_title("hit map (every row, all splits)", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def component_planes(weight: np.ndarray, names: list[str], path: Path, limit: int = 16) -> Path:
    """One panel per input feature: its value in each unit's weight vector (standardized units)."""
    n = min(weight.shape[-1], limit)
    cols = min(n, 8)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for j, ax in zip(range(n), axes.flat):
        ax.imshow(weight[..., j], cmap="coolwarm")
        ax.set_title((names[j] if j < len(names) else f"x{j}")[:16], fontsize=7)
    return _save(fig, path)
