"""Which test set a run was scored on, as a fingerprint two runs can be checked against (torch-free).

Two runs' arms can share one comparison (and McNemar's test, which pairs their errors example by example) only
when they were tested on the same rows. A run directory says so through:

- the dataset's identity: ``data.name``, the reader (``data.format``) and the sha256 of its files (data.json's
  ``source.sha256``; ``data.path`` for data without registered files — digits has neither: name and format);
- the test labels themselves (``test_labels.npy``: row order and classes), hashed as int64 / float64;
- with ``data.cv_folds``, each seed's own test labels (seed i is tested on fold i), hashed per seed.

New runs record this in results.json (``test_set``); older ones get it computed from the same files. The split
settings (``data.test_fraction``, ``data.cv_folds``) are kept beside it to say WHY two test sets differ; they are
not part of the hash (MNIST's published test split is the same whatever the fraction).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import yaml

from deepstudy.errors import UserError
from deepstudy.fileio import read_json
from deepstudy.rundir import RunDir

SPLIT_KEYS = ("test_fraction", "cv_folds")


def labels_sha256(path: Path) -> str | None:
    """sha256 of test labels in a canonical form (shape, then int64 or float64 little-endian values)."""
    if not Path(path).is_file():
        return None
    y = np.load(path, allow_pickle=False)
    y = np.ascontiguousarray(y, dtype="<i8" if y.dtype.kind in "iub" else "<f8")
    h = hashlib.sha256(json.dumps(list(y.shape)).encode())
    h.update(y.tobytes())
    return h.hexdigest()


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _fold_labels(run: RunDir, config: dict) -> list[str] | None:
    """Per-seed test labels of a cross-validation run (every arm is tested on the same folds: the first arm's)."""
    if not (config.get("data") or {}).get("cv_folds"):
        return None
    for arm in config.get("arms") or {}:
        seeds = sorted(run.arm(arm).glob("seed-*/test_labels.npy"), key=lambda p: int(p.parent.name[5:]))
        if seeds:
            return [labels_sha256(p) for p in seeds]
    return None


def fingerprint(run_dir: str | Path) -> dict:
    """The test set of a run, from its files: ``{"sha256", "labels_sha256", "identity", "split", "folds_sha256"}``."""
    run = RunDir(Path(run_dir))
    config = yaml.safe_load(run.config.read_text(encoding="utf-8")) if run.config.is_file() else {}
    config = config if isinstance(config, dict) else {}
    data = config.get("data") or {}
    info = read_json(run.data) if run.data.is_file() else {}
    source = info.get("source") or {}
    files = source.get("sha256")
    identity = {"data.name": data.get("name", info.get("name")), "data.format": data.get("format") or
                source.get("format")}
    if files:  # the same files found in another folder are the same data
        identity["data files sha256"] = _digest(files)
    else:
        identity["data.path"] = data.get("path")
    labels, folds = labels_sha256(run.test_labels), _fold_labels(run, config)
    return {"sha256": _digest({"identity": identity, "labels": labels, "folds": folds}), "labels_sha256": labels,
            "identity": identity, "split": {f"data.{k}": data.get(k) for k in SPLIT_KEYS}, "folds_sha256": folds,
            "data": data}


def of(run_dir: str | Path, results: dict | None = None) -> dict:
    """The recorded fingerprint of a run (results.json ``test_set``), or one computed from its files; the data
    section of config.yaml rides along to explain a difference."""
    recorded = (results or {}).get("test_set")
    if isinstance(recorded, dict) and recorded.get("sha256"):
        return {**fingerprint(run_dir), **recorded}
    return fingerprint(run_dir)


def record(run_dir: str | Path) -> dict:
    """What results.json keeps (``test_set``): the fingerprint without the copy of the data section."""
    return {k: v for k, v in fingerprint(run_dir).items() if k != "data"}


def _short(value) -> str:
    return f"{value[:8]}…" if isinstance(value, str) and len(value) == 64 else str(value)


def difference(a: dict, b: dict) -> str | None:
    """Why fingerprints ``a`` and ``b`` name different test sets (None: the same one): the first setting that
    differs, else the labels' sha256."""
    if a["sha256"] == b["sha256"]:
        return None
    for key in a["identity"].keys() | b["identity"].keys():
        if a["identity"].get(key) != b["identity"].get(key):
            return f"{key} {_short(a['identity'].get(key))} vs {_short(b['identity'].get(key))}"
    for key in a["split"]:
        if a["split"].get(key) != b["split"].get(key):
            return f"{key} {a['split'].get(key)} vs {b['split'].get(key)}"
    other = sorted(k for k in a.get("data", {}).keys() | b.get("data", {}).keys()
                   if a["data"].get(k) != b["data"].get(k))
    if other and a["labels_sha256"] != b["labels_sha256"]:  # e.g. forecast windows: the settings that moved rows
        return "; ".join(f"data.{k} {a['data'].get(k)} vs {b['data'].get(k)}" for k in other[:3])
    if a["labels_sha256"] != b["labels_sha256"]:
        return f"test labels sha256 {_short(a['labels_sha256'])} vs {_short(b['labels_sha256'])}"
    return f"cross-validation folds' test labels sha256 {a['folds_sha256']} vs {b['folds_sha256']}"


def check_same(names: list[str], prints: list[dict]) -> bool:
    """Every run tested on the first one's test set (else one line naming the difference); returns whether they
    are cross-validation runs sharing their folds (then seed i of every arm was tested on fold i)."""
    first = prints[0]
    for name, fp in zip(names[1:], prints[1:]):
        if first["labels_sha256"] is None or fp["labels_sha256"] is None:
            missing = names[0] if first["labels_sha256"] is None else name
            raise UserError(f"run {missing} has no test_labels.npy, so its test set cannot be checked against the "
                            "others; compare runs whose run directories are complete")
        why = difference(first, fp)
        if why:
            raise UserError(f"runs {names[0]} and {name} were tested on different test sets: {why}; arms are "
                            "compared only on the same test rows")
    folds = [fp["folds_sha256"] for fp in prints]
    if any(f is None for f in folds) and any(f is not None for f in folds):
        cv = names[next(i for i, f in enumerate(folds) if f is not None)]
        raise UserError(f"run {cv} is cross-validated (each seed tested on its own fold) and the others are not; "
                        "compare cross-validation runs only with runs on the same folds")
    return folds[0] is not None
