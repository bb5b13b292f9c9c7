"""results.json: every number the report shows, aggregated from the files of a run directory.

Per arm: mean ± std (95% CI) over seeds of each test metric, size (parameters, MACs), timing, the
task's own summary (forecast, som, explanations, gradient flow); then the arm comparison.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from deepstudy import (evaluate, models, study_anomaly, study_anomaly_images, study_explain, study_forecast, study_gan, study_lm,
                       study_scratch, study_som)
from deepstudy.config import Study
from deepstudy.models import heads
from deepstudy.fileio import read_json

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def aggregate(study: Study, arms: dict[str, Study], run_dir: Path) -> dict:
    """Every number the report shows, from the files of the run directory."""
    data_info = read_json(run_dir / "data.json")
    y_test = np.load(run_dir / "test_labels.npy")
    out_arms, scores, correct, predictions, failures = {}, {}, {}, {}, []
    forecast, som, anomaly, generate, lm = (study.task == t for t in ("forecast", "som", "reconstruct", "generate",
                                                                       "language-model"))
    metric, metrics = {"forecast": ("r2", study_forecast.METRICS), "som": ("quantization_error", study_som.METRICS),
                       "reconstruct": ("nab_standard", study_anomaly.METRICS) if data_info["kind"] == "nab"
                       else ("roc_auc", study_anomaly_images.METRICS),
                       "generate": ("frechet_distance", study_gan.METRICS),
                       "language-model": ("perplexity", study_lm.METRICS)}.get(study.task, ("accuracy", METRICS))
    plain_task = not (forecast or som or anomaly or generate or lm)  # classification: predictions, confusion, per class
    for arm, cfg in arms.items():
        seeds = []
        for i in range(study.seeds):
            folder = run_dir / "arms" / arm / f"seed-{i}"
            res = read_json(folder / "result.json")
            res["seed"] = i
            seeds.append(res)
            if res["status"] != "ok":
                failures.append({"arm": arm, "seed": i, "message": res.get("message")})
                continue
            if plain_task:
                labels = np.load(folder / "test_labels.npy") if (folder / "test_labels.npy").is_file() else y_test
                predictions.setdefault(arm, []).append(np.load(folder / "predictions.npy").astype(np.int64))
                correct.setdefault(arm, []).append(predictions[arm][-1] == labels)
        ok = [s for s in seeds if s["status"] == "ok"]
        scores[arm] = [s["test"][metric] for s in ok]
        shape, n_classes = tuple(data_info["input_shape"]), len(data_info["classes"])
        n_trainable = None
        if cfg.task == "classical":
            n_params, macs = (ok[0]["params"] if ok else None), None
        elif cfg.task == "scratch":
            n_params, macs = study_scratch.size(cfg, shape, n_classes), None
        elif som:
            n_params, macs = study_som.build(cfg, int(np.prod(shape))).weight.numel(), None
        elif anomaly:
            ae = study_anomaly.build(cfg) if data_info["kind"] == "nab" else study_anomaly_images.build(cfg, shape)
            n_params, macs = sum(p.numel() for p in ae.parameters()), None
        elif generate:
            n_params, macs = sum(p.numel() for m in study_gan.build(cfg, shape[0]) for p in m.parameters()), None
        elif lm:
            n_params, macs = sum(p.numel() for p in study_lm.build(cfg, data_info["vocab_size"]).parameters()), None
        else:
            model = models.build(cfg.model.name, shape, n_classes, vocab_size=data_info.get("vocab_size"), **cfg.model.kwargs())
            _, n_params, macs = models.summarize(model, models.example(cfg.model.name, shape))
            n_trainable = heads.trainable(model, cfg.train.freeze_backbone and not cfg.train.unfreeze_after,
                                          cfg.train.freeze_embeddings)  # frozen, then fine-tuned: every layer at the end
        summary = {m: evaluate.describe([s["test"][m] for s in ok]) for m in metrics}
        for key in ("train_seconds", "seconds_per_epoch", "train_accuracy", "epochs_run"):
            summary[key] = evaluate.describe([s[key] for s in ok])
        gap_of = "accuracy" if lm else metric  # a language model: next-character accuracy, train vs test text
        summary["generalization_gap"] = evaluate.describe([s["train_accuracy"] - s["test"][gap_of] for s in ok])
        plain = ok and plain_task
        confusion = np.sum([s["test"]["confusion"] for s in ok], axis=0).tolist() if plain else None
        per_class = {c: {m: evaluate.describe([s["test"]["per_class"][c][m] for s in ok]) for m in ("precision", "recall", "f1")}
                     for c in data_info["classes"]} if plain else {}
        out_arms[arm] = {"model": {"name": cfg.model.name, **cfg.model.kwargs()}, "overrides": study.arms[arm],
                         "params": n_params, "trainable_params": n_trainable if n_trainable != n_params else None,
                         "macs": macs, "summary": summary, "confusion": confusion,
                         "per_class": per_class, "seeds": seeds, "forecast": study_forecast.summary(ok, data_info["classes"])
                         if forecast else None, "som": study_som.summary(run_dir / "arms" / arm, ok) if som else None,
                         "anomaly": study_anomaly.summary(ok) if anomaly else None,
                         "gan": study_gan.summary(run_dir / "arms" / arm, ok) if generate else None,
                         "lm": study_lm.summary(run_dir / "arms" / arm, ok) if lm else None}
        if any("teacher" in s for s in ok):
            alone = [b for b, c in arms.items() if _same(c, cfg, "distill")]  # the same student without a teacher
            out_arms[arm]["teacher"] = {**ok[0]["teacher"], "temperature": cfg.distill.temperature, "alpha": cfg.distill.alpha,
                                        "accuracy": evaluate.describe([s["teacher"]["test_accuracy"] for s in ok]),
                                        "student_alone": alone[0] if alone else None}
        for key in ("word_vectors", "pretrained"):  # what the arm's weights started from
            if any(key in s for s in ok):
                out_arms[arm][key] = next(s[key] for s in ok if key in s)
        if any("pretext" in s for s in ok):
            out_arms[arm]["pretext"] = {"task": cfg.pretrain.task, "source": cfg.pretrain.data, "val_accuracy": evaluate.describe(
                [s["pretext"][-1]["val_acc"] for s in ok if s.get("pretext")])}
        if "bias-variance" in study.analyses and len(predictions.get(arm, [])) >= 2 and not cfg.data.cv_folds:
            out_arms[arm]["bias_variance"] = evaluate.bias_variance(predictions[arm], y_test)
        if "gradients" in study.analyses:
            out_arms[arm]["gradients"] = study_scratch.gradient_summary(run_dir / "arms" / arm, study.seeds)
        if study_explain.wanted(study) or "attention" in study.analyses:
            out_arms[arm]["explain"] = study_explain.summarize(run_dir / "arms" / arm, study.seeds)
        if "gradient-flow" in study.analyses:
            out_arms[arm]["gradient_flow"] = study_explain.gradient_flow(run_dir / "arms" / arm, study.seeds)
    groups = _sample_size_groups(arms)
    return {"study": study.name, "description": study.description, "task": study.task, "seeds": study.seeds,
            "sample_size": groups, "sample_size_gaps": _sample_size_gaps(groups, scores),
            "analyses": list(study.analyses), "explain": study.explain.model_dump(mode="json"),
            "metric": metric, "dataset": data_info, "arms": out_arms,
            "comparison": evaluate.compare_arms(scores, correct, metric, paired=any(c.data.cv_folds for c in arms.values()),
                                                lower_better=som or generate or lm,
                                                **({"scale": 1.0, "unit": "NAB points"} if metric == "nab_standard" else {})),
            **({"ngram": next((s["ngram"] for a in out_arms.values() for s in a["seeds"] if s.get("ngram")), None)} if lm else {}),
            "failures": failures,
            **({"anomaly_config": study.anomaly.model_dump(mode="json")} if anomaly else {}),
            **({"som_config": study.som.model_dump(mode="json"), "arm_rules": {a: c.som.rule for a, c in arms.items()}} if som else {}),
            "environment": read_json(run_dir / "env.json")}


def _canonical(cfg: Study, reset: str) -> str:
    d = cfg.model_dump(mode="json", exclude={"arms"})
    if reset == "distill":
        d.pop("distill")
    else:  # "train_limit"
        d["data"].pop("train_limit")
    return json.dumps(d, sort_keys=True)


def _same(other: Study, cfg: Study, without: str) -> bool:
    """``other`` is ``cfg`` with no teacher (and every other setting equal)."""
    return other.distill.teacher is None and _canonical(other, without) == _canonical(cfg, without)


def _sample_size_groups(arms: dict[str, Study]) -> dict[str, list[list]] | None:
    """Arms that differ only in data.train_limit, grouped: {label: [[train_limit, arm], ...]} sorted by size —
    the accuracy-vs-number-of-labels curves (e.g. transfer learning against training from scratch)."""
    if len({c.data.train_limit for c in arms.values()}) < 2:
        return None
    groups: dict[str, list[str]] = {}
    for arm, cfg in arms.items():
        groups.setdefault(_canonical(cfg, "train_limit"), []).append(arm)
    out = {}
    for names in groups.values():
        if len(names) < 2 or any(arms[a].data.train_limit is None for a in names):
            continue
        label = os.path.commonprefix(names).rstrip("-_ ") or names[0]
        out[label] = sorted([[arms[a].data.train_limit, a] for a in names])
    return out or None


def _sample_size_gaps(groups: dict[str, list[list]] | None, scores: dict[str, list[float]]) -> list[dict]:
    """Each group against the first (e.g. from scratch) at every size both have: the gap of means and Welch's p."""
    if not groups or len(groups) < 2:
        return []
    (ref, ref_points), *rest = groups.items()
    out = []
    for label, points in rest:
        at = dict((n, a) for n, a in points)
        for n, r in ref_points:
            a, b = scores.get(at.get(n), []), scores.get(r, [])
            if len(a) > 1 and len(b) > 1:
                out.append({"group": label, "reference": ref, "size": n, "gap": float(np.mean(a) - np.mean(b)),
                            "p": evaluate.welch_p(a, b)})
    return out
