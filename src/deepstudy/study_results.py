"""results.json: every number the report shows, aggregated from the files of a run directory.

Per arm: mean ± std (95% CI) over seeds of each test metric, size (parameters, MACs), timing, the
task's own keys (``Task.summarize``: forecast, som, explanations, gradient flow ...); then the arm comparison.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from deepstudy import evaluate, repro, study_precision, tasks, train
from deepstudy.config import Study
from deepstudy.data import preprocessing, tokens
from deepstudy.fileio import atomic_write_bytes, read_json, write_json
from deepstudy.records import FRACTIONS, ArmSummary
from deepstudy.rundir import RunDir
from deepstudy.runs import testset
from deepstudy.tasks import trajectories


def aggregate(study: Study, arms: dict[str, Study], run: RunDir) -> dict:
    """Every number the report shows, from the files of the run directory."""
    data_info = read_json(run.data)
    y_test = np.load(run.test_labels)
    lead = tasks.get(study.task)
    metric, metrics = lead.headline(data_info)
    out_arms, scores, correct, predictions, failures = {}, {}, {}, {}, []
    for arm, cfg in arms.items():
        task = tasks.get(cfg.task)
        seeds = []
        for seed in run.seeds(arm, range(study.seeds)):
            res = read_json(seed.result)
            res["seed"] = seed.index
            seeds.append(res)
            if res["status"] != "ok":
                failures.append({"arm": arm, "seed": seed.index, "message": res.get("message")})
                continue
            if task.predictions:  # class labels: confusion, per class, McNemar
                labels = np.load(seed / "test_labels.npy") if (seed / "test_labels.npy").is_file() else y_test
                predictions.setdefault(arm, []).append(np.load(seed / "predictions.npy").astype(np.int64))
                correct.setdefault(arm, []).append(predictions[arm][-1] == labels)
        ok = [s for s in seeds if s["status"] == "ok"]
        scores[arm] = [s["test"][metric] for s in ok]
        size = task.size(cfg, data_info, ok)
        summary = {m: evaluate.describe([s["test"][m] for s in ok], _bounds(m)) for m in metrics}
        for key in ("train_seconds", "seconds_per_epoch", "train_accuracy", "epochs_run"):
            summary[key] = evaluate.describe([s[key] for s in ok], _bounds(key))
        gap_of = task.gap_metric(metric)
        summary["generalization_gap"] = evaluate.describe([s["train_accuracy"] - s["test"][gap_of] for s in ok])
        plain = ok and task.predictions
        confusion = np.sum([s["test"]["confusion"] for s in ok], axis=0).tolist() if plain else None
        per_class = {c: {m: evaluate.describe([s["test"]["per_class"][c][m] for s in ok], (0.0, 1.0))
                         for m in ("precision", "recall", "f1")}
                     for c in data_info["classes"]} if plain else {}
        out_arms[arm] = ArmSummary(
            model={"name": cfg.model.name, **cfg.model.kwargs()}, overrides=study.arms[arm], params=size.params,
            trainable_params=size.trainable, macs=size.macs, summary=summary, confusion=confusion,
            per_class=per_class, seeds=seeds, extras=task.summarize(study, cfg, run, arm, ok, data_info)).to_json()
        if "bias-variance" in study.analyses and len(predictions.get(arm, [])) >= 2 and not _folds(cfg):
            out_arms[arm]["bias_variance"] = evaluate.bias_variance(predictions[arm], y_test)
    paths = trajectories.summary(run) if "trajectories" in study.analyses else None
    groups = _sample_size_groups(arms)
    extras = {k: v for t in dict.fromkeys([lead, *(tasks.get(c.task) for c in arms.values())])
              for k, v in t.study_extras(study, arms, out_arms).items()}
    return {"study": study.name, "description": study.description, "task": study.task, "seeds": study.seeds,
            "sample_size": groups, "sample_size_gaps": _sample_size_gaps(groups, scores),
            "analyses": list(study.analyses),
            "explain": study.explain.model_dump(mode="json"), "metric": metric, "dataset": data_info, "arms": out_arms,
            "comparison": evaluate.compare_arms(scores, correct, metric, paired=any(_folds(c) for c in arms.values()),
                                                lower_better=lead.lower_is_better, note=lead.headline_note(data_info),
                                                **lead.comparison(metric)),
            **({"trajectories": paths} if paths else {}),
            **extras, "failures": failures, "notes": _notes(out_arms, run), "environment": read_json(run.env),
            "test_set": testset.record(run.path)}  # what `deepstudy compare` checks runs against (deepstudy.runs)


def _bounds(metric: str) -> tuple[float, float] | None:
    """(0, 1) for a metric that cannot leave it (its 95 % interval is clipped there), else None."""
    return (0.0, 1.0) if metric in FRACTIONS else None


def _notes(out_arms: dict, run: RunDir) -> list[str]:
    """What ran otherwise than the study asked, and what auto chose, said once for the report (each seed keeps its
    own record)."""
    fell_back = [a for a, info in out_arms.items() if any(s.get("precision") == train.FELL_BACK for s in info["seeds"])]
    said = [f"{train.FALLBACK_NOTE} (arm(s) {', '.join(fell_back)})"] if fell_back else []
    return said + study_precision.notes(study_precision.read(run))


def _folds(cfg: Study) -> int | None:
    return cfg.data.cv_folds


def write_data(run: RunDir, arms: dict[str, Study], datasets: dict) -> None:
    """data.json (what the data is and how each task uses it), the test labels, and sample images."""
    first = datasets[next(iter(arms))]
    info = first.summary()
    for task in dict.fromkeys(tasks.get(c.task) for c in arms.values()):
        info["notes"] += task.data_notes(arms, info)
    write_json(run.data, info)
    np.save(run.test_labels, np.asarray(first.y_test))
    for arm, cfg in arms.items():  # what new inputs must go through (deepstudy predict, export): no random draws
        _write_preprocessing(run.arm(arm), datasets[arm], cfg)
    if first.kind == "image":  # a few test images per class
        idx = np.concatenate([np.flatnonzero(np.asarray(first.y_test) == c)[:8] for c in range(first.num_classes)])
        pick = torch.from_numpy(idx)
        np.savez_compressed(run.samples, images=first.x_test[pick].numpy(), labels=first.y_test[pick].numpy())


def _write_preprocessing(folder, ds, cfg: Study) -> None:
    """arms/<arm>/preprocessing.json (and a WordPiece run's tokenizer.json beside it), with the arm's task and model
    section: what rebuilds its network without the study's arms (a search's tuned arm included)."""
    found = {**preprocessing.state(ds, cfg.data), "task": cfg.task, "model": cfg.model.model_dump(mode="json")}
    folder.mkdir(parents=True, exist_ok=True)
    if found.get("tokens", {}).get("tokenizer") == "wordpiece":
        atomic_write_bytes(folder / preprocessing.TOKENIZER,
                           (tokens.minilm_folder() / preprocessing.TOKENIZER).read_bytes())
    write_json(folder / preprocessing.FILE, found)


def write_env(run: RunDir, study: Study, device, determinism: dict, datasets: dict, seeds_used: dict,
              nondeterministic: set[str], seconds: float) -> None:
    """env.json: versions, device, data checksums and how every seed was derived."""
    write_json(run.env, {
        **repro.environment(device), "data_sha256": {d.name: d.source.get("sha256") for d in datasets.values()},
        "determinism": {**determinism, "seeds": {
            "study": study.seed, "data_split": repro.derive_seed(study.seed, "data"), "per_arm_seed": seeds_used,
            "derivation": {"run seed i": "derive_seed(study, 'seed', i)", "init": "derive_seed(run, 'init')",
                           "dropout/global stream, epoch e": "derive_seed(run, 'epoch', e)",
                           "batch order + augmentation, epoch e": "derive_seed(run, 'batches', e)",
                           "validation split": "derive_seed(data_split, 'val-split')"}},
                        "nondeterministic_ops_hit": sorted(nondeterministic)},
        "wall_seconds_this_session": seconds,
    })


def _without_train_limit(cfg: Study) -> str:
    d = cfg.model_dump(mode="json", exclude={"arms"})
    d["data"].pop("train_limit", None)
    return json.dumps(d, sort_keys=True)


def _sample_size_groups(arms: dict[str, Study]) -> dict[str, list[list]] | None:
    """Arms that differ only in data.train_limit, grouped: {label: [[train_limit, arm], ...]} sorted by size —
    the accuracy-vs-number-of-labels curves (e.g. transfer learning against training from scratch)."""
    if len({c.data.train_limit for c in arms.values()}) < 2:
        return None
    groups: dict[str, list[str]] = {}
    for arm, cfg in arms.items():
        groups.setdefault(_without_train_limit(cfg), []).append(arm)
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
