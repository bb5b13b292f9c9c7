"""Experiment trackers fed by a study's progress events (deepstudy.progress lists them): ``--track tensorboard``
(event files in the run directory) and ``--track mlflow`` (an MLflow tracking store). Each is an event consumer:
``tracker.event(e)`` for every event, ``close()`` at the end; what it logs comes from the events and from the run
directory's own files (config.yaml for the arm's settings, result.json for the test metrics, best.safetensors).

    with tracking.open(["tensorboard"], run_dir=None) as track:      # a new run: its folder arrives as an event
        study.run(cfg, on_event=track.event)

The libraries are imported only here, when asked for: without them, one line with the pip command.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from deepstudy.errors import UserError

TRACKERS = {"tensorboard": ("tensorboard", "deepstudy[tensorboard]"), "mlflow": ("mlflow", "deepstudy[mlflow]")}
__all__ = ["TRACKERS", "Trackers", "open", "flatten", "arm_settings", "test_metrics"]


def open(kinds: list[str], run_dir: str | Path | None = None, uri: str | None = None) -> Trackers:  # noqa: A001
    """The trackers named in ``kinds`` (each at most once), for ``run_dir`` (None: the run_dir event that study.run
    and study.resume send names it); ``uri``: MLflow's tracking URI (default: sqlite in the run directory), tried
    here, before any run directory is made or touched (a bad one: a UserError)."""
    unknown = sorted(set(kinds) - set(TRACKERS))
    if unknown:
        raise UserError(f"--track {unknown[0]}: unknown tracker; choose from {', '.join(TRACKERS)}")
    if uri is not None and "mlflow" not in kinds:
        raise UserError("--track-uri is MLflow's tracking URI; add --track mlflow (or drop --track-uri)")
    made = []
    for kind in dict.fromkeys(kinds):
        module, extra = TRACKERS[kind]
        try:
            importlib.import_module(module)
        except ImportError:
            raise UserError(f"--track {kind} needs the {module} package: pip install '{extra}'") from None
        if kind == "tensorboard":
            from deepstudy.tracking.tensorboard import TensorBoard

            made.append(TensorBoard())
        else:
            from deepstudy.tracking.mlflow import MLflow

            made.append(MLflow(uri))
    trackers = Trackers(made)
    if run_dir is not None:
        trackers.event({"kind": "run_dir", "path": str(run_dir)})
    return trackers


class Trackers:
    """Several trackers as one event consumer. Only the study's own (arm, seed) runs are tracked: the events of a
    helper run outside its plan — a distillation teacher ("teacher of <arm>"), pretraining ("pretrain (rotation)"),
    marked ``aux`` or named as no arm of the study_start event — are not passed on (they would open tracker runs
    that no run_end closes; their numbers are in the run directory and the report)."""

    def __init__(self, trackers: list):
        self.trackers = trackers
        self.arms: set[str] | None = None  # the study's arms, from study_start

    def event(self, e: dict) -> None:
        if e["kind"] == "study_start":
            self.arms = set(e.get("arms") or ())
        if "arm" in e and (e.get("aux") or (self.arms is not None and e["arm"] not in self.arms)):
            return
        for t in self.trackers:
            t.event(e)

    def close(self) -> None:
        for t in self.trackers:
            t.close()

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1}; lists and None as text (what both trackers' params take).

    Example:
        >>> flatten({"train": {"optimizer": {"lr": 0.1}, "epochs": 3}, "arms": None, "augment": ["crop"]})
        {'train.optimizer.lr': 0.1, 'train.epochs': 3, 'arms': 'None', 'augment': "['crop']"}
    """
    out: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def arm_settings(run_dir: Path) -> dict[str, dict[str, object]]:
    """Each arm's resolved config, flattened (arms and opt_in_arms left out: they are the study's, not the arm's)."""
    from deepstudy import config

    study = config.validate(config.read_yaml(run_dir / "config.yaml"))
    return {arm: flatten({k: v for k, v in cfg.model_dump(mode="json").items() if k not in ("arms", "opt_in_arms")})
            for arm, cfg in study.arm_configs().items()}


def test_metrics(seed_dir: Path) -> dict[str, float]:
    """The numbers of a finished seed's test scores (result.json's "test"), as test/<name>."""
    from deepstudy.fileio import read_json

    path = seed_dir / "result.json"
    test = (read_json(path).get("test") or {}) if path.is_file() else {}
    return {f"test/{k}": float(v) for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def numbers(row: dict) -> dict[str, float]:
    """An epoch event's metrics: every number in it but the bookkeeping (epoch, epochs, seed)."""
    return {k: float(v) for k, v in row.items() if k not in ("epoch", "epochs", "seed") and isinstance(v, (int, float))
            and not isinstance(v, bool)}
