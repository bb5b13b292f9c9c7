"""The import layers of DESIGN.md §3 and the module-size rule, checked on the source itself."""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "deepstudy"

# component -> deepstudy components it may import (besides itself). Anything else is a layering bug.
ALLOWED = {
    "errors": set(),
    "fileio": set(),
    "config": {"errors"},
    "repro": {"errors"},
    "scratch": set(),  # NumPy only: readable and teachable alone
    "data": {"config", "errors", "nab", "repro"},  # nab: the benchmark's probation rule
    "models": {"errors"},  # never a config, a device or a file
    "train": {"errors", "fileio", "repro"},  # gets a module and iterables, never models/ or data/
    "evaluate": set(),
    "report": {"errors", "fileio"},  # files only, so a report re-renders anywhere
    "docs": {"config", "models"},  # generated reference pages: a top layer, like cli
    "progress": set(),
    "explain": {"errors"},  # gets a module and tensors, like train
    "study": {"config", "data", "errors", "evaluate", "fileio", "models", "repro", "train", "report", "study_scratch", "study_forecast",
              "study_classical", "study_explain", "study_results", "study_som", "study_anomaly", "study_pretext", "study_gan", "study_distill", "study_lm", "weights"},
    "study_distill": {"config", "data", "errors", "fileio", "models", "train"},
    "study_lm": {"config", "data", "errors", "evaluate", "fileio", "models", "repro", "train"},
    "study_gan": {"config", "data", "errors", "evaluate", "fileio", "models", "repro", "train"},
    "study_pretext": {"config", "data", "errors", "fileio", "models", "repro", "train", "weights"},
    "study_results": {"config", "evaluate", "fileio", "models", "study_anomaly", "study_anomaly_images", "study_explain",
                      "study_forecast", "study_gan", "study_lm", "study_scratch", "study_som"},
    "study_anomaly": {"config", "data", "errors", "evaluate", "fileio", "models", "nab", "repro", "study_anomaly_images", "train"},
    "study_anomaly_images": {"config", "data", "errors", "evaluate", "fileio", "models", "repro", "train"},
    "nab": set(),
    "study_som": {"config", "data", "errors", "evaluate", "fileio", "models", "repro"},
    "study_explain": {"config", "data", "errors", "evaluate", "explain", "fileio", "models", "train"},
    "study_forecast": {"config", "data", "errors", "evaluate", "fileio", "study_explain", "train"},
    "study_classical": {"config", "data", "errors", "evaluate", "fileio", "repro", "scratch"},
    "study_scratch": {"config", "data", "errors", "evaluate", "fileio", "repro", "scratch", "train"},
    "cli": {"config", "data", "docs", "errors", "models", "progress", "report", "study", "train", "weights"},
    "weights": {"data", "errors", "models"},
    "__main__": {"cli"},
    "__init__": set(),
}
NO_TORCH = {"report", "config", "errors", "fileio", "evaluate", "progress", "scratch"}


def _component(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "deepstudy":
                names |= {f"deepstudy.{a.name}" for a in node.names}
    return names


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_import_layers(path):
    me = _component(path)
    assert me in ALLOWED, f"new component {me}: add it to ALLOWED with its layer"
    for name in _imports(path):
        if name.startswith("deepstudy."):
            other = name.split(".")[1]
            assert other == me or other in ALLOWED[me], f"{path.relative_to(SRC)} imports {name}: not allowed for {me}"
        if me in NO_TORCH:
            assert not name.startswith("torch"), f"{path.relative_to(SRC)} must not import torch"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_size(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(SRC)} has {lines} lines; split it by responsibility (max 400)"


def test_no_global_numpy_rng_and_no_unsafe_loads():
    for path in MODULES:
        text = path.read_text()
        for bad in ("np.random.seed(", "np.random.rand(", "np.random.randn(", "np.random.shuffle(", "yaml.load("):
            assert bad not in text, f"{path.relative_to(SRC)} uses {bad}"
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path.relative_to(SRC)}: torch.load without weights_only=True"
