"""Conclusions that never mislead (issue 24 B): absence of evidence is not said as absence of effect, McNemar and
Welch in one sentence, the headline metric fits the class balance, bounded intervals stay bounded, R² is worded in
its own units, and the report's first screen answers the study's question for every task (explanations too)."""
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_study
from deepstudy import evaluate, tasks
from deepstudy.fileio import read_json
from deepstudy.report import conclusions

CLEAR = {"a": [0.95, 0.951, 0.949], "b": [0.90, 0.901, 0.899]}  # Welch: beyond noise
NOISY = {"a": [0.90, 0.95, 0.92], "b": [0.91, 0.93, 0.915]}  # Welch: no evidence of a difference


def _pair(only_a: int, only_b: int, both: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Correct/incorrect vectors of two models on one test set with the given discordant counts."""
    a = np.array([True] * both + [True] * only_a + [False] * only_b + [False] * 20)
    b = np.array([True] * both + [False] * only_a + [True] * only_b + [False] * 20)
    return a, b


def _correct(*pairs: tuple[int, int]) -> dict:
    made = [_pair(x, y) for x, y in pairs]
    return {"a": [m[0] for m in made], "b": [m[1] for m in made]}


SIG, NOT = (40, 5), (10, 10)  # McNemar p ≈ 1e-7 (a ahead) and p = 1


def _text(scores, correct=None) -> str:
    return evaluate.compare_arms(scores, correct or {})["comparisons"][0]["text"]


def test_power_matches_cohens_tables():
    # two-sided α = 0.05, 80 % power: d = 0.5 needs 64 per group, d = 0.8 needs 26 (Cohen, 1988); paired d = 0.5: 34
    assert evaluate.seeds_for_power(0.5) == 64 and evaluate.seeds_for_power(0.8) == 26
    assert evaluate.seeds_for_power(0.5, paired=True) == 34
    assert evaluate.seeds_for_power(0.01) is None and evaluate.seeds_for_power(0.0) is None


def test_within_noise_says_no_evidence_and_how_many_seeds_would_tell():
    text = _text(NOISY)
    assert "not a real difference" not in text and "within seed-to-seed noise" not in text
    assert "no evidence that the arms' mean accuracy differs at n = 3 (Welch p = 0.77)" in text
    d = (np.mean(NOISY["a"]) - np.mean(NOISY["b"])) / evaluate.pooled_std(NOISY["a"], NOISY["b"])
    need = evaluate.seeds_for_power(d)
    assert need > 3 and text.endswith(f"to detect a gap of 0.50 points with 80 % power you would need about "
                                      f"n = {need} seeds per arm")
    assert np.isclose(evaluate.pooled_std([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]), np.sqrt((1 + 4) / 2))


def test_a_gap_too_small_to_resolve_is_said_so_not_as_a_huge_n():
    tiny = _text({"a": [0.90, 0.91, 0.92], "b": [0.90, 0.9101, 0.92]})
    assert "too small to resolve" in tiny and "more than 1,000 seeds per arm" in tiny
    assert "0.0033 points" in tiny  # a small gap keeps its digits (not "0.00 points")
    same = _text({"a": [0.9, 0.91], "b": [0.9, 0.91]})
    assert "the two means are identical" in same and "about n =" not in same


def test_beyond_noise_stays_a_finding_with_its_p():
    text = _text(CLEAR)
    assert text.startswith("a beats b by 5.00 points (accuracy, mean of 3 seeds; Welch p = ")
    assert "larger than seed-to-seed noise" in text and "about n =" not in text
    three = evaluate.compare_arms({**CLEAR, "c": [0.7, 0.71, 0.69]}, {})["comparisons"][0]["text"]
    assert "Holm-adjusted for 2 comparisons" in three


@pytest.mark.parametrize("scores, pairs, expect", [
    (CLEAR, (SIG, SIG, SIG), ", and McNemar agrees on the shared test set: the two models' errors differ in 3 of 3"),
    (CLEAR, (SIG, SIG, NOT), "the lead holds across seeds, though for some pairs of trained models"),
    (CLEAR, (NOT, NOT, NOT), ", yet on the shared test set the two models' errors differ in none of the 3 seed pairs"),
    (NOISY, (NOT, NOT, NOT), ", and McNemar agrees on the shared test set: the two models' errors differ in none"),
    (NOISY, (SIG, SIG, NOT), ", although on the shared test set the two models' errors differ in 2 of 3 seed pairs"),
    (NOISY, (SIG, (5, 40), NOT), "differ in 2 of 3 seed pairs (McNemar; a ahead in 1, b in 1)"),
])
def test_welch_and_mcnemar_are_reconciled_in_one_sentence(scores, pairs, expect):
    text = _text(scores, _correct(*pairs))
    assert expect in text
    assert ". " not in text and not text.endswith(".")  # one sentence; the report adds its full stop
    if scores is NOISY:  # the McNemar clause sits with the Welch verdict it qualifies, before the power estimate
        assert text.index("McNemar") < text.index("to detect a gap")


def test_one_seed_mcnemar_is_one_model_each_not_the_arms():
    text = _text({"a": [0.95], "b": [0.90]}, {"a": [_pair(*SIG)[0]], "b": [_pair(*SIG)[1]]})
    assert "not a finding" in text and "one trained model of each arm, not the arms" in text


def test_summary_says_what_was_measured():
    one = evaluate.compare_arms({"cnn": [0.914, 0.917, 0.920]}, {})["summary"]
    assert one == "cnn: 91.70 ± 0.30 % test accuracy (n = 3); one arm only, so nothing is compared"
    best = evaluate.compare_arms(CLEAR, {})["summary"]
    assert best.startswith("a is the best arm (95.00 ± 0.10 % test accuracy, n = 3), and its lead")
    noisy = evaluate.compare_arms(NOISY, {})["summary"]
    assert "no evidence at this n that it beats any other arm" in noisy
    single = evaluate.compare_arms({"a": [0.9], "b": [0.8]}, {})["summary"]
    assert "with one seed per arm the seed-to-seed noise is unknown" in single


def test_r2_is_worded_in_its_own_units():
    """A broken forecaster (R² −38.6) beside a good one: the gap is 39.5 in R², not '3949.61 points'."""
    forecast = tasks.get("forecast")
    scores = {"gru": [0.86, 0.85, 0.87], "broken": [-38.0, -39.2, -38.6]}
    c = evaluate.compare_arms(scores, {}, "r2", **forecast.comparison("r2"))
    text, summary = c["comparisons"][0]["text"], c["summary"]
    assert "points" not in text + summary and "3949" not in text
    assert text.startswith("gru beats broken by 39.5 (R², mean of 3 seeds;")
    assert summary.startswith("gru is the best arm (test R² 0.86 ± 0.01, n = 3)")
    one = evaluate.compare_arms({"gru": [0.86, 0.85, 0.87]}, {}, "r2", **forecast.comparison("r2"))["summary"]
    assert one == "gru: test R² 0.86 ± 0.01 (n = 3); one arm only, so nothing is compared"


def test_bounded_interval_stays_in_range():
    values = [0.999, 0.998, 0.95]  # the t-interval of 3 seeds reaches past 100 %
    plain = evaluate.describe(values)
    assert plain["ci95"][1] > 1.0 and "ci95_clipped" not in plain  # unbounded metrics keep the textbook interval
    bounded = evaluate.describe(values, (0.0, 1.0))
    assert bounded["ci95"] == [plain["ci95"][0], 1.0] and bounded["ci95_clipped"] is True
    inside = evaluate.describe([0.90, 0.92, 0.94], (0.0, 1.0))
    assert inside["ci95"] == evaluate.describe([0.90, 0.92, 0.94])["ci95"] and inside["ci95_clipped"] is False
    from deepstudy.report import ci
    assert ci(bounded) == f"[{plain['ci95'][0] * 100:.2f}, 100.00] (clipped)"
    from deepstudy.records import FRACTIONS
    assert {"accuracy", "f1", "roc_auc"} <= FRACTIONS and not {"r2", "train_accuracy"} & FRACTIONS  # som: an error


def _info(counts: list[int], classes: list[str] | None = None) -> dict:
    return {"classes": classes or [str(i) for i in range(len(counts))],
            "class_counts": {"train": counts, "val": counts, "test": counts}}


def test_headline_is_macro_f1_when_a_class_is_a_minority():
    classify = tasks.get("classify")
    churn = _info([1593, 407], ["stayed", "exited"])
    assert classify.headline(churn)[0] == "f1" and tasks.get("classical").headline(churn)[0] == "f1"
    assert classify.headline_note(churn) == (
        "macro F1, not accuracy, ranks the arms: the minority class (exited) is 20 % of the test set, so accuracy "
        "would flatter a model that favours the majority")
    assert classify.gap_metric("f1") == "accuracy"  # train accuracy is set against test accuracy
    balanced = _info([892, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])  # MNIST's test set: 8.9 % vs 10 %
    assert classify.headline(balanced)[0] == "accuracy" and classify.headline_note(balanced) is None
    assert classify.headline(_info([100, 100, 100, 30]))[0] == "f1"  # 9 % where balanced is 25 %
    assert "(balanced: 25 %)" in classify.headline_note(_info([100, 100, 100, 30]))
    assert classify.headline(_info([70, 30]))[0] == "accuracy"  # 30 % is the line for two classes
    assert classify.headline({"classes": ["a"], "class_counts": None})[0] == "accuracy"
    som = tasks.get("som")  # a task with its own headline is never re-ranked by the class balance
    assert som.headline(churn)[0] == "quantization_error" and som.headline_note(churn) is None


def _run_dir(out: str) -> Path:
    line = [ln for ln in out.splitlines() if ln.startswith("report: ")][-1]
    return Path(line.removeprefix("report: ")).parent


def _conclusions_md(run: Path) -> list[str]:
    md = (run / "report.md").read_text()
    block = md.split("## Conclusions", 1)[1].split("\n## ", 1)[0]
    return [ln for ln in block.splitlines() if ln.strip()]


def test_imbalanced_study_is_ranked_by_macro_f1_and_says_why(cli, tmp_path, shared_data):
    study = tiny_study(tmp_path, task="classical", data={"name": "churn", "resample": "bootstrap"},
                       model={"name": "logistic-regression"},
                       train={"epochs": 20, "optimizer": {"lr": 0.5}}, seeds=2,
                       arms={"lr-0.5": {}, "lr-0.05": {"train.optimizer.lr": 0.05}})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    res = read_json(run / "results.json")
    assert res["metric"] == "f1" and res["comparison"]["metric"] == "f1"
    assert "macro F1, not accuracy, ranks the arms: the minority class" in res["comparison"]["summary"]
    assert "% test macro F1, n = 2" in res["comparison"]["summary"]
    arm = res["arms"][res["comparison"]["best"]]
    assert arm["summary"]["generalization_gap"]["values"] == pytest.approx(
        [s["train_accuracy"] - s["test"]["accuracy"] for s in arm["seeds"]])
    assert "macro F1, not accuracy" in _conclusions_md(run)[0]
    assert "95% CI of the mean (macro F1)" in (run / "report.html").read_text()


def test_one_arm_explain_study_leads_with_the_explanation_verdict(cli, tmp_path):
    study = tiny_study(tmp_path, model={"name": "cnn", "channels": [8, 16], "batch_norm": True}, arms={"cnn": {}},
                       analyses=["saliency"], explain={"examples": 4, "sanity_examples": 2}, seeds=2)
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    first, second, *_ = _conclusions_md(run)
    assert first.startswith("**Can cnn's explanations be trusted? saliency is ") and first.endswith(".**")
    assert re.search(r"saliency is (trustworthy|only partly trustworthy|not reliably better|FLAGGED)", first)
    assert re.fullmatch(r"cnn: \d+\.\d\d ± \d+\.\d\d % test accuracy \(n = 2\); one arm only, so nothing is "
                        r"compared\.", second)
    html = (run / "report.html").read_text()
    lead = html.split("<h2>Conclusions</h2>", 1)[1].split("</p>", 1)[0]
    assert "Can cnn&#39;s explanations be trusted? saliency" in lead


def _explained(flagged: bool = False, faithful: bool = True, sanity: str = "passes", control: str | None = None,
               arm: str = "cnn", method: str = "gradcam") -> dict:
    return {"arm": arm, "method": method, "flagged": flagged, "faithful": faithful, "sanity": sanity, "labels": None,
            "control_arm": control}


def test_explanation_lines_group_methods_by_verdict_and_skip_the_control():
    rows = [_explained(), _explained(method="occlusion"), _explained(flagged=True, sanity="flagged", method="saliency"),
            _explained(faithful=False, method="smoothgrad"), _explained(sanity="partly", method="integrated-gradients"),
            _explained(arm="random-labels", control=None), {"arm": "cnn", "method": "gradcam++", "skipped": "no conv"}]
    rows[0]["control_arm"] = "random-labels"
    lines = conclusions.explanation_lines(rows)
    assert len(lines) == 1 and lines[0].startswith("Can cnn's explanations be trusted? gradcam and occlusion are "
                                                   "trustworthy")
    assert "integrated-gradients is only partly trustworthy" in lines[0]
    assert "smoothgrad is not reliably better than a random order" in lines[0] and "saliency is FLAGGED" in lines[0]


def _results(task: str, arms: dict, summary: str = "SUMMARY") -> dict:
    return {"task": task, "arms": arms, "comparison": {"summary": summary, "best": next(iter(arms)),
                                                       "comparisons": []}}


def test_first_screen_answers_the_task_question():
    seeds = [{"status": "ok", "test": {"r2": 0.9, "mae": 0.2}}, {"status": "ok", "test": {"r2": 0.8, "mae": 0.3}}]
    forecast = _results("forecast", {"gru": {"forecast": {"persistence": {"r2": 0.85, "mae": 0.25}}, "seeds": seeds}})
    lead = conclusions.lead(forecast, [])
    assert lead[0] == "SUMMARY" and lead[1].startswith("gru does not reliably beat the persistence forecast")
    # a study that compares models and explains them with one method on the side leads with the comparison
    two = _results("classify", {"a": {}, "b": {}})
    assert conclusions.lead(two, [_explained(arm="a")])[0] == "SUMMARY"
    # two methods: the study is about the explanations
    assert conclusions.lead(two, [_explained(arm="a"), _explained(arm="a", method="saliency")])[1] == "SUMMARY"
    search = {"verdict": {"summary": "SAMPLERS"}}  # a comparison of samplers concludes on the samplers
    assert conclusions.lead(two, [], search)[0] == "SAMPLERS"


def test_mcnemar_beside_macro_f1_is_said_to_test_accuracy():
    c = evaluate.compare_arms(CLEAR, _correct(NOT, NOT, NOT), "f1")["comparisons"][0]["text"]
    assert "McNemar, which counts right and wrong answers (accuracy, not macro F1), finds the two models' errors " \
           "differ in none of the 3 seed pairs" in c and "yet" not in c
