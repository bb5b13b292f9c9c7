"""The report's "Search: is the winner real?" section, from a hand-made run directory with a search block."""
import copy
from pathlib import Path

import pytest

from deepstudy import report
from deepstudy.fileio import write_json
from deepstudy.report import search_view

MARKUP = "<b>x</b>"
VERDICT = "tuned is 2.00 points above default (accuracy, mean of 3 seeds): HAND-MADE VERDICT"


def _describe(values):
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return {"mean": mean, "std": std, "n": len(values), "ci95": [mean - std, mean + std], "values": values}


def _trial(number, state, value, lr, act, epochs=4, message=None):
    curve = [value - 0.1 * (epochs - k) for k in range(1, epochs + 1)] if value is not None else []
    return {"number": number, "state": state, "value": value, "params": {"train.optimizer.lr": lr, "model.act": act},
            "epochs": epochs, "seconds": 2.5, "message": message, "curve": curve}


def _search() -> dict:
    trials = [_trial(0, "complete", 0.80, 0.0001, "relu"),
              _trial(1, "complete", 0.95, 0.003, MARKUP),
              _trial(2, "complete", 0.90, 0.01, "relu"),
              _trial(3, "fail", None, 0.5, "relu", epochs=0, message="loss is NaN at epoch 1 <script>"),
              _trial(4, "pruned", 0.71, 0.00002, "tanh", epochs=2)]
    return {
        "sampler": "tpe", "pruner": "median", "metric": "val_acc", "lower_is_better": False, "test_metric": "accuracy",
        "budget": 5, "seed": 0, "trial_seed": 123, "final_seeds": 3, "storage": "journal file search/journal.log",
        "space": {"train.optimizer.lr": {"loguniform": [1.0e-5, 1.0]}, "model.act": {"choice": ["relu", "tanh", MARKUP]}},
        "trials": trials, "counts": {"complete": 3, "pruned": 1, "fail": 1},
        "epochs": {"complete": 12, "pruned": 2, "fail": 0, "total": 14, "unpruned": 20}, "seconds": 12.5,
        "best": {"number": 1, "value": 0.95, "params": trials[1]["params"]},
        "reevaluated": {"tuned": {"val": _describe([0.92, 0.93, 0.93]), "test": _describe([0.90, 0.91, 0.92])},
                        "default": {"val": _describe([0.88, 0.89, 0.90]), "test": _describe([0.88, 0.89, 0.90])}},
        "optimism": 0.95 - 0.9266666666666666,
        "importances": {"values": {"train.optimizer.lr": 0.8, "model.act": 0.2}, "why": None},
    }


def _results(search: dict | None) -> dict:
    def seeds(base):
        return [{"seed": k, "status": "ok", "best_epoch": 0, "epochs_run": 4, "stopped_early": False,
                 "precision": "fp32", "train_seconds": 1.0, "test": {"accuracy": base + k / 100, "f1": base}}
                for k in range(3)]
    arm = {"model": {"name": "mlp"}, "params": 10, "macs": 20, "overrides": {}, "summary": {}}
    results = {
        "study": "toy-search", "description": "a hand-made search", "task": "classify", "seeds": 3,
        "metric": "accuracy", "analyses": [], "failures": [],
        "dataset": {"name": "toy", "classes": ["a", "b"], "input_shape": [2], "sizes": {"train": 4, "val": 2, "test": 2},
                    "source": {"format": "synthetic"}, "notes": []},
        "arms": {"default": {**arm, "seeds": seeds(0.88)}, "tuned": {**arm, "seeds": seeds(0.90)}},
        "comparison": {"summary": "tuned has the highest mean", "best": "tuned", "comparisons": [
            {"best": "tuned", "other": "default", "gap": 0.02, "p": 0.01, "verdict": "beyond-noise", "text": VERDICT}]},
        "environment": {"device": "cpu", "deepstudy": "0", "torch": "-", "numpy": "-", "python": "-", "cpu": "toy",
                        "cpu_count": 1, "torch_threads": 1,
                        "determinism": {"seeds": {"study": 0, "data_split": 0}, "use_deterministic_algorithms": True}},
    }
    if search is not None:
        results["search"] = search
    return results


def _render(root: Path, search: dict | None) -> tuple[Path, str, str]:
    run = root / "run"
    run.mkdir()
    write_json(run / "results.json", _results(search))
    report.write(run)
    return run, (run / "report.html").read_text(), (run / "report.md").read_text()


@pytest.fixture
def rendered(tmp_path):
    return _render(tmp_path, _search())


