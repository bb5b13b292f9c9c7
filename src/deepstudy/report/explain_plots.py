"""Figures of the explanation analyses, from explain.npz / results.json (no torch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.report.plots import _COLORS, _save, plt


def _show_image(ax, img: np.ndarray) -> None:
    """(C, H, W) as stored (uint8 0-255 images, or standardized floats)."""
    scale = (0, 255) if img.dtype == np.uint8 else (None, None)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=scale[0], vmax=scale[1])
    else:
        rgb = img.transpose(1, 2, 0).astype(np.float64)
        ax.imshow(rgb / 255.0 if img.dtype == np.uint8 else (rgb - rgb.min()) / max(np.ptp(rgb), 1e-12))


# Images at most this many pixels high get their maps beside them, not over them: an 8x8 digit under a
# heat map is no longer readable.
SMALL_IMAGE = 16
IMPORTANCE_CMAP = "magma"  # perceptually uniform (jet invents edges where its hues jump)
SIGNED_CMAP = "RdBu_r"  # red: evidence for the class, blue: against


def _show_map(ax, a: np.ndarray, img: np.ndarray) -> None:
    """A (H, W) attribution map: beside a small image on its own, over a larger one with an opacity that grows with
    |attribution| (unimportant pixels leave the image visible)."""
    signed = a.min() < 0
    lim = max(float(np.abs(a).max()), 1e-12)
    cmap = plt.get_cmap(SIGNED_CMAP if signed else IMPORTANCE_CMAP)
    norm = (a / lim + 1) / 2 if signed else a / lim
    if img.shape[-2] <= SMALL_IMAGE:
        ax.imshow(cmap(norm), interpolation="nearest")
        return
    _show_image(ax, img)
    rgba = cmap(norm)
    rgba[..., 3] = 0.85 * np.clip(np.abs(a) / lim, 0, 1) ** 0.7
    ax.imshow(rgba)


def explanation_grid(z: dict[str, np.ndarray], classes: list[str], path: Path, rows: int = 8) -> Path:
    """Rows = examples (wrong predictions first), columns = the input, then each method's map (beside a small image,
    over a larger one). Importance maps (>= 0) in magma; signed maps (integrated gradients, occlusion) in red (for the
    class) and blue (against)."""
    methods = [k.removeprefix("map:") for k in z if k.startswith("map:")]
    wrong = np.flatnonzero(z["preds"] != z["labels"])
    order = np.r_[wrong[: rows // 2], np.flatnonzero(z["preds"] == z["labels"])][:rows]
    fig, axes = plt.subplots(len(order), 1 + len(methods), figsize=(1.5 * (1 + len(methods)), 1.55 * len(order)),
                             squeeze=False)
    for r, i in enumerate(order):
        img = z["images"][i]
        _show_image(axes[r, 0], img)
        ok = z["preds"][i] == z["labels"][i]
        axes[r, 0].set_title(f"{classes[z['labels'][i]][:10]} → {classes[z['preds'][i]][:10]}", fontsize=7,
                             color="black" if ok else "crimson")
        for c, m in enumerate(methods, start=1):
            _show_map(axes[r, c], z[f"map:{m}"][i], img)
            if r == 0:
                axes[r, c].set_title(m, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    return _save(fig, path)


def faithfulness_curves(arms: dict[str, dict], path: Path) -> Path:
    """Per arm: deletion (left) and insertion (right) curves of each method, mean over examples and seeds."""
    arms = {a: e for a, e in arms.items() if e and e["methods"]}
    fig, axes = plt.subplots(len(arms), 2, figsize=(10, 3.1 * len(arms)), squeeze=False, layout="constrained")
    for row, (arm, e) in enumerate(arms.items()):
        for col, kind in enumerate(("deletion", "insertion")):
            ax = axes[row, col]
            for k, (m, s) in enumerate(e["methods"].items()):
                curve = np.asarray(s["curves"][f"{kind}_curve"])
                ax.plot(np.linspace(0, 1, len(curve)), curve, color=_COLORS[k % len(_COLORS)],
                        label=f"{m} (AUC {s[f'{kind}_auc']['mean']:.3f})")
            rand = next(iter(e["methods"].values()))[f"{kind}_auc_random"]["mean"]
            ax.set_title(f"{arm}: {kind}\n(random order: AUC {rand:.3f})", fontsize=9)
            ax.set_xlabel("share of positions " + ("removed" if kind == "deletion" else "restored"), fontsize=9)
            ax.set_ylabel("P(explained class)", fontsize=9)
            ax.set_ylim(0, 1.02)
            ax.legend(fontsize=7)
    return _save(fig, path)


def sanity_cascade(arms: dict[str, dict], flag_at: float, path: Path) -> Path:
    """Per arm: rank correlation with the trained model's maps as layers are randomized from the top."""
    arms = {a: e for a, e in arms.items() if e and e["methods"]}
    stages = max(len(next(iter(e["methods"].values()))["cascade_layers"]) for e in arms.values())
    fig, axes = plt.subplots(1, len(arms), figsize=(max(4.2, 1.1 * stages + 1.5) * len(arms), 3.6), squeeze=False,
                             layout="constrained")
    for ax, (arm, e) in zip(axes[0], arms.items()):
        low = -0.3
        for k, (m, s) in enumerate(e["methods"].items()):
            runs = np.asarray(s["cascade"], dtype=float)  # (seeds, stages)
            x = np.arange(runs.shape[1])
            ax.plot(x, runs.mean(0), marker="o", color=_COLORS[k % len(_COLORS)], label=m)
            ax.fill_between(x, runs.min(0), runs.max(0), color=_COLORS[k % len(_COLORS)], alpha=0.15)
            low = min(low, float(np.nanmin(runs)) - 0.05)
        labels = next(iter(e["methods"].values()))["cascade_layers"]
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)  # whole layer names
        ax.axhline(flag_at, color="crimson", lw=0.8, ls="--")
        ax.set_ylim(max(low, -1.05), 1.0)
        ax.set_title(f"{arm}: randomized down to", fontsize=9)
        ax.set_ylabel("Spearman ρ with trained maps", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def features(panels: dict[str, dict[str, np.ndarray]], path: Path, limit: int = 16) -> Path:
    """Per arm: first-layer filters (top row) and the target layer's strongest activation maps."""
    fig, axes = plt.subplots(2 * len(panels), limit, figsize=(limit * 0.7, 1.6 * len(panels)), squeeze=False)
    for p, (arm, z) in enumerate(panels.items()):
        for kind, row in (("filters", 2 * p), ("feature_maps", 2 * p + 1)):
            maps = z.get(kind)
            for j in range(limit):
                ax = axes[row, j]
                ax.axis("off")
                if maps is None or j >= len(maps):
                    continue
                m = maps[j]
                img = m.mean(0) if m.ndim == 3 else m  # filters: average over input channels
                ax.imshow(img, cmap="gray" if kind == "filters" else "viridis")
            axes[row, 0].set_title(f"{arm}: {'first-layer filters' if kind == 'filters' else 'activations'}",
                                   fontsize=8, loc="left")
    return _save(fig, path)


def gradient_flow(arms: dict[str, dict], path: Path) -> Path:
    """Per arm: ||dL/dW|| of every weight from input to output, at initialization, first and last epoch (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for k, (arm, g) in enumerate((a, g) for a, g in arms.items() if g):
        x = np.arange(len(g["layers"]))
        if g.get("init"):
            ax.plot(x, g["init"], color=_COLORS[k % len(_COLORS)], ls=":", label=f"{arm}, at initialization")
        ax.plot(x, g["first"], color=_COLORS[k % len(_COLORS)], marker=".", label=f"{arm}, first epoch")
        ax.plot(x, g["last"], color=_COLORS[k % len(_COLORS)], ls="--", label=f"{arm}, last epoch")
    ax.set_yscale("log")
    ax.set_xlabel("weight, from input (left) to output (right)")
    ax.set_ylabel("mean ||dL/dW|| per step")
    ax.legend(fontsize=7)
    return _save(fig, path)


def heaviest_stretch(weight: np.ndarray, width: int) -> int:
    """Start of the ``width`` consecutive positions with the largest total weight (0 for a shorter text)."""
    if len(weight) <= width:
        return 0
    return int(np.convolve(weight, np.ones(width), mode="valid").argmax())


def token_heatmaps(words: list[list[str]], maps: dict[str, np.ndarray], labels: np.ndarray, preds: np.ndarray,
                   classes: list[str], path: Path, rows: int = 6, max_words: int = 36) -> Path:
    """Per example (wrong predictions first): one line of words per method, each word's background
    coloured by its score (red: for the predicted class, blue: against; attention and saliency are >= 0).
    A long document shows the ``max_words`` stretch where the first method's scores are largest ("…" marks
    a cut), coloured on the scale of the whole document; a map that is never negative (attention) runs from
    its smallest to its largest weight in the document, white to red, so a nearly even spread still shows
    where it leans."""
    wrong = np.flatnonzero(preds != labels)
    order = np.r_[wrong[: rows // 2], np.flatnonzero(preds == labels)][:rows]
    names = list(maps)
    fig, axes = plt.subplots(len(order) * len(names), 1, figsize=(13, 0.42 * len(order) * len(names) + 0.4),
                             squeeze=False)
    cmap = plt.get_cmap("bwr")
    for r, i in enumerate(order):
        n = len(words[i])
        start = heaviest_stretch(np.abs(np.asarray(maps[names[0]][i][:n], dtype=float)), max_words)
        shown = (["…"] if start else []) + words[i][start:start + max_words]
        for k, name in enumerate(names):
            ax = axes[r * len(names) + k, 0]
            ax.axis("off")
            full = np.asarray(maps[name][i][:n], dtype=float)
            low = full.min() if n and full.min() >= 0 else 0.0  # non-negative maps: their own range
            full = full - low
            score = np.r_[[0.0] if start else [], full[start:start + max_words]]
            lim = max(np.abs(full).max() if n else 0.0, 1e-12)
            x = 0.0
            label = f"{name}" if k else f"{classes[labels[i]][:12]} → {classes[preds[i]][:12]} · {name}"
            ax.text(-0.005, 0.5, label, ha="right", va="center", fontsize=7, transform=ax.transAxes,
                    color="crimson" if (k == 0 and preds[i] != labels[i]) else "black")
            for w, s in zip(shown, score):
                ax.text(x, 0.5, w, fontsize=7, family="monospace", va="center", transform=ax.transAxes,
                        bbox={"facecolor": cmap(0.5 + 0.5 * s / lim), "edgecolor": "none", "pad": 1.2})
                x += (len(w) + 1.6) * 0.0058
                if x > 0.99:
                    break
    return _save(fig, path)


def lag_variable_maps(maps: dict[str, np.ndarray], features: list[str], path: Path) -> Path:
    """Per method, the mean |attribution| over the explained windows as a (variable x lag) heat map, each
    method scaled to its own maximum: which past steps of which variables the forecast rests on."""
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 0.35 * max(len(features), 4) + 1.2), squeeze=False)
    for k, (ax, (method, m)) in enumerate(zip(axes[0], maps.items())):
        mean = np.abs(m).mean(0).T  # (F, T)
        lags = m.shape[1]
        ax.imshow(mean / max(float(mean.max()), 1e-12), aspect="auto", cmap="viridis", vmin=0, vmax=1,
                  extent=(-lags - 0.5, -0.5, len(features) - 0.5, -0.5))
        ax.set_yticks(range(len(features)), [f[:18] for f in features] if k == 0 and features else [""] * len(features),
                      fontsize=7)
        ax.set_xlabel("lag (steps before the forecast)", fontsize=8)
        ax.set_title(method, fontsize=9)
    return _save(fig, path)
