"""Naive Bayes on AG News titles: deepstudy.scratch.MultinomialNB vs scikit-learn's, same features.

Data: the published 7,600-row AG News test split (the only split shipped here). Protocol, stated:
5-fold stratified cross-validation (shuffled, seed 0); in each fold a bag-of-words vocabulary
(scikit-learn CountVectorizer, lower-cased, default tokenizer) is fitted on the training folds only.
Target (issue 3): our accuracy within 0.5 points of scikit-learn's MultinomialNB on the same features.
Accuracies, not times: each is described over the 5 folds (mean, std, n).
"""
from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import MultinomialNB as SkNB

from benchmarks.common import write
from deepstudy import evaluate, scratch
from deepstudy.data import registry, text

ALPHAS = (0.01, 0.1, 0.5, 1.0, 2.0)
TITLES: int | None = None  # all 7,600; tests/test_benchmarks.py takes the first few hundred to run it small


def main() -> dict:
    spec = registry.get("ag-news")
    folder = registry.locate(spec)
    registry.verify(spec, folder)
    titles, _, y, classes = text.read_ag_news(folder)
    titles, y = titles[:TITLES], y[:TITLES]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(titles, y))
    out = {"dataset": f"ag-news test split ({len(titles):,} titles)",
           "protocol": "5-fold stratified CV, vocabulary fitted per fold",
           "alphas": {}}
    for alpha in ALPHAS:
        ours, theirs, agree = [], [], []
        for train_idx, test_idx in folds:
            vec = CountVectorizer(lowercase=True)
            xtr = vec.fit_transform([titles[i] for i in train_idx]).toarray().astype(np.float64)
            xte = vec.transform([titles[i] for i in test_idx]).toarray().astype(np.float64)
            p_ours = scratch.MultinomialNB(alpha).fit(xtr, y[train_idx]).predict(xte)
            p_sk = SkNB(alpha=alpha).fit(xtr, y[train_idx]).predict(xte)
            ours.append(float((p_ours == y[test_idx]).mean()))
            theirs.append(float((p_sk == y[test_idx]).mean()))
            agree.append(float((p_ours == p_sk).mean()))
        gap = float(abs(np.mean(ours) - np.mean(theirs)) * 100)
        out["alphas"][str(alpha)] = {"ours": evaluate.describe(ours), "sklearn": evaluate.describe(theirs),
                                     "prediction_agreement": float(np.mean(agree)), "gap_points": gap, "met": gap <= 0.5}
        print(f"alpha {alpha}: ours {np.mean(ours):.4f} ± {np.std(ours, ddof=1):.4f}, sklearn {np.mean(theirs):.4f}, "
              f"agreement {np.mean(agree):.4f}, gap {gap:.3f} pts")
    write("naive_bayes_ag_news", out)
    return out


if __name__ == "__main__":
    main()
