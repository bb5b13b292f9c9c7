"""What a report shows for each task, as one registry instead of ``if task == ...`` chains.

A :class:`Section` names the task's partial templates (the "Comparison" part of report.html / report.md),
its figures after the per-arm scores, the template variables its partials read (its verdict sentences), the
verdicts that belong on the report's first screen (``lead``: the answer to the task's own question, such as
"does the forecaster beat persistence?") and the task's columns of the "Every run" table. ``get(task)`` is what
the report renders; a task that has not registered a section gets the classification report, as every task did
before it had its own.

A new task registers with one line::

    sections.register("my-task", Section(html="my-task.html.j2", md="my-task.md.j2", columns=(...)))

(its partials are looked up in the report's ``templates/``, then in the section's ``templates`` folder).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from deepstudy.report import tasks
from deepstudy.report.figures import learning_figures


@dataclass(frozen=True)
class Column:
    """One task column of the per-seed table: its header, the number read from a seed record, its format."""

    header: str | Callable[[dict], str]  # or a function of results.json (a header that depends on r.metric)
    value: Callable[[dict, dict], float]  # (seed record, results.json) -> the number
    fmt: str = "%.3f"

    def title(self, results: dict) -> str:
        return self.header(results) if callable(self.header) else self.header

    def cell(self, seed: dict, results: dict) -> str:
        return self.fmt % self.value(seed, results)


def _no_context(results: dict) -> dict:
    return {}


def _no_lines(results: dict) -> list[str]:
    return []


def _test(key: str, scale: float = 1.0) -> Callable[[dict, dict], float]:
    """The seed's test metric ``key`` (times ``scale``)."""
    if scale == 1.0:
        return lambda seed, results: seed["test"][key]
    return lambda seed, results: seed["test"][key] * scale


CLASSIFY_COLUMNS = (Column("test accuracy %", _test("accuracy", 100), "%.2f"),
                    Column("macro F1 %", _test("f1", 100), "%.2f"))


@dataclass(frozen=True)
class Section:
    """The task-specific parts of a report; the defaults are the classification report's."""

    html: str = "classify.html.j2"  # partial template of report.html's "Comparison"
    md: str = "classify.md.j2"  # and of report.md's
    figures: Callable[[Path, dict, set[str]], list[dict]] = learning_figures  # after the per-arm scores
    context: Callable[[dict], dict] = _no_context  # results.json -> variables the partials read (verdicts)
    lead: Callable[[dict], list[str]] = _no_lines  # results.json -> the task's verdicts for the conclusions
    columns: tuple[Column, ...] = CLASSIFY_COLUMNS  # the per-seed table's task columns
    templates: str | Path | None = None  # a folder holding html/md, searched after the report's own templates/
    loss: str = "cross-entropy loss"  # what train_loss / val_loss of metrics.jsonl measure: the curves' y axes
    evaluated: str = "the best checkpoint (by train.early_stopping.monitor) is the one evaluated on the test set"
    # name divergence, a plateau and overfitting in its curves (report/diagnostics.py): per-epoch rows whose
    # train_loss / val_loss are a classifier's cross-entropy, with val_acc against chance
    diagnose: bool = True


def _forecast_context(results: dict) -> dict:
    persistence, verdicts = tasks.forecast_verdicts(results)
    return {"persistence": persistence, "forecast_verdicts": verdicts}


def _best(results: dict) -> str | None:
    return results["comparison"].get("best")


def _forecast_lead(results: dict) -> list[str]:
    """The best arm against persistence: whether a forecaster beats 'tomorrow = today' is the task's question."""
    return tasks.forecast_verdicts(results, only=_best(results))[1]


def _anomaly_score(seed: dict, results: dict) -> float:
    return seed["test"]["roc_auc"] * 100 if results.get("metric") == "roc_auc" else seed["test"]["nab_standard"]


CLASSIFY = Section()
_SECTIONS: dict[str, Section] = {}


def register(task: str, section: Section) -> None:
    """Make ``section`` the report of ``task`` (a later registration replaces an earlier one)."""
    _SECTIONS[task] = section


def get(task: str) -> Section:
    """The section of ``task``; the classification report for a task that registered none."""
    return _SECTIONS.get(task, CLASSIFY)


def names() -> list[str]:
    """The registered task names."""
    return sorted(_SECTIONS)


register("classify", CLASSIFY)
register("scratch", CLASSIFY)
register("classical", replace(CLASSIFY, diagnose=False))  # its rows are gradient steps, or one row
register("forecast", Section(
    html="forecast.html.j2", diagnose=False, md="forecast.md.j2", context=_forecast_context, lead=_forecast_lead,
    loss="MSE (standardized targets)",
    columns=(Column("test R²", _test("r2")), Column("MAE (std units)", _test("mae")))))
register("som", Section(
    html="som.html.j2", diagnose=False, md="som.md.j2", figures=tasks.som_figures, loss="quantization error",
    columns=(Column("test quantization error", _test("quantization_error")),
             Column("test topographic error %", _test("topographic_error", 100), "%.1f"))))
register("reconstruct", Section(
    html="anomaly.html.j2", diagnose=False, md="anomaly.md.j2", loss="reconstruction MSE",
    evaluated="the last epoch's model is the one scored on the test data",
    context=lambda results: {"anomaly_verdicts": tasks.anomaly_verdicts(results)},
    lead=lambda results: tasks.anomaly_verdicts(results, only=_best(results)),
    columns=(Column(lambda r: "ROC-AUC %" if r.get("metric") == "roc_auc" else "NAB standard", _anomaly_score, "%.1f"),
             Column("F1 %", _test("f1", 100), "%.1f"))))
register("generate", Section(
    html="gan.html.j2", diagnose=False, md="gan.md.j2", loss="binary cross-entropy",
    figures=lambda run_dir, results, wanted: tasks.gan_figures(run_dir, results),
    context=lambda results: {"gan_verdicts": tasks.gan_verdicts(results)},
    columns=(Column("Fréchet distance", _test("frechet_distance"), "%.2f"),
             Column("inception score", _test("inception_score"), "%.2f"))))
register("language-model", Section(
    html="lm.html.j2", md="lm.md.j2", loss="cross-entropy (nats per character)",
    context=lambda results: {"lm_verdict": tasks.lm_verdict(results)},
    lead=lambda results: [v.rstrip(".") for v in [tasks.lm_verdict(results)] if v],
    columns=(Column("test perplexity", _test("perplexity")),
             Column("next-char accuracy %", _test("accuracy", 100), "%.1f"))))
