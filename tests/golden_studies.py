"""Every built-in study at tiny settings, its results.json metrics as a golden file: the refactor check.

A refactor of the orchestration (issue 18: tasks, per-task config, one epoch driver, RunDir) must leave
every number bit-identical. This script runs each built-in study shrunk to 1 seed, 1-2 epochs and small
data limits (``tiny``), each in its own process, and keeps the per-seed records of results.json without
timings. Floats are compared exactly: they are the same only on the same CPU kind and torch build, so the
records live in tests/golden/<CPU signature>/<study>.json (``signature()``) and a test on another CPU kind skips.

    python tests/golden_studies.py --record [STUDY ...]   # from the code as it is now (before a refactor)
    python tests/golden_studies.py --check [STUDY ...]    # compare (also tests/test_golden.py)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
STUDIES = HERE.parent / "src" / "deepstudy" / "studies"
# per task: dotted keys set on the base config (only keys that task honours), capped where the study sets less
_TINY = {
    "classify": {"data.train_limit": 600},
    "scratch": {"data.train_limit": 600},
    "classical": {},
    "forecast": {},
    "som": {"som.hybrid_epochs": 1},
    "reconstruct": {"data.series": ["realKnownCause/nyc_taxi.csv"]},
    "generate": {"data.train_limit": 300},
    "language-model": {"data.train_limit": 20000, "lm.steps_per_epoch": 3, "lm.sample_length": 20},
}
_TEXT = {"imdb", "ag-news", "20newsgroups"}
_ARM_CAPS = {"train.epochs": 2, "data.train_limit": 600, "train.unfreeze_after": 1}


def signature() -> str:
    """The CPU kind and torch build a golden file holds for (bit-identity holds only within one)."""
    import torch

    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isa = next((f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in flags), "generic")
    return f"{isa}-torch{torch.__version__.split('+')[0]}"


def _set(raw: dict, dotted: str, value, cap: bool = True) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for p in parents:
        node[p] = dict(node.get(p) or {})
        node = node[p]
    current = node.get(leaf)
    node[leaf] = min(current, value) if cap and isinstance(current, int) and isinstance(value, int) else value


def tiny(raw: dict) -> dict:
    """The study shrunk: 1 seed, at most 2 epochs, small data; arms keep what they vary, capped the same way."""
    task = raw.get("task", "classify")
    folds = (raw.get("data") or {}).get("cv_folds")  # one seed per cross-validation fold
    out = {**raw, "seeds": folds or 1, "opt_in_arms": {}}
    for dotted, value in _TINY[task].items():
        _set(out, dotted, value)
    _set(out, "train.epochs", 20 if task == "classical" else 2)  # classical: full-batch steps
    if (raw.get("data") or {}).get("name") in _TEXT and task == "classify":  # token ids: task classify only
        _set(out, "data.max_length", 24)
    if "pretrain" in raw:
        _set(out, "pretrain.epochs", 1)
        if "images" in raw["pretrain"]:
            _set(out, "pretrain.images", 200)
    if "distill" in raw:
        _set(out, "distill.teacher_epochs", 1, cap=False)
    if (raw.get("train") or {}).get("unfreeze_after"):
        _set(out, "train.unfreeze_after", 1)
    if set(raw.get("analyses", ())) & {"gradcam", "gradcam++", "saliency", "smoothgrad", "integrated-gradients",
                                       "occlusion"} and task == "classify":
        for key, value in {"examples": 2, "sanity_examples": 1, "steps": 4}.items():
            _set(out, f"explain.{key}", value)
    out["arms"] = {arm: {k: (min(v, _ARM_CAPS[k]) if k in _ARM_CAPS and isinstance(v, int) else v)
                         for k, v in (o or {}).items()} for arm, o in raw.get("arms", {"base": {}}).items()}
    for o in out["arms"].values():  # SWA starts within the shrunk epochs
        if isinstance(o.get("train.swa"), dict):
            o["train.swa"] = {**o["train.swa"], "start": min(o["train.swa"]["start"], out["train"]["epochs"])}
    return out


def _clean(node):
    """Every value of a seed record except timings (they differ run to run) and folder names (a teacher's folder
    is named by a hash of its config's dump, which changes with the config's schema, not with any result)."""
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items()
                if not any(w in k for w in ("second", "wall", "time")) and k != "folder"}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def run_study(name: str, out_root: Path) -> dict:
    raw = yaml.safe_load((STUDIES / f"{name}.yaml").read_text())
    raw.setdefault("name", name)
    path = out_root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tiny(raw), sort_keys=False))
    exe = [sys.executable, "-m", "deepstudy", "run", str(path), "--out", str(out_root / "runs")]
    proc = subprocess.run(exe, capture_output=True, text=True)
    runs = sorted((out_root / "runs" / name).glob("*/results.json")) if (out_root / "runs" / name).is_dir() else []
    if proc.returncode != 0 or not runs:
        raise RuntimeError(f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    results = json.loads(runs[-1].read_text())
    return {arm: [_clean(s) for s in a["seeds"]] for arm, a in results["arms"].items()}


def golden_path(name: str) -> Path:
    return GOLDEN / signature() / f"{name}.json"


def recorded(name: str) -> dict:
    """The golden record of ``name``, read as it is compared (the same keys left out as from a new run)."""
    return {arm: [_clean(s) for s in seeds] for arm, seeds in json.loads(golden_path(name).read_text()).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("studies", nargs="*")
    args = parser.parse_args(argv)
    names = args.studies or sorted(p.stem for p in STUDIES.glob("*.yaml"))
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                got = json.loads(json.dumps(run_study(name, Path(tmp))))  # as stored: tuples become lists
            except RuntimeError as e:
                failed.append(name)
                print(f"FAILED {name}: {e}", flush=True)
                continue
            path = golden_path(name)
            if args.record:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
                print(f"recorded {name}", flush=True)
            elif not path.is_file():
                print(f"no golden record for {name} on {signature()}", flush=True)
            elif got != recorded(name):
                failed.append(name)
                print(f"DIFFERS {name}", flush=True)
            else:
                print(f"same {name}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
