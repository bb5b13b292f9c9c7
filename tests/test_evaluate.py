import numpy as np
import pytest
from sklearn import metrics as skm

from deepstudy import evaluate


def test_metrics_match_sklearn_on_a_known_case():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    logits = rng.normal(size=(60, 3)) + 2.0 * np.eye(3)[y]
    m = evaluate.classification_metrics(logits, y, ["a", "b", "c"])
    pred = logits.argmax(1)
    assert m["accuracy"] == pytest.approx(np.mean(pred == y))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert np.array_equal(m["confusion"], skm.confusion_matrix(y, pred))
    assert 0.5 < m["roc_auc"] <= 1.0
    assert set(m["per_class"]) == {"a", "b", "c"}


def test_binary_roc_auc_uses_positive_class():
    y = np.array([0, 0, 1, 1])
    logits = np.array([[2.0, 0], [1, 0], [0, 1], [0, 3]])
    assert evaluate.classification_metrics(logits, y, ["n", "p"])["roc_auc"] == 1.0


def test_describe_gives_t_interval():
    d = evaluate.describe([0.9, 0.92, 0.94])
    assert d["mean"] == pytest.approx(0.92) and d["std"] == pytest.approx(0.02)
    half = 4.302652729911275 * 0.02 / np.sqrt(3)  # t(0.975, 2)
    assert d["ci95"] == pytest.approx([0.92 - half, 0.92 + half])
    assert evaluate.describe([0.5])["ci95"] is None


def test_mcnemar_exact():
    a = np.array([True] * 10 + [False] * 0 + [True] * 5)
    b = np.array([False] * 10 + [True] * 5)
    only_a, only_b, p = evaluate.mcnemar_p(a, b)
    assert (only_a, only_b) == (10, 0)
    assert p == pytest.approx(2 * 0.5 ** 10)


def test_holm_is_monotone_and_bounded():
    assert evaluate.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])


def test_compare_arms_says_beyond_noise_and_within_noise():
    clear = evaluate.compare_arms({"a": [0.95, 0.951, 0.949], "b": [0.90, 0.901, 0.899]}, {})
    assert clear["best"] == "a" and clear["comparisons"][0]["verdict"] == "beyond-noise"
    assert "larger than seed-to-seed noise" in clear["comparisons"][0]["text"]
    noisy = evaluate.compare_arms({"a": [0.90, 0.95, 0.92], "b": [0.91, 0.93, 0.915]}, {})
    assert noisy["comparisons"][0]["verdict"] == "within-noise"
    assert "no evidence that the arms' mean accuracy differs at n = 3" in noisy["comparisons"][0]["text"]
    single = evaluate.compare_arms({"a": [0.9], "b": [0.8]}, {})
    assert single["comparisons"][0]["verdict"] == "unknown" and "not a finding" in single["comparisons"][0]["text"]


def test_summary_names_the_runner_up_and_its_margin():
    from deepstudy import evaluate

    s = evaluate.compare_arms({"a": [0.90, 0.91, 0.92], "b": [0.80, 0.81, 0.80], "c": [0.89, 0.90, 0.91]}, {})["summary"]
    assert s.startswith("a has the highest mean") and s.endswith("(runner-up: c, 1.00 points behind)")
    s = evaluate.compare_arms({"a": [1.0, 1.1, 1.2], "b": [2.0, 2.1, 2.0], "c": [1.5, 1.4, 1.6]}, {}, "perplexity",
                              lower_better=True)["summary"]
    assert "runner-up: c, 0.4 higher" in s