def test_summary_and_honest_winner(rendered):
    _, html, md = rendered
    for text in (html, md):
        assert "Search: is the winner real?" in text
        assert "TPE sampler, median pruner: 5 trials (3 complete, 1 pruned, 1 failed; budget 5)" in text
        assert "val_acc (higher is better)" in text
        assert "trained 14 epochs of the 20 an unpruned search would have used (70%), in 12.5 s" in text
        assert "95.00 (trial 1)" in text  # the search's best validation score
        assert "92.67 ± 0.58 (n=3)" in text  # the same configuration on fresh seeds (validation)
        assert "91.00 ± 1.00 (n=3)" in text and "89.00 ± 1.00 (n=3)" in text  # tuned / default test
    assert "The search&#39;s best looked 2.33 points better than the same configuration on 3 fresh seed(s)" in html
    assert "The search's best looked 2.33 points better than the same configuration on 3 fresh seed(s)" in md
    assert f'<div class="verdict beyond-noise"><strong>Tuned vs default:</strong> {VERDICT}.</div>' in html
    assert f"**Tuned vs default:** {VERDICT}." in md


def test_section_sits_between_the_conclusions_and_the_comparison(rendered):
    _, html, md = rendered
    assert html.index("<h2>Conclusions</h2>") < html.index("<h2>Search: is the winner real?</h2>") \
        < html.index("<h2>Comparison</h2>")
    assert md.index("## Conclusions") < md.index("## Search: is the winner real?") < md.index("## Comparison")


def test_best_parameters_and_trials_table(rendered):
    _, html, md = rendered
    assert '<td class="l"><code>train.optimizer.lr</code></td><td class="l">0.003</td>' in html
    assert "| `train.optimizer.lr` | 0.003 | loguniform [1e-05, 1] |" in md
    # best first; the pruned trial after the complete ones, at its last reported value; the failure last
    assert '<tr class="best"><td>1</td><td class="l">complete</td><td>95.00</td><td>4</td>' in html
    assert '<td>4</td><td class="l">pruned</td><td>71.00</td><td>2</td>' in html
    assert "| 4 | pruned | 71.00 | 2 | 2.5 | 2e-05 | tanh |" in md
    order = [md.index(f"\n| {n}{' (best)' if n == 1 else ''} | ") for n in (1, 2, 0, 4, 3)]
    assert order == sorted(order)
    assert "FAILED: trial 3: loss is NaN at epoch 1 <script>" in md


def test_markup_in_values_is_escaped_in_html_and_verbatim_in_markdown(rendered):
    _, html, md = rendered
    assert MARKUP not in html and "<script>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "loss is NaN at epoch 1 &lt;script&gt;" in html
    assert f"| `model.act` | {MARKUP} |" in md


def test_figures_are_written_and_embedded(rendered):
    run, html, md = rendered
    names = ["search_history.png", "search_importances.png", "search_slices.png", "search_curves.png"]
    for name in names:
        assert (run / "figures" / name).stat().st_size > 1000, name
        assert f"](figures/{name})" in md
    assert html.count("<img") == 1 + len(names)  # the per-arm scores, then the search's four


def test_no_importances_says_why(tmp_path):
    s = _search()
    s["importances"] = {"values": None, "why": "2 complete trial(s): fANOVA needs at least 3"}
    run, html, md = _render(tmp_path, s)
    assert "No parameter importances: 2 complete trial(s): fANOVA needs at least 3." in html
    assert "No parameter importances: 2 complete trial(s): fANOVA needs at least 3." in md
    assert not (run / "figures" / "search_importances.png").exists()


def test_a_study_without_search_has_no_section(tmp_path):
    run, html, md = _render(tmp_path, None)
    assert "Search: is the winner real?" not in html and "Search: is the winner real?" not in md
    assert not list((run / "figures").glob("search_*.png"))


def test_lower_is_better_metric_is_raw_and_ranked_ascending():
    s = copy.deepcopy(_search())
    s.update(metric="val_loss", lower_is_better=True)
    s["trials"] = [_trial(k, "complete", 0.5 - k * 0.01, 0.001, "relu") for k in range(13)]
    s["trials"][5]["state"] = "pruned"
    s["best"] = {"number": 12, "value": 0.38, "params": s["trials"][12]["params"]}
    s["reevaluated"]["tuned"]["val"] = _describe([0.40, 0.41, 0.42])
    s["optimism"] = 0.41 - 0.38
    v = search_view.view({"search": s, "comparison": {"comparisons": []}})
    assert [r["number"] for r in v["rows"]] == [12, 11, 10, 9, 8, 7, 6, 4, 3, 2] and v["more"] == 3
    assert v["rows"][0]["value"] == "0.38" and v["unit"] == ""
    assert v["optimism"].startswith("The search's best looked 0.03 better than the same configuration")
    assert "points" not in v["optimism"]
    assert v["comparison"] is None  # no comparison of tuned with default: the template says so, nothing recomputed
    s["optimism"] = -0.02
    assert "looked 0.02 worse" in search_view.view({"search": s})["optimism"]
