"""The learning figures most tasks share: curves, the analyses, explanations and the confusion matrix.

The default figures of a report section (``sections.Section.figures``); som and generate bring their own.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy.fileio import read_json, read_jsonl
from deepstudy.report import lr_range, tasks, trajectories
from deepstudy.report.formats import pm
from deepstudy.rundir import RunDir


def learning_figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    """Learning curves, the analyses asked for, explanations and the best arm's confusion matrix."""
    from deepstudy.report import plots

    fig_dir, ds, arms, out = run_dir / "figures", results["dataset"], results["arms"], []
    best = results["comparison"].get("best")
    if "curves" in wanted:
        curves = {a: [read_jsonl(RunDir(run_dir).seed(a, s["seed"]).metrics) for s in info["seeds"]]
                  for a, info in arms.items()}
        figure = curves_figure(curves, results, fig_dir / "curves.png")
        if figure:
            out.append(figure)
    out += analysis_figures(run_dir, results, wanted)
    out += explain_figures(run_dir, results, wanted)
    if "confusion" in wanted and best and arms[best].get("confusion"):
        out.append({"path": plots.confusion(arms[best]["confusion"], ds["classes"], fig_dir / "confusion.png"),
                    "caption": f"Confusion matrix of the best arm ({best}), summed over seeds and normalized per true "
                               "class: off-diagonal cells show which classes it mixes up."})
    return out


def curves_figure(curves: dict[str, list[list[dict]]], results: dict, path: Path) -> dict | None:
    """The learning curves with a caption that speaks of the panels drawn (a metric no row has gets none)."""
    from deepstudy.report import plots, sections

    section = sections.get(results["task"])
    made = plots.learning_curves(curves, path, section.loss)
    if made is None:
        return None
    drawn, files = plots.with_data(curves, ["train_loss", "val_loss"]), len(plots.series_files(curves))
    caption = ("Learning curves, mean over seeds with the min-max band"
               + (f", one row per series file (each of the {files} files trains its own model)" if files else "")
               + f". Losses are the {section.loss}"
               + (" (distilled arms train on the distillation loss)" if any(
                   i.get("teacher") for i in results["arms"].values()) else "") + ".")
    if len(drawn) == 2:
        caption += " A validation loss that rises while the training loss keeps falling is overfitting."
    caption += f" {section.evaluated[0].upper()}{section.evaluated[1:]}."
    return {"path": made, "caption": caption, "name": "curves"}  # the name: the report puts its diagnosis under it


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


def analysis_figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    from deepstudy.report import plots

    fig_dir, arms, out = run_dir / "figures", results["arms"], []
    if results.get("sample_size"):
        accuracy = {a: i["summary"]["accuracy"] for a, i in arms.items()}
        out.append({"path": plots.sample_size(results["sample_size"], accuracy, fig_dir / "sample-size.png"),
                    "caption": "Test accuracy against the number of labelled training examples (mean ± std over "
                               "seeds), one line per group of arms that differ only in data.train_limit. The gap "
                               "between lines is what the other settings (e.g. pretraining) are worth at that many "
                               "labels. "
                               + tasks.sample_size_gaps(results)})
    if "generalization" in wanted:
        out.append({"path": plots.generalization({a: i["summary"]["train_accuracy"] for a, i in arms.items()},
                                                 {a: i["summary"]["accuracy"] for a, i in arms.items()},
                                                 fig_dir / "generalization.png"),
                    "caption": "Train and test accuracy per arm (mean ± std over seeds). Both low: underfitting "
                               "(bias). Train far above test: overfitting (variance). The best capacity sits where "
                               "test accuracy peaks."})
    if "roc" in wanted and len(results["dataset"]["classes"]) == 2:
        curves = {a: [roc_points(_labels(run_dir, d), np.load(d / "scores.npy")) for d in tasks.seed_dirs(run_dir, a, i)
                      if (d / "scores.npy").is_file()] for a, i in arms.items()}
        aucs = {a: pm(i["summary"]["roc_auc"], 100, 1, results["seeds"]) for a, i in arms.items()}
        out.append({"path": plots.roc_curves(curves, aucs, fig_dir / "roc.png"),
                    "caption": "ROC curves on the test set, one line per seed: every threshold's trade between "
                               "catching positives (true positive rate) and raising false alarms. AUC is the "
                               "probability that a random positive scores above a random negative; 50% is chance."})
    if "boundary" in wanted:
        panels = {}
        for a, info in arms.items():
            found = [d / "boundary.npz" for d in tasks.seed_dirs(run_dir, a, info) if (d / "boundary.npz").is_file()]
            if found:
                with np.load(found[0]) as z:
                    panels[a] = {k: z[k] for k in z.files}
        if panels:
            out.append({"path": plots.boundaries(panels, results["dataset"]["classes"], fig_dir / "boundaries.png"),
                        "caption": "Decision regions of the first seed of each arm over the (standardized) inputs; the "
                                   "black line is where both classes are equally likely. Circles are test points, dots "
                                   "training points. A boundary that bends around single training points is fitting "
                                   "noise."})
    if "gradients" in wanted and any(i.get("gradients") for i in arms.values()):
        out.append({"path": plots.gradient_norms({a: i.get("gradients") for a, i in arms.items()},
                                                 fig_dir / "gradients.png"),
                    "caption": "How much of the loss's gradient reaches the hidden state t steps before the output "
                               "(mean norm over 512 validation sequences and over seeds, min-max band; log scale). A "
                               "line that falls by orders of magnitude is the vanishing gradient: early steps barely "
                               "learn."})
    out += lr_range.figures(run_dir, results, wanted)
    out += trajectories.figures(run_dir, results, wanted)
    return out


