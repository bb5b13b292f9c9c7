"""Every run under an output root, one summary each, filtered by study and by keys of its config (torch-free).

A run directory is ``<root>/<study>/<timestamp>/`` with a config.yaml (deepstudy.rundir). It is *finished* with a
readable results.json, *damaged* when results.json (or config.yaml) cannot be read as deepstudy wrote it, and
*unfinished* without results.json (killed, or still running: then its lock is held).
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel

from deepstudy import config as _config
from deepstudy.errors import UserError, closest
from deepstudy.report.formats import pm
from deepstudy.report.search_view import PERCENT_TEST

_MISSING = object()


@dataclass
class RunSummary:
    """One run directory as ``deepstudy runs`` lists it; ``arms``: {arm: describe() of the headline metric}."""

    path: str
    status: str  # finished | damaged | unfinished | running
    reason: str = ""
    study: str = ""
    task: str = ""
    dataset: str = ""
    date: str = ""
    seeds: int | None = None
    metric: str = ""
    arms: dict[str, dict] = field(default_factory=dict)
    best: str | None = None
    matched_arms: list[str] | None = None  # with ``where``: the arms whose config has every KEY=VALUE
    config: dict = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "config"}

    def score(self, arm: str) -> str:
        """'89.97 ± 0.39 (n=2)': accuracy-like metrics in percent, others as they are."""
        percent = self.metric in PERCENT_TEST or self.metric in ("precision", "recall")
        return pm(self.arms[arm], 100.0 if percent else 1.0, 2 if percent else 4)


def _date(path: Path) -> str:
    try:  # the run directory's name is its start time (rundir.stamp), maybe with a -k suffix
        return _dt.datetime.strptime(path.name[:19], "%Y-%m-%dT%H-%M-%S").strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return _dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")


def _running(path: Path) -> bool:
    """Whether a run, resume or explain holds the run directory's lock now (rundir.RunDir.locked)."""
    try:
        fd = os.open(path / ".lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def summarize(path: Path) -> RunSummary:
    """One run directory; never raises on a damaged file (it becomes the summary's status and reason)."""
    out = RunSummary(path=str(path), status="finished", date=_date(path))
    try:
        cfg = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        return RunSummary(str(path), "damaged", f"config.yaml cannot be read ({type(e).__name__})", date=out.date)
    if not isinstance(cfg, dict):
        return RunSummary(str(path), "damaged", "config.yaml is not a mapping", date=out.date)
    out.config, out.study, out.task = cfg, str(cfg.get("name", path.parent.name)), str(cfg.get("task", "classify"))
    out.dataset, out.seeds = str((cfg.get("data") or {}).get("name", "")), cfg.get("seeds")
    out.arms = {str(a): {} for a in cfg.get("arms") or {}}  # the names, until results.json gives the scores
    if not (path / "results.json").is_file():
        out.status = "running" if _running(path) else "unfinished"
        return out
    try:
        results = json.loads((path / "results.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        out.status, out.reason = "damaged", f"results.json is not JSON ({getattr(e, 'msg', e)})"
        return out
    try:
        out.study, out.task, out.metric = results["study"], results["task"], results["metric"]
        out.dataset, out.seeds = results["dataset"]["name"], results["seeds"]
        out.arms = {arm: {k: info["summary"][out.metric][k] for k in ("mean", "std", "n")}
                    for arm, info in results["arms"].items()}
        out.best = (results.get("comparison") or {}).get("best")
    except (KeyError, TypeError, AttributeError) as e:
        out.status, out.reason = "damaged", f"results.json lacks {e}" if isinstance(e, KeyError) else \
            "results.json is not the results deepstudy writes"
    return out


def find(root: str | Path) -> list[Path]:
    """The run directories under ``root`` (<root>/<study>/<timestamp>/config.yaml), oldest first."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"no output folder '{root}': runs are listed from the folder `deepstudy run --out` wrote to "
                        "(default runs); pass it with --out DIR")
    return sorted((p.parent for p in root.glob("*/*/config.yaml")), key=lambda p: (p.name, str(p)))


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out[f"{prefix}{k}"] = v
            out.update(_flatten(v, f"{prefix}{k}."))
    return out


def _schema_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, f in model.model_fields.items():
        keys.add(prefix + name)
        for ann in (f.annotation, *get_args(f.annotation)):
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                keys |= _schema_keys(ann, f"{prefix}{name}.")
    return keys


def config_keys(configs: Iterable[dict] = ()) -> set[str]:
    """Every dotted key a study file can have (any task), plus those of ``configs`` (a model's own arguments)."""
    keys = set().union(*(_schema_keys(cls) for cls in _config.STUDY_TYPES.values()))
    for section, model in _config.FULL_SECTIONS.items():
        keys |= {section} | _schema_keys(model, f"{section}.")
    for cfg in configs:
        keys |= set(_flatten(cfg))
    return keys


def parse_where(where: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    """``["data.name=digits", "train.epochs=5"]`` (values parsed as YAML, as --set does) or a mapping."""
    if isinstance(where, Mapping):
        return dict(where)
    items = list(where)
    for item in items:
        if "=" not in item or not item.partition("=")[0].strip():
            raise UserError(f"--where expects KEY=VALUE, got '{item}' (e.g. --where data.name=fashion-mnist)")
    return _config.parse_set(items)


def _same(have: Any, want: Any) -> bool:
    """YAML-parsed values compared as the study file means them: 5 == 5.0, lists item by item, no True == 1."""
    if isinstance(want, str) and not isinstance(have, str):
        try:  # PyYAML reads 1e-3 as a string; the config wrote 0.001
            want = float(want) if isinstance(have, float) else want
        except ValueError:
            return False
    if isinstance(have, bool) or isinstance(want, bool):
        return type(have) is type(want) and have == want
    if isinstance(have, list | tuple) and isinstance(want, list | tuple):
        return len(have) == len(want) and all(_same(h, w) for h, w in zip(have, want))
    return have == want


def matching_arms(summary: RunSummary, where: dict[str, Any]) -> list[str]:
    """The arms whose config (the base with the arm's overrides, as the run trained it) has every key = value; a
    run without arms is matched on its base config (then ["(base)"])."""
    base = {k: v for k, v in summary.config.items() if k not in ("arms", "opt_in_arms")}
    arms = summary.config.get("arms") or {"(base)": {}}
    out = []
    for arm, overrides in arms.items():
        flat = {**_flatten(summary.config), **_flatten(_config.apply_overrides(base, overrides or {}))}
        if all(_same(flat.get(k, _MISSING), v) for k, v in where.items()):
            out.append(str(arm))
    return out


def list_runs(root: str | Path = "runs", study: str | None = None, where: Mapping[str, Any] | Iterable[str] = (),
              include_unfinished: bool = True) -> list[RunSummary]:
    """The runs under ``root`` (oldest first): finished and damaged ones, and unfinished ones unless
    ``include_unfinished`` is False; ``study``: of that study only; ``where``: with an arm whose config (config.yaml's
    base with the arm's overrides) has every ``KEY=VALUE`` (an unknown key is one UserError naming the closest valid
    keys)."""
    conditions = parse_where(where)
    runs = [summarize(p) for p in find(root)]
    known = config_keys(r.config for r in runs)
    for key in conditions:
        if key not in known:
            hint = closest(key, known) or f" (keys start with: {', '.join(sorted(_config.FULL_SECTIONS))})"
            raise UserError(f"--where: unknown key '{key}'{hint}; keys are those of the study file "
                            "(`deepstudy schema --markdown`)")
    if study is not None:
        runs = [r for r in runs if r.study == study]
    if conditions:
        for r in runs:
            r.matched_arms = matching_arms(r, conditions) if r.config else []
        runs = [r for r in runs if r.matched_arms]
    if not include_unfinished:
        runs = [r for r in runs if r.status in ("finished", "damaged")]
    return runs
