"""`task: classical` — from-scratch logistic regression, naive Bayes and KNN (``deepstudy.scratch``),
with scikit-learn's naive Bayes as an oracle arm and its multinomial logistic regression as the classical
baseline beside neural text models, through the same study machinery (arms, seeds, report).

Features: tables and 2-D points as loaded (standardized on the training split), images flattened,
text as bag-of-words counts or TF-IDF (model argument ``features``; scikit-learn's vectorizers, fitted on
the training rows only; ``ngrams: 2`` adds word pairs).

Seeds vary the *data*, because these learners are deterministic given their data:
- ``data.cv_folds: k`` — stratified k-fold cross-validation over every labelled row; seed i is fold i.
- ``data.resample: bootstrap`` — seed i trains on a bootstrap sample of the training split, so the
  spread over seeds (and the bias-variance analysis) measures the training set's variance.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import MultinomialNB as SklearnNB

from deepstudy import data as _data
from deepstudy import evaluate, repro, scratch
from deepstudy.config import Study
from deepstudy.data.splits import stratified_split
from deepstudy.errors import UserError, closest
from deepstudy.fileio import write_jsonl
from deepstudy.records import SeedResult
from deepstudy.tasks import SeedContext, Size, Task

# model -> its keyword arguments and defaults (logistic regression also reads train.optimizer.lr and train.epochs);
# features / ngrams / min_df describe text features and apply to text datasets only
_TEXT = {"features": "counts", "ngrams": 1, "min_df": 1}
MODELS = {"logistic-regression": {"l2": 0.0}, "naive-bayes": {"alpha": 1.0, **_TEXT}, "knn": {"k": 5},
          "sklearn-naive-bayes": {"alpha": 1.0, **_TEXT},
          "sklearn-logistic-regression": {"C": 10.0, **_TEXT, "features": "tfidf", "min_df": 2}}
_FEATURES = ("counts", "tfidf")
_CV_SEED = 20261121  # folds must not move when a study changes its seed


class ClassicalTask(Task):
    """Deterministic learners: a seed is a fold or a bootstrap sample; no epochs, so no checkpoint within a seed."""

    name = "classical"
    epoch_metrics = {"val_loss": True, "val_acc": False}
    predictions = True

    def check(self, arm: str, cfg: Study, study: Study) -> None:
        # a deterministic learner may repeat its seeds beside arms that vary with the seed: its spread is then a true 0
        varies = any(c.task != "classical" or c.data.cv_folds or c.data.resample != "none"
                     for c in study.arm_configs().values())
        check(arm, cfg, study.seeds, beside_varying=varies)

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        check_data(arm, cfg, ds)

    def train_seed(self, ctx: SeedContext) -> SeedResult:
        return train_one(ctx.cfg, ctx.dataset, ctx.run_seed, ctx.seed.path, ctx.index)

    def size(self, cfg: Study, data_info: dict, ok: list[dict]) -> Size:
        return Size(ok[0]["params"] if ok else None)

    def data_notes(self, arms: dict[str, Study], info: dict) -> list[str]:
        folds = next((c.data.cv_folds for c in arms.values() if c.task == "classical" and c.data.cv_folds), None)
        if not folds:
            return []
        return [f"{folds}-fold stratified cross-validation over all {sum(info['sizes'].values())} labelled rows "
                "(fixed folds): seed i is tested on fold i and trained on the others — the sizes above "
                "describe the default split, which cross-validation does not use"]


def check(arm: str, cfg: Study, seeds: int, beside_varying: bool = False) -> None:
    """``beside_varying``: other arms of the study vary with the seed (torch models, resampled data), so this
    deterministic arm repeating its result on every seed is the truth (spread 0), not a sample size it lacks."""
    name, d = cfg.model.name, cfg.data
    if name not in MODELS:
        raise UserError(f"arm '{arm}': task: classical has no model '{name}'{closest(name, MODELS)}; models are "
                        f"{', '.join(MODELS)}")
    for key in cfg.model.kwargs():
        if key not in MODELS[name]:
            takes = f" (it takes {', '.join(MODELS[name]) or 'none'})"
            raise UserError(f"arm '{arm}': classical model '{name}' has no argument '{key}'"
                            f"{closest(key, MODELS[name]) or takes}")
    if d.augment:
        raise UserError(f"arm '{arm}': data.augment is not used by task: classical; remove it")
    kw = {**MODELS[name], **cfg.model.kwargs()}
    if "features" in kw and kw["features"] not in _FEATURES:
        raise UserError(f"arm '{arm}': model.features must be one of {', '.join(_FEATURES)}, got {kw['features']!r}")
    for key in ("ngrams", "min_df"):
        if key in kw and not (isinstance(kw[key], int) and not isinstance(kw[key], bool) and kw[key] >= 1):
            raise UserError(f"arm '{arm}': model.{key} must be a whole number >= 1, got {kw[key]!r}")
    if "C" in kw and not (isinstance(kw["C"], (int, float)) and not isinstance(kw["C"], bool) and kw["C"] > 0):
        raise UserError(f"arm '{arm}': model.C (inverse regularization strength) must be a number > 0, got {kw['C']!r}")
    if d.cv_folds and d.resample != "none":
        raise UserError(f"arm '{arm}': choose data.cv_folds or data.resample, not both")
    if d.cv_folds and seeds != d.cv_folds:
        raise UserError(f"data.cv_folds={d.cv_folds} runs one seed per fold: set seeds: {d.cv_folds} (got {seeds})")
    if seeds > 1 and not d.cv_folds and d.resample == "none" and not beside_varying:
        raise UserError(f"arm '{arm}': {name} is deterministic given its data, so {seeds} seeds would repeat one "
                        f"result; set data.resample=bootstrap or data.cv_folds=K (seeds: K), or seeds: 1")


def check_data(arm: str, cfg: Study, dataset: _data.Dataset) -> None:
    name = cfg.model.name
    if dataset.kind == "text" and name not in ("naive-bayes", "sklearn-naive-bayes", "sklearn-logistic-regression"):
        raise UserError(f"arm '{arm}': {name} on text needs dense features; text datasets work with naive-bayes "
                        "and sklearn-logistic-regression (sparse word features)")
    if dataset.kind != "text" and set(cfg.model.kwargs()) & set(_TEXT):
        raise UserError(f"arm '{arm}': model.features, ngrams and min_df describe text features; "
                        f"dataset '{dataset.name}' is not text — remove them")
    if name == "logistic-regression" and dataset.num_classes != 2:
        raise UserError(f"arm '{arm}': logistic-regression is binary; dataset '{dataset.name}' has "
                        f"{dataset.num_classes} classes")
    if "naive-bayes" in name and dataset.kind != "text" and float(dataset.x_train.min()) < 0:
        raise UserError(f"arm '{arm}': naive Bayes needs non-negative count features; '{dataset.name}' is "
                        f"standardized — use a text dataset, or data.normalize=false for image pixel counts")


def _dense(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def splits(cfg: Study, dataset: _data.Dataset, seed_index: int, run_seed: int):
    """(x_train, y_train, x_val, y_val, x_test, y_test) for one seed, before feature extraction."""
    parts = [np.asarray(a) for s in ("train", "val", "test") for a in dataset.split(s)]
    x_tr, y_tr, x_va, y_va, x_te, y_te = parts
    if cfg.data.cv_folds:
        x_all, y_all = np.concatenate([x_tr, x_va, x_te]), np.concatenate([y_tr, y_va, y_te])
        folds = StratifiedKFold(cfg.data.cv_folds, shuffle=True, random_state=_CV_SEED).split(np.zeros(len(y_all)),
                                                                                              y_all)
        rest, test = list(folds)[seed_index]
        tr, va = stratified_split(y_all[rest], cfg.data.val_fraction, repro.derive_seed(run_seed, "val-split"))
        return x_all[rest[tr]], y_all[rest[tr]], x_all[rest[va]], y_all[rest[va]], x_all[test], y_all[test]
    if cfg.data.resample == "bootstrap":
        pick = np.random.default_rng(repro.derive_seed(run_seed, "bootstrap")).integers(0, len(y_tr), len(y_tr))
        x_tr, y_tr = x_tr[pick], y_tr[pick]
    return x_tr, y_tr, x_va, y_va, x_te, y_te


def _features(cfg: Study, dataset: _data.Dataset, x_tr, x_va, x_te):
    if dataset.kind == "text":  # the vocabulary (and the IDF weights) come from the training rows only
        kw = {**MODELS[cfg.model.name], **cfg.model.kwargs()}
        common = {"lowercase": True, "ngram_range": (1, int(kw["ngrams"])), "min_df": int(kw["min_df"])}
        vec = (TfidfVectorizer(sublinear_tf=True,
                               **common) if kw["features"] == "tfidf"  # 1 + log tf, l2-normalized rows
               else CountVectorizer(**common))
        return vec.fit_transform(x_tr).astype(np.float64), vec.transform(x_va), vec.transform(x_te)
    return _dense(x_tr), _dense(x_va), _dense(x_te)


def _full(probs: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
    """Probabilities over every class (a bootstrap sample can miss a class: it gets probability 0)."""
    out = np.zeros((len(probs), k))
    out[:, seen] = probs
    return out


def _fit(cfg: Study, x, y, k: int, step_logger):
    """The fitted model's ``proba(x) -> (N, K)`` and its parameter count."""
    name, kw = cfg.model.name, {**MODELS[cfg.model.name], **cfg.model.kwargs()}
    if name == "logistic-regression":
        m = scratch.LogisticRegression(lr=cfg.train.optimizer.lr, epochs=cfg.train.epochs, l2=kw["l2"])
        m.fit(x, y.astype(np.float64), callback=lambda step: step_logger(m, step))
        return lambda q: np.stack([1 - m.predict_proba(q), m.predict_proba(q)], 1), x.shape[1] + 1
    if name == "knn":
        m = scratch.KNN(int(kw["k"])).fit(x, y)
        return lambda q: _full(m.predict_proba(q), m.classes, k), x.size  # non-parametric: it stores the data
    if name == "sklearn-logistic-regression":  # multinomial, L2 penalty 1/(2C)·||W||²
        m = SklearnLogisticRegression(C=float(kw["C"]), max_iter=1000).fit(x, y)
        return lambda q: _full(m.predict_proba(q), m.classes_, k), m.coef_.size + m.intercept_.size
    m = (scratch.MultinomialNB if name == "naive-bayes" else SklearnNB)(alpha=kw["alpha"]).fit(x, y)
    seen = m.classes if name == "naive-bayes" else m.classes_
    return lambda q: _full(np.exp(m.predict_log_proba(q)), seen, k), k * x.shape[1] + k


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-12, 1.0))


