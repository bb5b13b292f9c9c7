"""The report's task registry (report/sections.py): every task has its partials, a new task renders, no if-chains."""
import dataclasses
import re
import typing
from pathlib import Path

import pytest

from deepstudy import config, report
from deepstudy.fileio import write_json
from deepstudy.report import sections

TEMPLATES = Path(report.__file__).parent / "templates"


def test_every_task_has_a_section_with_existing_partials():
    assert set(typing.get_args(config.Task)) <= set(sections.names()), "a task the config accepts has no section"
    for task in sections.names():
        s = sections.get(task)
        for name in (s.html, s.md):
            assert (TEMPLATES / name).is_file(), f"{task}: partial {name} is missing"
        assert s.columns and all(isinstance(c, sections.Column) for c in s.columns), task
    assert sections.get("scratch") is sections.get("classify") is sections.CLASSIFY
    # classical: the classification report without the curve diagnosis (its rows are gradient steps, or one row)
    assert sections.get("classical") == dataclasses.replace(sections.CLASSIFY, diagnose=False)
    assert sections.get("no-such-task") is sections.CLASSIFY  # the classification report, as before the registry


def test_columns_read_and_format_a_seed_record():
    seed = {"test": {"roc_auc": 0.877, "nab_standard": 12.34, "f1": 0.5, "accuracy": 0.91234}}
    anomaly = sections.get("reconstruct").columns
    assert [c.title({"metric": "roc_auc"}) for c in anomaly] == ["ROC-AUC %", "F1 %"]
    assert [c.cell(seed, {"metric": "roc_auc"}) for c in anomaly] == ["87.7", "50.0"]
    assert anomaly[0].title({"metric": "nab_standard"}) == "NAB standard"
    assert anomaly[0].cell(seed, {"metric": "nab_standard"}) == "12.3"
    assert [c.cell(seed, {}) for c in sections.CLASSIFY.columns] == ["91.23", "50.00"]


def test_templates_and_report_choose_no_task_by_name():
    for path in TEMPLATES.glob("*.j2"):
        assert not re.search(r"\btask\s*[!=]=", path.read_text()), f"{path.name} compares the task by name"
    source = (TEMPLATES.parent / "__init__.py").read_text()
    assert not re.search(r"""\[["']task["']\]\s*[!=]=""", source), "report/__init__.py compares the task by name"


def _run_dir(root: Path, task: str) -> Path:
    """The least a run directory needs for report.write: one arm, two seeds, no figure files."""
    seeds = [{"seed": k, "status": "ok", "best_epoch": 0, "epochs_run": 1, "stopped_early": False, "precision": "fp32",
              "train_seconds": 1.0, "test": {"accuracy": 0.5 + k / 10, "f1": 0.4, "wobble": 1.23456 + k}}
             for k in range(2)]
    results = {
        "study": "toy-study", "description": "a hand-made run", "task": task, "seeds": 2, "metric": "accuracy",
        "analyses": [], "failures": [],
        "dataset": {"name": "toy", "classes": ["a", "b"], "input_shape": [2], "sizes": {"train": 4, "val": 2, "test": 2},
                    "source": {"format": "synthetic"}, "notes": []},
        "arms": {"only": {"model": {"name": "toy-model"}, "params": 10, "macs": 20, "overrides": {}, "seeds": seeds,
                          "summary": {}}},
        "comparison": {"summary": "one arm, nothing to compare", "comparisons": [], "best": "only"},
        "environment": {"device": "cpu", "deepstudy": "0", "torch": "-", "numpy": "-", "python": "-", "cpu": "toy",
                        "cpu_count": 1, "torch_threads": 1,
                        "determinism": {"seeds": {"study": 0, "data_split": 0}, "use_deterministic_algorithms": True}},
    }
    run = root / "run"
    run.mkdir()
    write_json(run / "results.json", results)
    return run


def test_a_registered_task_renders_with_its_own_partial_and_columns(tmp_path, monkeypatch):
    monkeypatch.setattr(sections, "_SECTIONS", dict(sections._SECTIONS))  # the registration ends with the test
    partials = tmp_path / "partials"
    partials.mkdir()
    (partials / "toy.html.j2").write_text("<p>TOY PART {{ toy_line }} for {{ r.study }}</p>\n")
    (partials / "toy.md.j2").write_text("TOY PART {{ toy_line }}\n")
    sections.register("toy", sections.Section(
        html="toy.html.j2", md="toy.md.j2", templates=partials, figures=lambda run_dir, results, wanted: [],
        context=lambda results: {"toy_line": f"{len(results['arms'])} arm"},
        columns=(sections.Column("wobble units", lambda seed, results: seed["test"]["wobble"], "%.4f"),)))
    run = _run_dir(tmp_path, "toy")
    report.write(run)
    html, md = (run / "report.html").read_text(), (run / "report.md").read_text()
    assert "<p>TOY PART 1 arm for toy-study</p>" in html and "TOY PART 1 arm" in md
    assert "<th>wobble units</th><th>train s</th>" in html
    assert "<td>1.2346</td><td>1.0</td>" in html and "<td>2.2346</td>" in html
    assert "test accuracy %" not in html and "macro F1 %" not in html  # not the classification section's
    assert [f.name for f in (run / "figures").iterdir()] == ["scores.png"]  # the per-arm scores only


def test_an_unregistered_task_gets_the_classification_report(tmp_path):
    run = _run_dir(tmp_path, "unheard-of")
    report.write(run)
    html = (run / "report.html").read_text()
    assert "<th>test accuracy %</th><th>macro F1 %</th><th>train s</th>" in html
    assert "<td>50.00</td><td>40.00</td>" in html and "<td>60.00</td>" in html


@pytest.mark.parametrize("task", ["classify", "som"])
def test_sections_are_frozen(task):
    with pytest.raises(AttributeError):
        sections.get(task).html = "other.html.j2"
