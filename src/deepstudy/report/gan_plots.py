"""Figures of task: generate, from samples.npz / metrics.jsonl (no torch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.report.plots import _COLORS, _save, plt


def curves(rows: dict[str, list[list[dict]]], path: Path) -> Path:
    """Both losses beside the judge's Fréchet distance and inception score, per epoch, mean over seeds (min-max band)."""
    panels = [("d_loss", "discriminator loss"), ("g_loss", "generator loss"),
              ("frechet_distance", "Fréchet distance (judge features) ↓"), ("inception_score", "inception score (judge) ↑")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.3))
    for (key, title), ax in zip(panels, axes):
        for k, (arm, seeds) in enumerate(rows.items()):
            length = min((len(s) for s in seeds if s), default=0)
            if not length:
                continue
            v = np.array([[r[key] for r in s[:length]] for s in seeds if s], dtype=np.float64)
            e = np.arange(1, length + 1)
            ax.plot(e, v.mean(0), color=_COLORS[k % len(_COLORS)], label=arm)
            if len(v) > 1:
                ax.fill_between(e, v.min(0), v.max(0), color=_COLORS[k % len(_COLORS)], alpha=0.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


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
