"""Figures of task: generate, from samples.npz / metrics.jsonl (no torch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.report.plots import _save, epoch_panels, plt


def curves(rows: dict[str, list[list[dict]]], path: Path) -> Path | None:
    """Both losses beside the judge's Fréchet distance and inception score, per epoch, mean over seeds (min-max
    band)."""
    return epoch_panels(rows, [("d_loss", "discriminator loss", "binary cross-entropy (real + fake)"),
                               ("g_loss", "generator loss", "binary cross-entropy"),
                               ("frechet_distance", "Fréchet distance (judge features) ↓", "Fréchet distance"),
                               ("inception_score", "inception score (judge) ↑", "inception score")], path, width=4.0)


def sample_grids(grids: dict[str, np.ndarray], path: Path, per_row: int = 16) -> Path:
    """grids[arm]: (epochs, 64, H, W) uint8 from the same fixed latent vectors; rows: first, middle and last epoch."""
    arms = list(grids)
    fig, axes = plt.subplots(3 * len(arms), 1, figsize=(per_row * 0.55, 3 * len(arms) * 0.75), squeeze=False)
    for a, arm in enumerate(arms):
        g = grids[arm]
        for r, e in enumerate(sorted({0, len(g) // 2, len(g) - 1})):
            ax = axes[3 * a + r, 0]
            ax.imshow(np.concatenate(list(g[e][:per_row]), axis=1), cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"{arm} — epoch {e + 1}", fontsize=8, loc="left")
            ax.axis("off")
        for r in range(len({0, len(g) // 2, len(g) - 1}), 3):
            axes[3 * a + r, 0].axis("off")
    return _save(fig, path)
