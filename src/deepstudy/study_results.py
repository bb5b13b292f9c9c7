"""results.json: every number the report shows, aggregated from the files of a run directory.

Per arm: mean ± std (95% CI) over seeds of each test metric, size (parameters, MACs), timing, the
task's own summary (forecast, som, explanations, gradient flow); then the arm comparison.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstudy import evaluate, models, study_anomaly, study_anomaly_images, study_explain, study_forecast, study_gan, study_scratch, study_som
from deepstudy.config import Study
from deepstudy.fileio import read_json

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def aggregate(study: Study, arms: dict[str, Study], run_dir: Path) -> dict:
    """Every number the report shows, from the files of the run directory."""
    data_info = read_json(run_dir / "data.json")
    y_test = np.load(run_dir / "test_labels.npy")
    out_arms, scores, correct, predictions, failures = {}, {}, {}, {}, []
    forecast, som, anomaly, generate = (study.task == t for t in ("forecast", "som", "reconstruct", "generate"))
    metric, metrics = {"forecast": ("r2", study_forecast.METRICS), "som": ("quantization_error", study_som.METRICS),
                       "reconstruct": ("nab_standard", study_anomaly.METRICS) if data_info["kind"] == "nab"
                       else ("roc_auc", study_anomaly_images.METRICS),
                       "generate": ("frechet_distance", study_gan.METRICS)}.get(study.task, ("accuracy", METRICS))
    plain_task = not (forecast or som or anomaly or generate)  # classification: predictions, confusion, per class
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
        else:
            model = models.build(cfg.model.name, shape, n_classes, vocab_size=data_info.get("vocab_size"), **cfg.model.kwargs())
            _, n_params, macs = models.summarize(model, models.example(cfg.model.name, shape))
        summary = {m: evaluate.describe([s["test"][m] for s in ok]) for m in metrics}
        for key in ("train_seconds", "seconds_per_epoch", "train_accuracy", "epochs_run"):
            summary[key] = evaluate.describe([s[key] for s in ok])
        summary["generalization_gap"] = evaluate.describe([s["train_accuracy"] - s["test"][metric] for s in ok])
        plain = ok and plain_task
        confusion = np.sum([s["test"]["confusion"] for s in ok], axis=0).tolist() if plain else None
        per_class = {c: {m: evaluate.describe([s["test"]["per_class"][c][m] for s in ok]) for m in ("precision", "recall", "f1")}
                     for c in data_info["classes"]} if plain else {}
        out_arms[arm] = {"model": {"name": cfg.model.name, **cfg.model.kwargs()}, "overrides": study.arms[arm],
                         "params": n_params, "macs": macs, "summary": summary, "confusion": confusion,
                         "per_class": per_class, "seeds": seeds, "forecast": study_forecast.summary(ok, data_info["classes"])
                         if forecast else None, "som": study_som.summary(run_dir / "arms" / arm, ok) if som else None,
                         "anomaly": study_anomaly.summary(ok) if anomaly else None,
                         "gan": study_gan.summary(run_dir / "arms" / arm, ok) if generate else None}
        if "bias-variance" in study.analyses and len(predictions.get(arm, [])) >= 2 and not cfg.data.cv_folds:
            out_arms[arm]["bias_variance"] = evaluate.bias_variance(predictions[arm], y_test)
        if "gradients" in study.analyses:
            out_arms[arm]["gradients"] = study_scratch.gradient_summary(run_dir / "arms" / arm, study.seeds)
        if study_explain.wanted(study) or "attention" in study.analyses:
            out_arms[arm]["explain"] = study_explain.summarize(run_dir / "arms" / arm, study.seeds)
        if "gradient-flow" in study.analyses:
            out_arms[arm]["gradient_flow"] = study_explain.gradient_flow(run_dir / "arms" / arm, study.seeds)
    return {"study": study.name, "description": study.description, "task": study.task, "seeds": study.seeds,
            "analyses": list(study.analyses), "explain": study.explain.model_dump(mode="json"),
            "metric": metric, "dataset": data_info, "arms": out_arms,
            "comparison": evaluate.compare_arms(scores, correct, metric, paired=any(c.data.cv_folds for c in arms.values()),
                                                lower_better=som or generate,
                                                **({"scale": 1.0, "unit": "NAB points"} if metric == "nab_standard" else {})),
            "failures": failures,
            **({"anomaly_config": study.anomaly.model_dump(mode="json")} if anomaly else {}),
            **({"som_config": study.som.model_dump(mode="json"), "arm_rules": {a: c.som.rule for a, c in arms.items()}} if som else {}),
            "environment": read_json(run_dir / "env.json")}
