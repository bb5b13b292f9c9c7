"""Naive Bayes, KNN and logistic regression against scikit-learn on the same data."""
import numpy as np
import pytest
from sklearn import linear_model, naive_bayes, neighbors
from sklearn.datasets import load_digits, make_classification

from deepstudy import scratch


@pytest.mark.parametrize("alpha", [0.1, 1.0, 3.0])
def test_naive_bayes_matches_sklearn(alpha):
    rng = np.random.default_rng(0)
    x = rng.poisson(0.4, size=(300, 50)).astype(float)  # word counts
    y = rng.integers(0, 4, 300)
    x[y == 1, :5] += rng.poisson(2.0, size=((y == 1).sum(), 5))
    ours = scratch.MultinomialNB(alpha).fit(x, y)
    ref = naive_bayes.MultinomialNB(alpha=alpha).fit(x, y)
    np.testing.assert_allclose(ours.predict_log_proba(x), ref.predict_log_proba(x), rtol=1e-10, atol=1e-10)
    assert np.array_equal(ours.predict(x), ref.predict(x))


@pytest.mark.parametrize("k", [1, 3, 7, 10])
def test_knn_matches_sklearn(k):
    x, y = load_digits(return_X_y=True)
    x = x + np.random.default_rng(0).normal(0, 1e-3, x.shape)  # no exact distance ties
    ours = scratch.KNN(k).fit(x[:1200], y[:1200])
    ref = neighbors.KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(x[:1200], y[:1200])
    assert np.array_equal(ours.predict(x[1200:]), ref.predict(x[1200:]))


def test_logistic_regression_matches_sklearn_at_same_regularization():
    x, y = make_classification(n_samples=400, n_features=6, n_informative=4, random_state=0)
    x = (x - x.mean(0)) / x.std(0)
    l2 = 0.01
    ours = scratch.LogisticRegression(lr=0.5, epochs=20000, l2=l2, tol=1e-10).fit(x, y)
    ref = linear_model.LogisticRegression(C=1 / (l2 * len(y)), tol=1e-10, max_iter=10000).fit(x, y)
    np.testing.assert_allclose(ours.w, ref.coef_[0], rtol=1e-4, atol=1e-5)
    assert ours.b == pytest.approx(ref.intercept_[0], abs=1e-5)
    assert ours.history[-1] < ours.history[0]
    assert np.mean(ours.predict(x) == ref.predict(x)) == 1.0


def test_scratch_mlp_learns_digits():
    """A real training run of the NumPy engine: an MLP on digits well above chance on held-out data."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    model = scratch.Sequential(scratch.Dense(64, 64, rng), scratch.ReLU(), scratch.Dense(64, 10, rng))
    opt = scratch.Adam(model.params(), lr=1e-2)
    for _ in range(30):
        for idx in np.array_split(rng.permutation(1400), 14):
            opt.zero_grad()
            _, grad = scratch.softmax_cross_entropy(model.forward(x[idx]), y[idx])
            model.backward(grad)
            opt.step()
    model.eval()
    assert np.mean(model.forward(x[1400:]).argmax(1) == y[1400:]) > 0.9


def test_openblas_kernel_choice_is_safe():
    import deepstudy

    full = set(deepstudy._SKYLAKEX_FLAGS) | {"avx2"}
    env = {}
    assert not deepstudy._choose_openblas_kernels({"avx2", "avx512f"}, env) and env == {}  # partial AVX-512: never
    assert deepstudy._choose_openblas_kernels(full, env) and env == {"OPENBLAS_CORETYPE": "SkylakeX"}
    platform_default = {"OPENBLAS_CORETYPE": "Haswell"}  # an AVX2 core on an AVX-512 CPU: upgraded
    assert deepstudy._choose_openblas_kernels(full, platform_default) and platform_default["OPENBLAS_CORETYPE"] == "SkylakeX"
    for kept in ({"OPENBLAS_CORETYPE": "Cooperlake"}, {"OPENBLAS_CORETYPE": "Haswell", "DEEPSTUDY_KEEP_OPENBLAS_CORETYPE": "1"}):
        before = dict(kept)
        assert not deepstudy._choose_openblas_kernels(full, kept) and kept == before
    assert not deepstudy._choose_openblas_kernels(full, {}, numpy_loaded=True)


def test_benchmarks_pick_the_kernels_before_numpy_loads():
    """`python -m benchmarks` imports torch (and so NumPy) in its modules: deepstudy must come first, or the
    NumPy engine is timed on the platform's AVX2 kernels while `deepstudy run` uses the AVX-512 ones."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import deepstudy

    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell"}
    env.pop("DEEPSTUDY_KEEP_OPENBLAS_CORETYPE", None)
    code = "import benchmarks.common, os; print(os.environ['OPENBLAS_CORETYPE'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).parents[1], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == ("SkylakeX" if deepstudy._SKYLAKEX_FLAGS <= deepstudy._cpu_flags() else "Haswell")