def _loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-_log(p[np.arange(len(y)), y]).mean())


def train_one(cfg: Study, dataset: _data.Dataset, run_seed: int, folder: Path, seed_index: int) -> SeedResult:
    folder.mkdir(parents=True, exist_ok=True)
    x_tr, y_tr, x_va, y_va, x_te, y_te = splits(cfg, dataset, seed_index, run_seed)
    f_tr, f_va, f_te = _features(cfg, dataset, x_tr, x_va, x_te)
    k, rows = dataset.num_classes, []
    t0 = time.perf_counter()

    def log_step(model, step):  # logistic regression: one row per gradient step, as an epoch row
        p_va = model.predict_proba(f_va)
        rows.append({"epoch": step, "train_loss": model.history[-1], "train_acc": None,
                     "val_loss": _loss(np.stack([1 - p_va, p_va], 1), y_va),
                     "val_acc": float(((p_va >= 0.5) == y_va).mean()), "lr": model.lr,
                     "seconds": 0.0, "eval_seconds": 0.0, "steps": 1})

    proba, n_params = _fit(cfg, f_tr, y_tr, k, log_step)
    fit_seconds = time.perf_counter() - t0
    if not rows:  # one-shot learners: one row
        p_va = proba(f_va)
        rows = [{"epoch": 0, "train_loss": None, "train_acc": None, "val_loss": _loss(p_va, y_va),
                 "val_acc": float((p_va.argmax(1) == y_va).mean()), "lr": None, "seconds": 0.0,
                 "eval_seconds": 0.0, "steps": 1}]
    rows[-1]["seconds"] = fit_seconds  # the whole fit (per-step times are not measured)
    write_jsonl(folder / "metrics.jsonl", rows)
    t1 = time.perf_counter()
    logits = _log(proba(f_te))
    test_seconds = time.perf_counter() - t1
    evaluate.save_predictions(folder, logits)
    np.save(folder / "test_labels.npy", y_te)  # with cv_folds each seed has its own test rows
    if "boundary" in cfg.analyses and seed_index == 0 and f_tr.shape[1] == 2:
        evaluate.save_boundary(folder, f_tr, y_tr, f_te, y_te, proba)
    idx = evaluate.probe_indices(len(y_tr))
    train_accuracy = float((proba(f_tr[idx]).argmax(1) == y_tr[idx]).mean())
    record = evaluate.run_record(rows, best_epoch=rows[-1]["epoch"], monitor={"metric": "last", "best": None},
                                 stopped_early=False, precision="float64 (NumPy)", test_seconds=test_seconds,
                                 train_accuracy=train_accuracy,
                                 test=evaluate.classification_metrics(logits, y_te, dataset.classes))
    record.extras.update(params=int(n_params), train_rows=len(y_tr), features=int(f_tr.shape[1]))
    return record
