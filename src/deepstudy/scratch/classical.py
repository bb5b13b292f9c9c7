"""From-scratch classical baselines, vectorized: logistic regression, multinomial naive Bayes, KNN."""
from __future__ import annotations

import numpy as np

from deepstudy.scratch.layers import sigmoid


class LogisticRegression:
    """Binary logistic regression by full-batch gradient descent.

    Minimizes mean log-loss + (l2 / 2) * ||w||^2 (bias not penalized): the same optimum as
    scikit-learn's ``LogisticRegression(C=1 / (l2 * n_samples))``.
    """

    def __init__(self, lr: float = 0.1, epochs: int = 1000, l2: float = 0.0, tol: float = 0.0):
        self.lr, self.epochs, self.l2, self.tol = lr, epochs, l2, tol
        self.history: list[float] = []

    def fit(self, x: np.ndarray, y: np.ndarray, callback=None) -> LogisticRegression:
        """``callback(step)`` runs after every update (e.g. to log validation loss); ``history`` holds the training
        loss."""
        n, d = x.shape
        self.w, self.b = np.zeros(d, x.dtype), 0.0
        self.history = []
        for _ in range(self.epochs):
            p = sigmoid(x @ self.w + self.b)
            eps = np.finfo(x.dtype).tiny
            loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + 0.5 * self.l2 * self.w @ self.w
            self.history.append(float(loss))
            gw = x.T @ (p - y) / n + self.l2 * self.w
            gb = float(np.mean(p - y))
            self.w -= self.lr * gw
            self.b -= self.lr * gb
            if callback is not None:
                callback(len(self.history) - 1)
            if self.tol and max(np.abs(gw).max(), abs(gb)) < self.tol:
                break
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(x @ self.w + self.b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x) >= 0.5).astype(np.int64)


class MultinomialNB:
    """Multinomial naive Bayes with Laplace / Lidstone smoothing ``alpha`` (counts features, e.g. words)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, x: np.ndarray, y: np.ndarray) -> MultinomialNB:
        self.classes = np.unique(y)
        onehot = (y[:, None] == self.classes[None]).astype(np.float64)  # (N, K)
        counts = onehot.T @ x  # (K, D) word counts per class: one matrix product
        self.class_log_prior = np.log(onehot.sum(0) / len(y))
        smoothed = counts + self.alpha
        self.feature_log_prob = np.log(smoothed) - np.log(smoothed.sum(1, keepdims=True))
        return self

    def joint_log_likelihood(self, x: np.ndarray) -> np.ndarray:
        return x @ self.feature_log_prob.T + self.class_log_prior

    def predict_log_proba(self, x: np.ndarray) -> np.ndarray:
        jll = self.joint_log_likelihood(x)
        top = jll.max(1, keepdims=True)
        return jll - (top + np.log(np.exp(jll - top).sum(1, keepdims=True)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes[self.joint_log_likelihood(x).argmax(1)]


class KNN:
    """k-nearest neighbours, Euclidean, majority vote (ties go to the smallest label, as scikit-learn)."""

    def __init__(self, k: int = 5):
        self.k = k

    def fit(self, x: np.ndarray, y: np.ndarray) -> KNN:
        self.x, self.y = x, y
        self.classes = np.unique(y)
        self.sq = (x ** 2).sum(1)
        return self

    def neighbours(self, x: np.ndarray, batch: int = 2048) -> np.ndarray:
        """Indices (N, k) of the k nearest training points, nearest first, in batches to bound memory."""
        out = []
        for start in range(0, len(x), batch):
            q = x[start:start + batch]
            d2 = (q ** 2).sum(1)[:, None] - 2 * q @ self.x.T + self.sq[None]  # ||a-b||^2 = a.a - 2a.b + b.b
            idx = np.argpartition(d2, self.k - 1, axis=1)[:, :self.k]
            order = np.take_along_axis(d2, idx, 1).argsort(1, kind="stable")
            out.append(np.take_along_axis(idx, order, 1))
        return np.concatenate(out)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Share of the k neighbours in each class (N, K), columns in ``self.classes`` order."""
        labels = np.searchsorted(self.classes, self.y[self.neighbours(x)])  # (N, k) class indices
        return (labels[:, :, None] == np.arange(len(self.classes))).mean(1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes[self.predict_proba(x).argmax(1)]  # argmax: ties go to the smallest label
