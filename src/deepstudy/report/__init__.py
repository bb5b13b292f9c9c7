"""Reports from a run directory alone: ``write(run_dir)`` -> report.html (self-contained) + report.md.

Reads ``results.json``, ``data.json``, ``samples.npz`` and each arm/seed's ``metrics.jsonl``; it
never imports torch, so a finished run re-renders anywhere (``deepstudy report RUN_DIR``).
"""
from __future__ import annotations

import base64
import datetime as _dt
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape

from deepstudy.errors import UserError
from deepstudy.fileio import atomic_write_text, read_json, read_jsonl
from deepstudy.report import tasks

_TEMPLATES = Path(__file__).parent / "templates"


def pm(d: dict | None, scale: float = 100.0, digits: int = 2, usual_n: int | None = None) -> str:
    """'92.31 ± 0.12 (n=3)' from a describe() dict; '(n=…)' is left out when n is the usual one."""
    if not d or d.get("mean") is None:
        return "—"
    n = "" if d["n"] == usual_n else f" (n={d['n']})"
    return f"{d['mean'] * scale:.{digits}f} ± {d['std'] * scale:.{digits}f}{n}"


def ci(d: dict | None, scale: float = 100.0) -> str:
    """'[92.87, 93.07]' — the 95% t-interval of the mean, or '—' with one seed."""
    if not d or not d.get("ci95"):
        return "—"
    lo, hi = d["ci95"]
    return f"[{lo * scale:.2f}, {hi * scale:.2f}]"


