"""The report's first screen: the sentences that answer the study's question, whatever the task.

``lead(results, rows, search)`` gives them in order; the first is shown in bold. They come from

- the comparison of arms (``results["comparison"]``, or a sampler comparison's verdict): with one arm, what was
  measured ("cnn: 91.70 ± 0.30 % test accuracy (n = 3)");
- the task's own question (``Section.lead``: does the forecaster beat persistence, the autoencoder the baselines,
  the language model the n-gram?);
- the explanations' trust table, one sentence per explained arm.

A study about explanations leads with them: one arm (nothing else to conclude), two or more attribution methods
(it compares methods), or a label-permuted control arm (the data-randomization test). A study that compares
models and explains them on the side (one method) leads with the comparison.
"""
from __future__ import annotations

from deepstudy.report import sections


def lead(results: dict, rows: list[dict], search: dict | None = None) -> list[str]:
    """The conclusions' sentences, most important first, without final full stops."""
    verdict = search.get("verdict") if search else None
    main = [(verdict or results["comparison"])["summary"]]
    task = sections.get(results["task"]).lead(results)
    explained = explanation_lines(rows)
    if explained and _about_explanations(results, rows):
        return explained + main + task
    return main + task + explained


def _about_explanations(results: dict, rows: list[dict]) -> bool:
    methods = {r["method"] for r in rows if not r.get("skipped")}
    controls = any(r.get("control_arm") for r in rows if not r.get("skipped"))
    return len(results["arms"]) == 1 or len(methods) >= 2 or controls


def _names(methods: list[str]) -> str:
    return methods[0] if len(methods) == 1 else f"{', '.join(methods[:-1])} and {methods[-1]}"


def _be(methods: list[str]) -> str:
    return "is" if len(methods) == 1 else "are"


def explanation_lines(rows: list[dict]) -> list[str]:
    """Per explained arm (a label-permuted control is not one: it is the yardstick), which attribution methods the
    trust table says can be trusted, partly, not, or are flagged — from the same checks as its rows."""
    controls = {r["control_arm"] for r in rows if r.get("control_arm")}
    arms: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        if r.get("skipped") or r["arm"] in controls:
            continue
        kind = ("flagged" if r["flagged"] else "unfaithful" if not r["faithful"]
                else "partly" if "partly" in (r["sanity"], r["labels"]) else "trusted")
        arms.setdefault(r["arm"], {}).setdefault(kind, []).append(r["method"])
    lines = []
    for arm, kinds in arms.items():
        parts = []
        if m := kinds.get("trusted"):
            parts.append(f"{_names(m)} {_be(m)} trustworthy (better than a random order in every seed, and the "
                         f"maps fall apart when the model is randomized)")
        if m := kinds.get("partly"):
            parts.append(f"{_names(m)} {_be(m)} only partly trustworthy (better than a random order, but part of "
                         f"each map is the input's own structure)")
        if m := kinds.get("unfaithful"):
            parts.append(f"{_names(m)} {_be(m)} not reliably better than a random order")
        if m := kinds.get("flagged"):
            parts.append(f"{_names(m)} {_be(m)} FLAGGED (the maps barely depend on what the model learned)")
        lines.append(f"Can {arm}'s explanations be trusted? " + "; ".join(parts))
    return lines
