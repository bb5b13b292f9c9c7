"""What the report's "Search: is the winner real?" section says, read from results.json's ``search`` block.

Everything here is reading and formatting: the statistics (the re-evaluation on fresh seeds, the tuned-vs-default
test) were computed when the run finished; the verdict is the comparison results.json already holds.
"""
from __future__ import annotations

import json
from typing import Any

from deepstudy.report.formats import pm

TOP_K = 10  # rows of the trials table
# validation metrics in [0, 1] that read as percentages (a gap in them as percentage points)
PERCENT_VAL = {"val_acc", "val_topographic_error"}
# the test metrics the rest of the report shows as percentages
PERCENT_TEST = {"accuracy", "f1", "roc_auc", "topographic_error"}
SAMPLERS = {"tpe": "TPE", "random": "random", "grid": "grid", "gp": "Gaussian-process", "cmaes": "CMA-ES"}
_STATE_ORDER = {"complete": 0, "pruned": 1, "fail": 2}


def val_scale(s: dict) -> float:
    """The factor a validation value is shown with (100 for val_acc: percent; 1 otherwise: raw)."""
    return 100.0 if s["metric"] in PERCENT_VAL else 1.0


def fmt_value(v: Any) -> str:
    """A parameter's value as one short string: floats to 4 significant digits, lists as JSON, text as it is."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)


def spec_text(spec: dict) -> str:
    """'loguniform [0.0001, 0.03]', 'choice of [16] | [64]', 'int [1, 4] step 1, log' ... from a space entry."""
    kind = next((k for k in ("uniform", "loguniform", "int", "choice") if k in spec), None)
    if kind is None:
        return json.dumps(spec)
    if kind == "choice":
        text = "choice of " + " | ".join(fmt_value(c) for c in spec["choice"])
    else:
        lo, hi = spec[kind]
        text = f"{kind} [{fmt_value(lo)}, {fmt_value(hi)}]"
        text += "".join([f" step {spec['step']}" if spec.get("step") else "", ", log" if spec.get("log") else ""])
    if spec.get("when"):
        text += " when " + ", ".join(f"{k}={fmt_value(v)}" for k, v in spec["when"].items())
    return text


def _number(v: float | None, scale: float) -> str:
    if v is None:
        return "—"
    return f"{v * scale:.2f}" if scale != 1.0 else f"{v:.4g}"


def ranked(s: dict) -> list[dict]:
    """The trials best first: complete by value (in the metric's direction), then pruned, failed, unfinished."""
    sign = 1.0 if s["lower_is_better"] else -1.0

    def key(t: dict) -> tuple:
        value = t.get("value")
        return (_STATE_ORDER.get(t["state"], 3), value is None, sign * value if value is not None else 0.0,
                t["number"])
    return sorted(s["trials"], key=key)


def _comparison(results: dict) -> dict | None:
    """The comparison of the tuned arm with the default one, as the study's statistics wrote it."""
    for c in results.get("comparison", {}).get("comparisons", []):
        if {c.get("best"), c.get("other")} == {"tuned", "default"}:
            return c
    return None


def _summary(s: dict) -> str:
    counts, epochs, n = s["counts"], s["epochs"], len(s["trials"])
    pruner = "no pruner" if s["pruner"] in (None, "none") else f"{s['pruner']} pruner"
    unfinished = n - sum(counts.values())
    text = (f"{SAMPLERS.get(s['sampler'], s['sampler'])} sampler, {pruner}: {n} trials ({counts['complete']} "
            f"complete, {counts['pruned']} pruned, {counts['fail']} failed"
            + (f", {unfinished} unfinished" if unfinished else "") + f"; budget {s['budget']}), each scored by "
            f"{s['metric']} ({'lower' if s['lower_is_better'] else 'higher'} is better) at its best epoch.")
    if epochs.get("unpruned"):
        share = 100.0 * epochs["total"] / epochs["unpruned"]
        text += (f" The trials trained {epochs['total']} epochs of the {epochs['unpruned']} an unpruned search would "
                 f"have used ({share:.0f}%)")
    else:
        text += f" The trials trained {epochs['total']} epochs"
    return text + (f", in {s['seconds']:.1f} s (summed over trials). Every trial trained on the same seed; the best "
                   f"and the default configuration were then re-trained on {s['final_seeds']} fresh seed(s) each.")


def _optimism(s: dict, scale: float) -> str:
    """The winner's curse in words."""
    tuned = s["reevaluated"]["tuned"]["val"]
    o = s.get("optimism")
    if o is None or tuned.get("mean") is None:
        return ("The tuned configuration has no finished fresh seed, so how much the search's best flattered it "
                "cannot be measured.")
    unit = " points" if scale != 1.0 else ""
    amount = f"{abs(o) * scale:.2f}{unit}" if scale != 1.0 else f"{abs(o):.3g}"
    where = f"on {tuned['n']} fresh seed(s)"
    if o > 0:
        text = (f"The search's best looked {amount} better than the same configuration {where} ({s['metric']}): "
                "the winner's curse — the best of many noisy trials is partly the luckiest, so its score is "
                "optimistic; trust the fresh-seed numbers.")
    elif o < 0:
        text = (f"The search's best looked {amount} worse than the same configuration {where} ({s['metric']}): "
                "no sign of the winner's curse here — the trial was, if anything, unlucky.")
    else:
        text = f"The search's best scored exactly what the same configuration scored {where} ({s['metric']})."
    if tuned.get("std") is not None and tuned["n"] > 1:
        spread = f"{tuned['std'] * scale:.2f}{unit}" if scale != 1.0 else f"{tuned['std']:.3g}"
        text += f" For scale: the fresh seeds' standard deviation is {spread}."
    return text


def _trial_row(t: dict, keys: list[str], scale: float, best: int | None) -> dict:
    params = t.get("params") or {}
    return {"number": t["number"], "state": t["state"], "value": _number(t.get("value"), scale),
            "epochs": t.get("epochs", "—"), "best": t["number"] == best,
            "seconds": "—" if t.get("seconds") is None else f"{t['seconds']:.1f}",
            "params": [fmt_value(params[k]) if k in params else "—" for k in keys]}


def view(results: dict) -> dict | None:
    """The template variables of the search section, or None for a study without a search."""
    s = results.get("search")
    if not s:
        return None
    if s.get("mode") == "compare":
        from deepstudy.report import search_compare

        return search_compare.view(s)
    scale, test = val_scale(s), 100.0 if s["test_metric"] in PERCENT_TEST else 1.0
    digits = 2 if scale != 1.0 else 4
    keys = list(s.get("space") or {})
    keys += sorted({k for t in s["trials"] for k in (t.get("params") or {})} - set(keys))
    best = s.get("best") or {}
    fresh = s["reevaluated"]
    order = ranked(s)
    importances = s.get("importances") or {}
    return {
        "template": "search",
        "summary": _summary(s),
        "unit": " (%)" if scale != 1.0 else "",
        "test_unit": " %" if test != 1.0 else "",
        "best_value": _number(best.get("value"), scale),
        "best_number": best.get("number"),
        "tuned_val": pm(fresh["tuned"]["val"], scale, digits),
        "default_val": pm(fresh["default"]["val"], scale, digits),
        "tuned_test": pm(fresh["tuned"]["test"], test, 2 if test != 1.0 else 4),
        "default_test": pm(fresh["default"]["test"], test, 2 if test != 1.0 else 4),
        "optimism": _optimism(s, scale),
        "comparison": _comparison(results),
        "best_params": [{"key": k, "value": fmt_value(v), "space": spec_text(s["space"][k]) if k in s["space"] else ""}
                        for k, v in (best.get("params") or {}).items()],
        "columns": keys,
        "rows": [_trial_row(t, keys, scale, best.get("number")) for t in order[:TOP_K]],
        "more": max(0, len(order) - TOP_K),
        "failures": [{"number": t["number"], "message": t.get("message") or "no message"}
                     for t in order if t["state"] == "fail"],
        "importances": importances.get("values"),
        "importances_why": importances.get("why"),
    }