def human(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def _figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    from deepstudy.report import plots

    fig_dir = run_dir / "figures"
    ds, arms = results["dataset"], results["arms"]
    out = []
    best = results["comparison"].get("best")
    metric = results.get("metric", "accuracy")
    scores = {a: [s["test"][metric] for s in info["seeds"] if s["status"] == "ok"] for a, info in arms.items()}
    out.append({"path": plots.arm_scores(scores, metric, fig_dir / "scores.png"),
                "caption": f"Test {'R²' if metric == 'r2' else metric.replace('_', ' ')} per arm: each dot is one seed, the black mark is the mean ± std. "
                           "Overlapping spreads mean the ranking may not survive another set of seeds — read the "
                           "conclusions above for the tests."})
    if results["task"] == "som":
        return out + tasks.som_figures(run_dir, results, wanted)
    if results["task"] == "generate":
        return out + tasks.gan_figures(run_dir, results)
    if "curves" in wanted:
        curves = {a: [read_jsonl(run_dir / "arms" / a / f"seed-{s['seed']}" / "metrics.jsonl") for s in info["seeds"]]
                  for a, info in arms.items()}
        out.append({"path": plots.learning_curves(curves, fig_dir / "curves.png"),
                    "caption": "Learning curves, mean over seeds with the min-max band. A validation loss that rises "
                               "while the training loss keeps falling is overfitting; the best checkpoint (lowest "
                               "validation loss or highest accuracy) is the one evaluated on the test set."})
    out += _analysis_figures(run_dir, results, wanted)
    out += _explain_figures(run_dir, results, wanted)
    if "confusion" in wanted and best and arms[best].get("confusion"):
        out.append({"path": plots.confusion(arms[best]["confusion"], ds["classes"], fig_dir / "confusion.png"),
                    "caption": f"Confusion matrix of the best arm ({best}), summed over seeds and normalized per true "
                               "class: off-diagonal cells show which classes it mixes up."})
    return out


def roc_points(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="stable")
    s, hit = scores[order], y[order] == 1
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # tied scores move together
    tp, fp = np.cumsum(hit)[last_of_tie], np.cumsum(~hit)[last_of_tie]
    return np.r_[0, fp] / max(fp[-1], 1), np.r_[0, tp] / max(tp[-1], 1)


def _labels(run_dir: Path, seed_dir: Path) -> np.ndarray:
    own = seed_dir / "test_labels.npy"  # cross-validation: each seed has its own test rows
    return np.load(own if own.is_file() else run_dir / "test_labels.npy")


def _analysis_figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    from deepstudy.report import plots

    fig_dir, arms, out = run_dir / "figures", results["arms"], []
    if results.get("sample_size"):
        out.append({"path": plots.sample_size(results["sample_size"], {a: i["summary"]["accuracy"] for a, i in arms.items()},
                                              fig_dir / "sample-size.png"),
                    "caption": "Test accuracy against the number of labelled training examples (mean ± std over seeds), "
                               "one line per group of arms that differ only in data.train_limit. The gap between lines "
                               "is what the other settings (e.g. pretraining) are worth at that many labels. "
                               + tasks.sample_size_gaps(results)})
    if "generalization" in wanted:
        out.append({"path": plots.generalization({a: i["summary"]["train_accuracy"] for a, i in arms.items()},
                                                 {a: i["summary"]["accuracy"] for a, i in arms.items()}, fig_dir / "generalization.png"),
                    "caption": "Train and test accuracy per arm (mean ± std over seeds). Both low: underfitting (bias). "
                               "Train far above test: overfitting (variance). The best capacity sits where test accuracy peaks."})
    if "roc" in wanted and len(results["dataset"]["classes"]) == 2:
        curves = {a: [roc_points(_labels(run_dir, d), np.load(d / "scores.npy")) for d in tasks.seed_dirs(run_dir, a, i)
                      if (d / "scores.npy").is_file()] for a, i in arms.items()}
        aucs = {a: pm(i["summary"]["roc_auc"], 100, 1, results["seeds"]) for a, i in arms.items()}
        out.append({"path": plots.roc_curves(curves, aucs, fig_dir / "roc.png"),
                    "caption": "ROC curves on the test set, one line per seed: every threshold's trade between catching "
                               "positives (true positive rate) and raising false alarms. AUC is the probability that a random "
                               "positive scores above a random negative; 50% is chance."})
    if "boundary" in wanted:
        panels = {}
        for a, info in arms.items():
            found = [d / "boundary.npz" for d in tasks.seed_dirs(run_dir, a, info) if (d / "boundary.npz").is_file()]
            if found:
                with np.load(found[0]) as z:
                    panels[a] = {k: z[k] for k in z.files}
        if panels:
            out.append({"path": plots.boundaries(panels, results["dataset"]["classes"], fig_dir / "boundaries.png"),
                        "caption": "Decision regions of the first seed of each arm over the (standardized) inputs; the black "
                                   "line is where both classes are equally likely. Circles are test points, dots training "
                                   "points. A boundary that bends around single training points is fitting noise."})
    if "gradients" in wanted and any(i.get("gradients") for i in arms.values()):
        out.append({"path": plots.gradient_norms({a: i.get("gradients") for a, i in arms.items()}, fig_dir / "gradients.png"),
                    "caption": "How much of the loss's gradient reaches the hidden state t steps before the output "
                               "(mean norm over 512 validation sequences and over seeds, min-max band; log scale). A line "
                               "that falls by orders of magnitude is the vanishing gradient: early steps barely learn."})
    return out


def _explain_figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    from deepstudy.report import explain_plots

    fig_dir, arms, out = run_dir / "figures", results["arms"], []
    classes = results["dataset"]["classes"]
    images = len(results["dataset"]["input_shape"]) == 3
    for a, info in arms.items():
        found = [d / "explain.npz" for d in tasks.seed_dirs(run_dir, a, info)[:1] if (d / "explain.npz").is_file()]
        if not images or not found:
            continue
        with np.load(found[0]) as z:
            if not any(k.startswith("map:") for k in z.files):
                continue
            path = explain_plots.explanation_grid({k: z[k] for k in z.files}, classes, fig_dir / f"explain-{a}.png")
        layer = (info.get("explain") or {}).get("layer")
        out.append({"path": path, "caption": f"{a}, seed 0: test examples (wrong predictions first, title true → predicted "
                    f"in red) and what each method says drove the predicted class"
                    + (f"; Grad-CAM at layer {layer}" if layer else "") + ". Jet maps: importance (non-negative); red/blue "
                    "maps: evidence for/against the class. Read them with the sanity and faithfulness scores below."})
    for a, info in arms.items():  # forecasts: attributions over (lag, variable)
        d = next(iter(tasks.seed_dirs(run_dir, a, info)), None)
        if d is None or not (d / "explain.npz").is_file():
            continue
        with np.load(d / "explain.npz") as z:
            if "windows" not in z.files or not any(k.startswith("map:") for k in z.files):
                continue
            maps = {k.removeprefix("map:"): z[k] for k in z.files if k.startswith("map:")}
        out.append({"path": explain_plots.lag_variable_maps(maps, read_json(d / "explain.json").get("features") or [],
                                                            fig_dir / f"explain-{a}.png"),
                    "caption": f"{a}, seed 0: what the forecast rests on — mean |attribution| of the mean forecast over "
                               f"{len(next(iter(maps.values())))} test windows spread over the test period, per input variable "
                               "(rows) and lag (columns), each method scaled to its maximum. Read it with the sanity and "
                               "faithfulness scores below: deletion/insertion follow the forecast itself, not a probability."})
    for a, info in arms.items():
        d = next(iter(tasks.seed_dirs(run_dir, a, info)), None)
        if d is None or not (d / "explain.json").is_file() or "words" not in (meta := read_json(d / "explain.json")):
            continue
        with np.load(d / "explain.npz") as z:
            maps = {k.removeprefix("map:"): z[k] for k in z.files if k.startswith("map:")}
            if "attention" in z.files:
                maps["attention"] = z["attention"]
            if maps:
                out.append({"path": explain_plots.token_heatmaps(meta["words"], maps, z["labels"], z["preds"], classes,
                                                                 fig_dir / f"explain-{a}.png"),
                            "caption": f"{a}, seed 0: test texts (wrong predictions first, true → predicted) and each "
                                       "method's score per word — red: evidence for the predicted class, blue: against "
                                       "(attention: where the model looked). Long texts show their first words."})
    summaries = {a: i.get("explain") for a, i in arms.items() if i.get("explain")}
    if any(s["methods"] for s in summaries.values()):
        flag = next(iter(summaries.values()))["flag_at"]
        out.append({"path": explain_plots.sanity_cascade(summaries, flag, fig_dir / "sanity.png"),
                    "caption": "Model-parameter randomization test (Adebayo et al., 2018): layers are re-initialized one "
                               "after another from the output down; each point is the rank correlation between the maps of "
                               "the trained and the randomized model (mean over seeds, min-max band). An explanation of the "
                               f"model must fall towards 0; one that stays above {flag} (dashed) follows the input instead."})
        out.append({"path": explain_plots.faithfulness_curves(summaries, fig_dir / "faithfulness.png"),
                    "caption": "Deletion and insertion (Petsiuk et al., 2018): the probability of the explained class as the "
                               "positions a map ranks highest are removed (set to the training mean) or restored into a "
                               "blurred copy. A faithful map makes deletion fall and insertion rise faster than a random order."})
    panels = {}
    for a, info in arms.items():
        d = next(iter(tasks.seed_dirs(run_dir, a, info)), None)
        if "feature-maps" in wanted and d is not None and (d / "explain.npz").is_file():
            with np.load(d / "explain.npz") as z:
                if "filters" in z.files or "feature_maps" in z.files:
                    panels[a] = {k: z[k] for k in ("filters", "feature_maps") if k in z.files and z[k].ndim >= 3}
    if any(panels.values()):
        out.append({"path": explain_plots.features({a: p for a, p in panels.items() if p}, fig_dir / "features.png"),
                    "caption": "First-layer filters (averaged over input channels) and the Grad-CAM layer's 16 most active "
                               "channels for the first explained test example, seed 0. Early filters are edge and blob "
                               "detectors; deeper maps are coarser and respond to parts of the object."})
    flows = {a: i.get("gradient_flow") for a, i in arms.items() if i.get("gradient_flow")}
    if flows:
        out.append({"path": explain_plots.gradient_flow(flows, fig_dir / "gradient-flow.png"),
                    "caption": "Gradient flow: the norm of each weight's gradient at initialization (dotted, one batch), "
                               "averaged over the steps of the first (solid) and last (dashed) epoch, mean over seeds. Norms "
                               "that shrink by orders of magnitude towards the input are vanishing gradients; the first "
                               "layers then barely learn. First layer's norm and first-to-last layer ratio at "
                               "initialization / first epoch / last epoch (mean over seeds): "
                               + "; ".join(f"{a} " + " / ".join(f"{g['first_layer'][k]['mean']:.1e} ({g['ratio'][k]['mean']:.1e})"
                                                               for k in ("init", "first", "last")
                                                               if k in g.get("ratio", {}) and g["ratio"][k]["n"])
                                           for a, g in flows.items()) + "."})
    return out


def explain_rows(results: dict) -> list[dict]:
    """One row per arm and method for the report's trust table, with a one-sentence reading."""
    rows = []
    for arm, info in results["arms"].items():
        e = info.get("explain")
        if not e:
            continue
        for method, reason in e["skipped"].items():
            rows.append({"arm": arm, "method": method, "skipped": reason})
        for method, s in e["methods"].items():
            n, rho_all, rho_top = s["n"], s["spearman_all"]["mean"], s["spearman_top"]["mean"]
            if rho_all >= e["flag_at"]:
                sanity = (f"FLAGGED: its maps keep ρ = {rho_all:.2f} with the trained ones when every layer is random "
                          "— they follow the input more than the model")
            elif rho_all >= e["flag_at"] / 2:
                sanity = (f"is only partly passed: ρ is still {rho_all:.2f} with every layer random ({rho_top:.2f} after the "
                          "top layer) — part of the map is the input's own structure (Adebayo et al. saw the same for "
                          "gradient × input and integrated gradients)")
            else:
                sanity = f"passes: ρ falls to {rho_all:.2f} with every layer random ({rho_top:.2f} after the top layer)"
            beats = min(s["deletion_beats_random"], s["insertion_beats_random"])
            faithful = (f"ranks what matters better than chance (deletion and insertion beat random order in {beats}/{n} seeds)"
                        if beats == n else f"is not reliably better than a random order ({beats}/{n} seeds beat it on both)")
            labels = s.get("spearman_labels")
            control = ""
            if labels and s.get("control_constant"):
                control = (f" The label-permuted control ({s['control_arm']}) learned nothing (its maps are constant), "
                           "so the data-randomization check is inconclusive — train the control longer, without "
                           "regularization, until it memorizes.")
                labels = None
            elif labels:
                rho_l = labels["mean"]
                control = (f" Against the model trained on permuted labels ({s['control_arm']}) its maps keep ρ = {rho_l:.2f}"
                           + (" — FLAGGED: they barely depend on what the labels taught." if rho_l >= e["flag_at"]
                              else " — only partly what was learned: much of the map is the input's own structure."
                              if rho_l >= e["flag_at"] / 2 else " — they depend on what was learned."))
            rows.append({"arm": arm, "method": method, "s": s,
                         "flagged": rho_all >= e["flag_at"] or bool(labels and labels["mean"] >= e["flag_at"]),
                         "reading": f"{method} {faithful}; the sanity check {sanity}.{control}"})
    return rows


def _dataset_figures(run_dir: Path, ds: dict, wanted: set[str]) -> list[dict]:
    from deepstudy.report import plots

    out = []
    if "samples" in wanted and (run_dir / "samples.npz").is_file():
        s = np.load(run_dir / "samples.npz")
        out.append({"path": plots.sample_grid(s["images"], s["labels"], ds["classes"], run_dir / "figures" / "samples.png"),
                    "caption": "Test examples, one row per class (as stored, before normalization)."})
    if ds.get("class_counts"):
        out.append({"path": plots.class_balance(ds["class_counts"], ds["classes"], run_dir / "figures" / "balance.png"),
                    "caption": "Class balance of each split. With unequal classes, accuracy flatters a model that favours "
                               "the majority: read macro F1 and ROC-AUC beside it."})
    return out


def _embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write(run_dir: str | Path) -> Path:
    """Render report.html and report.md from the files of ``run_dir``; returns the HTML path."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.json").is_file():
        raise UserError(f"'{run_dir}' has no results.json: it is not a finished run directory "
                        "(a killed run continues with `deepstudy run --resume RUN_DIR`)")
    results = read_json(run_dir / "results.json")
    wanted = set(results.get("analyses", ("curves", "confusion", "samples")))
    dataset_figs = _dataset_figures(run_dir, results["dataset"], wanted)
    figs = _figures(run_dir, results, wanted)
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pm=pm, ci=ci, human=human)
    persistence, verdicts = tasks.forecast_verdicts(results)
    context = {"r": results, "figures": figs, "explain_rows": explain_rows(results), "persistence": persistence,
               "forecast_verdicts": verdicts, "anomaly_verdicts": tasks.anomaly_verdicts(results),
               "gan_verdicts": tasks.gan_verdicts(results), "starting_points": tasks.starting_points(results),
               "lm_verdict": tasks.lm_verdict(results),
               "dataset_figures": dataset_figs, "run_dir": str(run_dir),
               "generated": _dt.datetime.now().isoformat(timespec="seconds")}
    html = env.get_template("report.html.j2").render(**context, embed=_embed)
    atomic_write_text(run_dir / "report.html", html)
    md = env.get_template("report.md.j2").render(**context, rel=lambda p: str(Path(p).relative_to(run_dir)))
    atomic_write_text(run_dir / "report.md", md)
    return run_dir / "report.html"
