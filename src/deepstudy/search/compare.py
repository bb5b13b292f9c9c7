"""Which sampler finds better configurations, beyond noise? (``search.samplers`` with ``search.repeats``)

Each sampler searches the same space at the same budget ``repeats`` times, search r of every sampler with the
same search seed (a paired design); each search is a run directory of its own under ``search/searches/``.
Every search's winner is then re-trained on ``final_seeds`` fresh seeds and tested once (arm
``<sampler>-<r>``), and the samplers are compared on those honest test scores, one per search — the
question a search's own best validation score cannot answer, since it is an optimistic pick.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deepstudy import config as _config
from deepstudy import evaluate, repro, tasks
from deepstudy.config import Study
from deepstudy.fileio import read_json
from deepstudy.rundir import RunDir
from deepstudy.search import summary, trials


def searches(study: Study, run: RunDir) -> dict[str, tuple[Study, RunDir]]:
    """``<sampler>-<r>`` -> (its study: one sampler, one search seed; its run directory)."""
    out = {}
    base = study.search.seed if study.search.seed is not None else study.seed
    for name in study.search.samplers:
        for r in range(study.search.repeats):
            raw = study.model_dump(mode="json")
            raw["search"].update(sampler=name, samplers=[], repeats=1, seed=repro.derive_seed(base, "repeat", r))
            out[f"{name}-{r}"] = (_config.validate(raw, source="search comparison"), RunDir(run.search / "searches" /
                                                                                            f"{name}-{r}"))
    return out


def run_all(study: Study, run: RunDir, on_event: Callable[[dict], None], run_trials) -> dict[str, dict]:
    """Every search's trials (``run_trials(study, run, on_event)``), then each one's best values."""
    best = {}
    for label, (sub, folder) in searches(study, run).items():
        folder.path.mkdir(parents=True, exist_ok=True)
        if not folder.config.is_file():
            folder.config.write_text(_config.to_yaml(sub))
        run_trials(sub, folder, _labelled(on_event, label))
        best[label] = summary.best_params(sub, folder)
    return best


def _labelled(on_event: Callable[[dict], None], label: str) -> Callable[[dict], None]:
    def forward(e: dict) -> None:
        on_event({**e, "arm": f"{label} {e['arm']}"} if "arm" in e else {**e, "search": label})
    return forward


def block(study: Study, run: RunDir, final: Study) -> dict:
    """Per sampler: each search's best validation score (what it believed) and its winner's test score on fresh
    seeds (what it found); the samplers compared on the latter, repeats as the samples."""
    metric, lower = trials.direction(study)
    found: dict[str, list[float]] = {}
    believed: dict[str, list[float]] = {}
    rows = []
    lead = tasks.get(study.task)
    test_metric = summary.test_metric_of(study, run)
    for label, (sub, folder) in searches(study, run).items():
        name = sub.search.sampler
        records = summary.records(sub, folder)
        top = summary.best(records, lower)
        seeds = [read_json(s.result) for s in run.seeds(label, range(final.seeds))]
        test = [s["test"][test_metric] for s in seeds if s["status"] == "ok"]
        found.setdefault(name, []).append(float(np.mean(test)) if test else None)
        believed.setdefault(name, []).append(top["value"])
        rows.append({"search": label, "sampler": name, "best_value": top["value"], "best_trial": top["number"],
                     "params": top["params"], "test": evaluate.describe(test),
                     "pruned": sum(r["state"] == "pruned" for r in records)})
    found = {k: [v for v in vs if v is not None] for k, vs in found.items()}
    return {
        "mode": "compare", "samplers": list(study.search.samplers), "repeats": study.search.repeats,
        "budget": study.search.budget(), "pruner": study.search.pruner, "metric": metric, "lower_is_better": lower,
        "test_metric": test_metric, "final_seeds": final.seeds, "space": dict(study.search.space), "searches": rows,
        "found": {k: evaluate.describe(v) for k, v in found.items()},
        "believed": {k: evaluate.describe(v) for k, v in believed.items()},
        "comparison": evaluate.compare_arms(found, {}, test_metric, lower_better=lead.lower_is_better,
                                            sample="search", **lead.comparison(test_metric)),
    }
