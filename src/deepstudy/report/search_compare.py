"""The report's sampler comparison (``search.samplers`` + ``repeats``): what each search believed, what it found.

Read from results.json's ``search`` block of mode "compare" (deepstudy.search.compare); the verdict is the one
the run computed (Welch's t-test over repeated searches, Holm-adjusted), not recomputed here.
"""
from __future__ import annotations

from pathlib import Path

from deepstudy.report.formats import pm
from deepstudy.report.search_view import PERCENT_TEST, PERCENT_VAL, SAMPLERS, fmt_value


def view(s: dict) -> dict:
    val = 100.0 if s["metric"] in PERCENT_VAL else 1.0
    test = 100.0 if s["test_metric"] in PERCENT_TEST else 1.0
    rows = [{"sampler": SAMPLERS.get(name, name),
             "believed": pm(s["believed"].get(name, {}), val, 2 if val != 1 else 4),
             "found": pm(s["found"].get(name, {}), test, 2 if test != 1 else 4)} for name in s["samplers"]]
    searches = [{"search": r["search"], "best_value": f"{r['best_value'] * val:.2f}" if val != 1 else
                 f"{r['best_value']:.4g}", "best_trial": r["best_trial"], "pruned": r["pruned"],
                 "test": pm(r["test"], test, 2 if test != 1 else 4),
                 "params": ", ".join(f"{k}={fmt_value(v)}" for k, v in r["params"].items())} for r in s["searches"]]
    pruner = "no pruner" if s["pruner"] in (None, "none") else f"the {s['pruner']} pruner"
    summary = (f"{len(s['samplers'])} samplers ({', '.join(SAMPLERS.get(n, n) for n in s['samplers'])}) each searched "
               f"the same space {s['repeats']} times with {s['budget']} trials and {pruner}, search r of every sampler "
               f"with the same search seed. Each search's winner (its best {s['metric']}) was re-trained on "
               f"{s['final_seeds']} fresh seed(s) and tested once; the samplers are compared on those test scores, one "
               f"per search, so the spread is the search's own luck, not only the seeds'.")
    return {"template": "search_compare", "summary": summary, "rows": rows, "searches": searches,
            "val_unit": " (%)" if val != 1 else "", "test_unit": " %" if test != 1 else "",
            "verdict": s["comparison"]}


def figures(run_dir: Path, s: dict) -> list[dict]:
    from deepstudy.report import plots

    found = {name: [r["test"]["mean"] for r in s["searches"] if r["sampler"] == name and r["test"]["mean"] is not None]
             for name in s["samplers"]}
    path = plots.arm_scores(found, s["test_metric"], Path(run_dir) / "figures" / "search_samplers.png")
    return [{"path": path, "caption": f"Test {s['test_metric']} of each search's winner (mean of its fresh seeds), "
                                      "per sampler: each dot is one search, the black mark the mean ± std over the "
                                      "searches. Overlapping spreads mean no sampler reliably found better "
                                      "configurations at this budget."}]
