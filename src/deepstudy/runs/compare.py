"""Arms of different runs in one comparison, with the statistics of a study (``evaluate.compare_arms``).

Each arm is named ``<run>/<arm>``, ``<run>`` being the run's study name (``<study>@<timestamp>`` where two runs
share one). The runs must have the same task, the same headline metric and the same test set (deepstudy.runs.
testset); then the per-seed test scores go to Welch's t-test (a paired one over shared cross-validation folds)
and, for tasks that predict class labels, each seed's per-example correctness to McNemar's test — exactly as a
study compares its own arms. Writes comparison.json, report.html and report.md to the output folder.
"""
from __future__ import annotations

import datetime as _dt
import os
import shlex
from pathlib import Path

import numpy as np

from deepstudy import evaluate, report
from deepstudy.errors import UserError, closest
from deepstudy.fileio import write_json
from deepstudy.report import across
from deepstudy.rundir import RunDir, stamp
from deepstudy.runs import testset


def _names(runs: list[RunDir], results: list[dict]) -> list[str]:
    """Each run's name: its study's, with its timestamp folder where studies repeat (and a number past that:
    two output folders may hold a run of one study started in the same second)."""
    studies = [r["study"] for r in results]
    named = [s if studies.count(s) == 1 else f"{s}@{run.path.name}" for s, run in zip(studies, runs)]
    return [n if named.count(n) == 1 else f"{n}#{named[:i + 1].count(n)}" for i, n in enumerate(named)]


def _select(spec: str | None, names: list[str], runs: list[RunDir], results: list[dict]) -> list[tuple[int, str]]:
    """(run index, arm) pairs: every arm of every run, or those of ``--arms run:arm,...`` (a run by its name, its
    study, its position from 1, or its folder)."""
    if not spec:
        return [(i, arm) for i, r in enumerate(results) for arm in r["arms"]]
    picked = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        ref, sep, arm = item.rpartition(":")
        if not sep or not ref or not arm:
            raise UserError(f"--arms expects RUN:ARM pairs separated by commas, got '{item}' (e.g. --arms "
                            f"{names[0]}:{next(iter(results[0]['arms']), 'arm')})")
        hits = [i for i, (n, run, r) in enumerate(zip(names, runs, results))
                if ref in (n, str(i + 1), r["study"]) or Path(ref).resolve() == run.path.resolve()]
        if len(hits) != 1:
            how = "names more than one run; use the run's name" if hits else f"is none of the runs{closest(ref, names)}"
            raise UserError(f"--arms: '{ref}' {how} (runs: {', '.join(names)}, or their position 1..{len(runs)})")
        if arm not in results[hits[0]]["arms"]:
            raise UserError(f"--arms: run {names[hits[0]]} has no arm '{arm}'{closest(arm, results[hits[0]]['arms'])}")
        picked.append((hits[0], arm))
    if len(set(picked)) < 2:
        raise UserError("--arms: name at least two different arms to compare (e.g. --arms run1:armA,run2:armB)")
    return list(dict.fromkeys(picked))


def _seeds(run: RunDir, arm: str, info: dict, metric: str, predictions: bool) -> tuple[list[float], list]:
    """The arm's per-seed test scores, and each seed's per-example correctness (tasks that predict labels)."""
    scores, correct = [], []
    for s in info["seeds"]:
        if s.get("status") != "ok":
            continue
        scores.append(s["test"][metric])
        seed = run.seed(arm, s["seed"])
        labels = seed / "test_labels.npy" if (seed / "test_labels.npy").is_file() else run.test_labels
        if predictions and (seed / "predictions.npy").is_file() and labels.is_file():
            correct.append(np.load(seed / "predictions.npy").astype(np.int64) == np.load(labels))
    return scores, correct


def _default_out(runs: list[RunDir]) -> Path:
    """<root>/comparisons/<timestamp>, <root> being the output folder of the first run (<root>/<study>/<time>)."""
    base = runs[0].path.parent.parent / "comparisons" / stamp()
    path, k = base, 1
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}"), k + 1
    return path


def compare_runs(run_dirs: list[str | Path], out: str | Path | None = None, arms: str | None = None,
                 command: str | None = None) -> Path:
    """Compare the arms of finished runs (``arms``: "run:arm,run:arm" to choose); returns the report's path."""
    from deepstudy import (
        tasks,  # torch: only a comparison needs the tasks' metric directions
    )

    if len(run_dirs) < 2:
        raise UserError("compare needs two or more run directories: deepstudy compare RUN_DIR RUN_DIR ...")
    runs = [RunDir.existing(p, finished=True) for p in run_dirs]
    twice = next((p for i, p in enumerate(run_dirs) if runs[i].path.resolve() in
                  [r.path.resolve() for r in runs[:i]]), None)
    if twice is not None:
        raise UserError(f"run directory {twice} is given twice; compare different runs (one run's arms are already "
                        "compared in its own report)")
    results = [report.check_files(r.path, results=True) for r in runs]
    names = _names(runs, results)
    for key in ("task", "metric"):
        values = [r.get(key) for r in results]
        if len(set(values)) > 1:
            j = next(i for i, v in enumerate(values) if v != values[0])
            raise UserError(f"runs {names[0]} and {names[j]} have different {key}s ({values[0]} vs {values[j]}); "
                            f"only runs of one {key} can be compared")
    prints = [testset.of(r.path, res) for r, res in zip(runs, results)]
    paired = testset.check_same(names, prints)
    task, metric = tasks.get(results[0]["task"]), results[0]["metric"]
    scores, correct, rows = {}, {}, []
    for i, arm in _select(arms, names, runs, results):
        name = f"{names[i]}/{arm}"
        info = results[i]["arms"][arm]
        scores[name], correct[name] = _seeds(runs[i], arm, info, metric, task.predictions)
        rows.append({"name": name, "run": names[i], "arm": arm, "summary": evaluate.describe(scores[name]),
                     "model": info.get("model"), "params": info.get("params")})
    if paired and len({len(v) for v in scores.values()}) > 1:
        raise UserError("cross-validation runs are compared fold by fold: every arm needs a result on every fold "
                        f"({', '.join(f'{n}: {len(v)}' for n, v in scores.items())})")
    comparison = evaluate.compare_arms(scores, correct, metric, paired=paired, lower_better=task.lower_is_better,
                                       **task.comparison(metric))
    out = Path(out) if out else _default_out(runs)
    out.mkdir(parents=True, exist_ok=True)
    command = command or "deepstudy compare " + shlex.join(str(p) for p in run_dirs)
    source = [{"name": n, "path": str(r.path), "study": res["study"], "seeds": res["seeds"],
               "arms": list(res["arms"]), "date": r.path.name,
               "report": os.path.relpath(r / "report.html", out) if (r / "report.html").is_file() else None}
              for n, r, res in zip(names, runs, results)]
    fp = prints[0]
    doc = {"command": command, "generated": _dt.datetime.now().isoformat(timespec="seconds"),
           "task": results[0]["task"], "metric": metric, "dataset": results[0]["dataset"].get("name"),
           "test_set": {k: fp[k] for k in ("sha256", "labels_sha256", "identity", "folds_sha256")},
           "paired": paired, "lower_better": task.lower_is_better, "runs": source, "arms": rows,
           "scores": scores, "comparison": comparison}
    write_json(out / "comparison.json", doc)
    return across.write(out, doc)
