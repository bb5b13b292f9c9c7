"""results.json's ``search`` block: every trial, what the search cost, the winner's curse, importances."""
from __future__ import annotations

import warnings

import optuna
from optuna.trial import TrialState

from deepstudy import evaluate, tasks
from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.fileio import read_json, read_jsonl
from deepstudy.rundir import RunDir
from deepstudy.search import trials

_STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "fail",
           TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


def best(rows: list[dict], lower: bool) -> dict | None:
    """The best complete trial of ``records`` (the first of equals), or None."""
    done = [r for r in rows if r["state"] == "complete"]
    return min(done, key=lambda r: (r["value"] if lower else -r["value"], r["number"])) if done else None


def best_params(study: Study, run: RunDir) -> dict:
    """The best complete trial's values (dotted key -> value), or one line saying why there is none."""
    rows = records(study, run)
    top = best(rows, trials.direction(study)[1])
    if top is None:
        failed = [r for r in rows if r["state"] == "fail"]
        why = f"; the first failure: {failed[0]['message']}" if failed else ""
        raise UserError(f"no trial of the search completed ({len(rows)} trials: "
                        f"{sum(r['state'] == 'pruned' for r in rows)} pruned, {len(failed)} failed){why}; "
                        "widen the space, lower the pruner's aggressiveness or raise search.trials")
    return top["params"]


def records(study: Study, run: RunDir) -> list[dict]:
    """Each trial as Optuna recorded it, with what trial.json adds (epochs trained, seconds, a failure's message)."""
    out = []
    for t in trials.open_study(study, run).get_trials(deepcopy=False):
        path = run.trial(t.number) / "trial.json"
        rec = read_json(path) if path.is_file() else {}
        out.append({"number": t.number, "state": _STATES.get(t.state, str(t.state)),
                    "value": t.value if t.state == TrialState.COMPLETE else rec.get("value"),
                    "params": rec.get("params", {}), "epochs": rec.get("epochs", len(t.intermediate_values)),
                    "seconds": rec.get("seconds"), "message": rec.get("message"),
                    "curve": [t.intermediate_values[k] for k in sorted(t.intermediate_values)]})
    return out


def test_metric_of(study: Study, run: RunDir) -> str:
    """The test metric the study's task ranks arms by (accuracy, R², ...)."""
    return tasks.get(study.task).headline(read_json(run.data))[0]


def _fresh(run: RunDir, arm: str, seeds: int, metric: str, lower: bool, test_metric: str) -> dict:
    """An arm of the re-evaluation: its validation score (best epoch, as a trial is scored) and test score."""
    val, test = [], []
    for seed in run.seeds(arm, range(seeds)):
        res = read_json(seed.result)
        if res["status"] != "ok":
            continue
        values = [r[metric] for r in read_jsonl(seed.metrics) if r.get(metric) is not None]
        val.append((min if lower else max)(values) if values else None)
        test.append(res["test"][test_metric])
    return {"val": evaluate.describe(val), "test": evaluate.describe(test)}


def _importances(study: Study, run: RunDir, complete: int) -> dict:
    if complete < 3:
        return {"values": None, "why": f"{complete} complete trial(s): fANOVA needs at least 3"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(
                trials.open_study(study, run), evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError) as e:
        return {"values": None, "why": str(e).splitlines()[0]}
    return {"values": dict(values), "why": None}


def block(study: Study, run: RunDir, final: Study) -> dict:
    s = study.search
    metric, lower = trials.direction(study)
    rows = records(study, run)
    test_metric = test_metric_of(study, run)
    top = best(rows, lower)
    fresh = {arm: _fresh(run, arm, final.seeds, metric, lower, test_metric) for arm in ("tuned", "default")}
    mean = fresh["tuned"]["val"]["mean"]
    optimism = None if mean is None else (mean - top["value"]) if lower else (top["value"] - mean)
    epochs = {state: sum(r["epochs"] for r in rows if r["state"] == state)
              for state in ("complete", "pruned", "fail")}
    return {
        "sampler": s.sampler, "pruner": s.pruner, "metric": metric, "lower_is_better": lower,
        "test_metric": test_metric, "budget": s.budget(), "seed": s.seed if s.seed is not None else study.seed,
        "trial_seed": trials.trial_seed(study), "final_seeds": final.seeds,
        "storage": trials.redact(s.storage) if s.storage else "journal file search/journal.log",
        "space": dict(s.space), "trials": rows,
        "counts": {state: sum(r["state"] == state for r in rows) for state in ("complete", "pruned", "fail")},
        "epochs": {**epochs, "total": sum(epochs.values()), "unpruned": len(rows) * study.train.epochs},
        "seconds": sum(r["seconds"] or 0.0 for r in rows),
        "best": {"number": top["number"], "value": top["value"], "params": top["params"]},
        "reevaluated": fresh,
        # the winner's curse: how much better the search's best looked than the same config on fresh seeds
        "optimism": optimism,
        "importances": _importances(study, run, sum(r["state"] == "complete" for r in rows)),
    }