def explain_figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    from deepstudy.report import explain_plots

    fig_dir, arms, out = run_dir / "figures", results["arms"], []
    classes = results["dataset"]["classes"]
    images = len(results["dataset"]["input_shape"]) == 3
    small = images and results["dataset"]["input_shape"][1] <= explain_plots.SMALL_IMAGE
    for a, info in arms.items():
        found = [d / "explain.npz" for d in tasks.seed_dirs(run_dir, a, info)[:1] if (d / "explain.npz").is_file()]
        if not images or not found:
            continue
        with np.load(found[0]) as z:
            if not any(k.startswith("map:") for k in z.files):
                continue
            path = explain_plots.explanation_grid({k: z[k] for k in z.files}, classes, fig_dir / f"explain-{a}.png")
        layer = (info.get("explain") or {}).get("layer")
        out.append({"path": path, "caption": f"{a}, seed 0: test examples (wrong predictions first, title true → "
                    f"predicted in red) and what each method says drove the predicted class"
                    + (f"; Grad-CAM at layer {layer}" if layer else "") + ". Magma maps (dark to bright): importance "
                    "(non-negative); red/blue maps: evidence for/against the class"
                    + (" — drawn beside the image, which is too small to show through a map" if small else
                       " — drawn over the image, more opaque where the score is larger")
                    + ". Read them with the sanity and faithfulness scores below."})
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
                    "caption": f"{a}, seed 0: what the forecast rests on — mean |attribution| of the mean forecast "
                               f"over {len(next(iter(maps.values())))} test windows spread over the test period, per "
                               f"input variable "
                               "(rows) and lag (columns), each method scaled to its maximum. Read it with the sanity "
                               "and faithfulness scores below: deletion/insertion follow the forecast itself, not a "
                               "probability."})
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
                            "caption": f"{a}, seed 0: test texts (wrong predictions first, true → predicted) and "
                                       "each method's score per word — red: evidence for the predicted class, blue: "
                                       "against (attention: where the model looked). Long texts show their first "
                                       "words."})
    summaries = {a: i.get("explain") for a, i in arms.items() if i.get("explain")}
    if any(s["methods"] for s in summaries.values()):
        flag = next(iter(summaries.values()))["flag_at"]
        out.append({"path": explain_plots.sanity_cascade(summaries, flag, fig_dir / "sanity.png"),
                    "caption": "Model-parameter randomization test (Adebayo et al., 2018): layers are re-initialized "
                               "one after another from the output down; each point is the rank correlation between the "
                               "maps of the trained and the randomized model (mean over seeds, min-max band). An "
                               "explanation of the "
                               f"model must fall towards 0; one that stays above {flag} (dashed) follows the input "
                               "instead."})
        out.append({"path": explain_plots.faithfulness_curves(summaries, fig_dir / "faithfulness.png"),
                    "caption": "Deletion and insertion (Petsiuk et al., 2018): the probability of the explained class "
                               "as the positions a map ranks highest are removed (set to the training mean) or "
                               "restored into a blurred copy. A faithful map makes deletion fall and insertion rise "
                               "faster than a random order."})
    panels = {}
    for a, info in arms.items():
        d = next(iter(tasks.seed_dirs(run_dir, a, info)), None)
        if "feature-maps" in wanted and d is not None and (d / "explain.npz").is_file():
            with np.load(d / "explain.npz") as z:
                if "filters" in z.files or "feature_maps" in z.files:
                    panels[a] = {k: z[k] for k in ("filters", "feature_maps") if k in z.files and z[k].ndim >= 3}
    if any(panels.values()):
        out.append({"path": explain_plots.features({a: p for a, p in panels.items() if p}, fig_dir / "features.png"),
                    "caption": "First-layer filters (averaged over input channels) and the Grad-CAM layer's 16 most "
                               "active channels for the first explained test example, seed 0. Early filters are edge "
                               "and blob detectors; deeper maps are coarser and respond to parts of the object."})
    flows = {a: i.get("gradient_flow") for a, i in arms.items() if i.get("gradient_flow")}
    if flows:
        out.append({"path": explain_plots.gradient_flow(flows, fig_dir / "gradient-flow.png"),
                    "caption": "Gradient flow: the norm of each weight's gradient at initialization (dotted, one "
                               "batch), averaged over the steps of the first (solid) and last (dashed) epoch, mean "
                               "over seeds. Norms that shrink by orders of magnitude towards the input are vanishing "
                               "gradients; the first layers then barely learn. First layer's norm and first-to-last "
                               "layer ratio at initialization / first epoch / last epoch (mean over seeds): "
                               + "; ".join(f"{a} " + " / ".join(f"{g['first_layer'][k]['mean']:.1e} "
                                                                f"({g['ratio'][k]['mean']:.1e})"
                                                               for k in ("init", "first", "last")
                                                               if k in g.get("ratio", {}) and g["ratio"][k]["n"])
                                           for a, g in flows.items()) + "." + _dead_units(flows)})
    return out


def _dead_units(flows: dict[str, dict]) -> str:
    """The caption's sentence on dead units (deepstudy.train.units), where the run measured them."""
    said = [f"{a} {d['init']['mean']:.1%} -> {d['trained']['mean']:.1%}" for a, g in flows.items()
            if (d := g.get("dead_units")) and "init" in d and "trained" in d]
    return (" Dead units (hidden units whose output is constant over one validation batch: a ReLU never positive, a "
            "saturated sigmoid), share of all hidden units at initialization -> as tested, mean over seeds: "
            + "; ".join(said) + ".") if said else ""

