"""The report's task-specific parts: figures and verdict sentences (sections.py says which task uses which)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.fileio import read_jsonl
from deepstudy.rundir import RunDir


def seed_dirs(run_dir: Path, arm: str, info: dict) -> list[Path]:
    return [RunDir(run_dir).seed(arm, s["seed"]).path for s in info["seeds"] if s["status"] == "ok"]


def som_figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    from deepstudy.report import som_plots

    fig_dir, arms, out = run_dir / "figures", results["arms"], []
    if "curves" in wanted:
        rows = {a: [read_jsonl(d / "metrics.jsonl") for d in seed_dirs(run_dir, a, i)] for a, i in arms.items()}
        made = som_plots.curves(rows, fig_dir / "curves.png")
        if made is not None:
            out.append({"path": made,
                        "caption": "Map quality per epoch (mean over seeds, min-max band). Quantization error: mean "
                                   "distance of an input to its best unit (lower: the map covers the data more "
                                   "closely). Topographic error: share of inputs whose two best units are not "
                                   "neighbours (lower: the map keeps the data's neighbourhoods). A map can trade one "
                                   "for the other as the neighbourhood shrinks."})
    best = results["comparison"].get("best")
    d = next(iter(seed_dirs(run_dir, best, arms[best])), None) if best else None
    if d is None or not (d / "maps.npz").is_file():
        return out
    with np.load(d / "maps.npz") as m, np.load(d / "outliers.npz") as o:
        maps, outliers = {k: m[k] for k in m.files}, {k: o[k] for k in o.files}
    out.append({"path": som_plots.umatrix(maps, outliers, results["dataset"]["classes"], fig_dir / "umatrix.png"),
                "caption": f"{best}, seed 0. Left: the U-matrix — each unit's mean distance to its neighbours; light "
                           "cells separate clusters, and rows won by the lightest units are the outliers (red "
                           "squares). Markers: the most common label among each unit's rows (labels are not used to "
                           "train the map). Right: how many rows each unit wins."})
    out.append({"path": som_plots.component_planes(maps["weight"], results["dataset"].get("feature_names") or [],
                                                   fig_dir / "components.png"),
                "caption": f"{best}, seed 0: component planes — one panel per input feature, its value in every unit "
                           "(standardized; red high, blue low). Features whose planes look alike are correlated; a "
                           "plane that lights up where the U-matrix does tells which feature makes those rows "
                           "unusual."})
    return out


def gan_figures(run_dir: Path, results: dict) -> list[dict]:
    from deepstudy.report import gan_plots

    fig_dir, arms = run_dir / "figures", results["arms"]
    rows = {a: [read_jsonl(d / "metrics.jsonl") for d in seed_dirs(run_dir, a, i)] for a, i in arms.items()}
    made, out = gan_plots.curves(rows, fig_dir / "curves.png"), []
    if made is not None:
        out.append({"path": made,
                    "caption": "Per epoch, mean over seeds (min-max band): both losses, and the judge's view of 2,000 "
                               "images from fixed latent vectors. Losses that settle tell that the two networks are "
                               "balanced, not that the images are good: read the Fréchet distance and the inception "
                               "score for that."})
    grids = {}
    for a, i in arms.items():
        d = next(iter(seed_dirs(run_dir, a, i)), None)
        if d is not None and (d / "samples.npz").is_file():
            with np.load(d / "samples.npz") as z:
                grids[a] = z["grids"]
    if grids:
        out.append({"path": gan_plots.sample_grids(grids, fig_dir / "samples-generated.png"),
                    "caption": "Seed 0 of each arm: the same 16 latent vectors after the first, middle and last epoch. "
                               "Mode collapse shows as many near-identical images; slow learning as blobs."})
    return out


def gan_verdicts(results: dict) -> list[str]:
    """Pairs of arms whose final generator losses are close but whose image quality differs (or the reverse)."""
    arms = [(a, i) for a, i in results["arms"].items() if i.get("gan") and i["gan"]["g_loss"]["n"]]
    lines = []
    for k, (a, i) in enumerate(arms):
        for b, j in arms[k + 1:]:
            ga, gb = i["gan"]["g_loss"]["mean"], j["gan"]["g_loss"]["mean"]
            fa, fb = i["summary"]["frechet_distance"]["mean"], j["summary"]["frechet_distance"]["mean"]
            lines.append(f"{a} vs {b}: final generator loss {ga:.3f} vs {gb:.3f} "
                         f"({abs(ga - gb) / max(abs(ga), abs(gb), 1e-12):.0%} apart); Fréchet distance {fa:.2f} vs "
                         f"{fb:.2f} ({abs(fa - fb) / max(fa, fb, 1e-12):.0%} apart)")
    return lines


def forecast_verdicts(results: dict, only: str | None = None) -> tuple[dict | None, list[str]]:
    """The persistence baseline and, per arm (or the arm ``only``), whether it beats 'tomorrow = today' on every
    seed — on both R² and mean absolute error: a model can explain more variance yet miss by more on an average
    step."""
    base = next((a["forecast"]["persistence"] for a in results["arms"].values() if a.get("forecast")), None)
    if base is None:
        return None, []
    lines = []
    for arm, a in results["arms"].items():
        ok = [s["test"] for s in a["seeds"] if s["status"] == "ok"]
        if not ok or only not in (None, arm):
            continue
        r2_wins, mae_wins, n = sum(t["r2"] > base["r2"] for t in ok), sum(t["mae"] < base["mae"] for t in ok), len(ok)
        verdict = ("beats" if r2_wins == mae_wins == n else "does not beat" if r2_wins == mae_wins == 0
                   else "does not reliably beat")
        lines.append(f"{arm} {verdict} the persistence forecast: test R² {np.mean([t['r2'] for t in ok]):.3f} vs "
                     f"{base['r2']:.3f} (higher in {r2_wins} of {n} seeds), MAE {np.mean([t['mae'] for t in ok]):.3f} "
                     f"vs {base['mae']:.3f} training-std units (lower in {mae_wins} of {n})")
    return base, lines


def anomaly_verdicts(results: dict, only: str | None = None) -> list[str]:
    """Per arm (or the arm ``only``) and baseline: does the autoencoder beat it (NAB: standard-profile score; images:
    ROC-AUC) on every seed?"""
    lines = []
    names = {"zscore": "the rolling z-score", "random": "the random detector",
             "mean-image": "the distance to the mean image"}
    for arm, a in results["arms"].items():
        s = a.get("anomaly")
        if not s or only not in (None, arm):
            continue
        metric = s.get("metric", "nab_standard")
        label, scale = ("the standard NAB score", 1.0) if metric == "nab_standard" else ("ROC-AUC (%)", 100.0)
        for d, wins in s["beats"].items():
            verdict = "beats" if wins == s["n"] else "does not beat" if wins == 0 else "does not reliably beat"
            lines.append(f"{arm} {verdict} {names[d]} on {label}: {a['summary'][metric]['mean'] * scale:.1f} vs "
                         f"{s['baselines'][d][metric]['mean'] * scale:.1f} (higher in {wins} of {s['n']} seeds)")
    return lines


def starting_points(results: dict) -> list[str]:
    """One sentence per arm that did not start from scratch: its teacher (distillation) or its pretraining."""
    lines, arms = [], results["arms"]
    for arm, info in arms.items():
        t, p, w = info.get("teacher"), info.get("pretext"), info.get("word_vectors")
        if info.get("pretrained"):
            lines.append(f"{arm}: starts from {info['pretrained'].get('what', 'pretrained weights')} — "
                         f"{info['pretrained']['source']}")
        if w:
            lines.append(f"{arm}: word embeddings start from {'MiniLM' if w['source'] == 'minilm' else w['source']} "
                         f"({w['vocabulary_covered']:.0%} of the vocabulary "
                         f"{'is whole MiniLM tokens' if w['source'] == 'minilm' else 'found'}), "
                         f"{'kept frozen' if w['frozen'] else 'fine-tuned'}")
        if t:
            kwargs = ", ".join(f"{k} {v}" for k, v in t["model"].items() if k != "name")
            line = (f"{arm}: distilled from a {t['model']['name']}{f' ({kwargs})' if kwargs else ''} teacher trained "
                    f"{t['epochs']} epochs (teacher test accuracy {_pct(t['accuracy'])}), T = {t['temperature']:g}, "
                    f"α = {t['alpha']:g}")
            alone = t.get("student_alone")
            if alone and arms[alone]["summary"]["accuracy"]["n"] and info["summary"]["accuracy"]["n"]:
                gain = (info["summary"]["accuracy"]["mean"] - arms[alone]["summary"]["accuracy"]["mean"]) * 100
                line += (f"; the same student without a teacher ({alone}) scores "
                         f"{_pct(arms[alone]['summary']['accuracy'])}: a {gain:+.2f}-point difference of means (the "
                         f"conclusions say whether it is beyond seed noise)")
            lines.append(line)
        if p:
            what = (f"the classes of {p['source']}" if p["task"] == "supervised"
                    else "to predict rotations of the unlabelled images")
            lines.append(f"{arm}: pretrained {what} (pretraining validation accuracy {_pct(p['val_accuracy'])}), "
                         "then a fresh head")
    return lines


def _pct(d: dict) -> str:
    return f"{d['mean'] * 100:.2f} ± {d['std'] * 100:.2f} % (n={d['n']})" if d and d.get("n") else "—"


def lm_verdict(results: dict) -> str:
    """Does the best language model beat the best count-based n-gram model on the same test text?"""
    ngram, best = results.get("ngram"), results["comparison"].get("best")
    if not ngram or not best:
        return ""
    order, base = min(ngram.items(), key=lambda kv: kv[1]["val_perplexity"])  # chosen on validation, as k
    ppl = results["arms"][best]["summary"]["perplexity"]
    better = ppl["mean"] < base["test_perplexity"]
    return (f"The best arm, {best}, reaches a test perplexity of {ppl['mean']:.3f} (± {ppl['std']:.3f}, n={ppl['n']}); "
            f"the best n-gram model on the validation text ({order}-gram) scores {base['test_perplexity']:.3f} on the "
            f"same test text — the network is {'better' if better else 'NOT better'} than counting which characters "
            f"follow which"
            + (f" ({(1 - ppl['mean'] / base['test_perplexity']):.0%} lower perplexity)." if better else "."))


def sample_size_gaps(results: dict) -> str:
    """The per-size gaps results.json holds (each group against the first), as one sentence."""
    parts = [f"{g['group']} − {g['reference']} at {g['size']}: {g['gap'] * 100:+.2f} pts (Welch p = {g['p']:.2g}, "
             "not Holm-adjusted)" for g in results.get("sample_size_gaps") or [] if g["p"] is not None]
    return ("Per size: " + "; ".join(parts) + ".") if parts else ""
