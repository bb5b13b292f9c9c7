"""The import layers of DESIGN.md §3 and the module-size rule, checked on the source itself."""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "deepstudy"

# The layers, top to bottom. A module imports only from layers below it (or its own component):
#   top           cli, docs, __main__       parse, print, exit codes
#   orchestrator  study, study_data,        config -> data -> arms x seeds through the task registry -> results
#   tasks         tasks/*                   one module per task (+ the parts they compose); only the orchestrator
#                                           imports them, they never import the orchestrator or anything above it
#   core          everything else, with the rules of CORE below (e.g. models never see a config or a file)
TOP = {"cli", "docs", "__main__"}
ORCHESTRATOR = {"study", "study_data", "study_precision", "study_results", "study_tools", "search", "runs",
                "executors"}
# runs: across runs (lists torch-free); executors: where the (arm, seed) tasks run (this process, worker processes,
# Ray); study_precision: what train.precision auto chose, decided once per arm before the seeds train; study_tools:
# explanations added to a finished run, the learning-rate range test
TASKS = {"tasks"}
# core component -> the core components it may import (besides itself). Anything else is a layering bug.
CORE = {
    "errors": set(),
    "fileio": set(),
    "config": {"errors"},
    "repro": {"errors"},
    "rundir": {"errors"},  # torch-free: the report reads the layout too
    "scratch": set(),  # NumPy only: readable and teachable alone
    "data": {"config", "errors", "nab", "repro"},  # nab: the benchmark's probation rule
    "models": {"errors"},  # never a config, a device or a file
    "train": {"errors", "fileio", "repro"},  # gets a module and iterables, never models/ or data/
    "records": set(),  # the typed result records (torch-free)
    "evaluate": {"records"},
    "report": {"errors", "fileio", "records", "rundir"},  # files only, so a report re-renders anywhere
    "progress": set(),
    "tracking": {"config", "errors", "fileio"},  # experiment trackers: progress events + the run's files
    "explain": {"errors"},  # gets a module and tensors, like train
    "nab": set(),
    "weights": {"data", "errors", "models"},
    "__init__": set(),
}
ALLOWED = {
    **CORE,
    **{t: set(CORE) for t in TASKS},
    **{o: set(CORE) | TASKS | ORCHESTRATOR for o in ORCHESTRATOR},
    "cli": set(CORE) | ORCHESTRATOR | {"docs"},
    "docs": {"config", "models"},  # generated reference pages
    "__main__": {"cli"},
}
NO_TORCH = {"report", "config", "errors", "fileio", "evaluate", "progress", "scratch", "records", "rundir"}


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


def _docstring_lines(source: str) -> int:
    """Lines taken by the module's, classes' and functions' docstrings."""
    count = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value,
                                                                                                     str):
                count += first.end_lineno - first.lineno + 1
    return count


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_size(path):
    """DESIGN.md §5: 300 lines as a rule, 400 at most. The rule counts code: docstrings (with their examples, the
    API reference's text) are not counted against it, only against the hard limit."""
    text = path.read_text()
    lines = text.splitlines()
    code = len(lines) - _docstring_lines(text)
    assert code <= 300, f"{path.relative_to(SRC)} has {code} lines of code; split it by responsibility (max 300)"
    assert len(lines) <= 400, f"{path.relative_to(SRC)} has {len(lines)} lines; split it by responsibility (max 400)"
    long = [i + 1 for i, line in enumerate(lines) if len(line) > 120]
    assert not long, f"{path.relative_to(SRC)}: lines {long[:5]} are over 120 characters"


def test_only_the_orchestrator_imports_tasks():
    """The task seam: core never reaches up into tasks/, tasks/ never into the orchestrator or above."""
    for path in MODULES:
        me = _component(path)
        reached = {n.split(".")[1] for n in _imports(path) if n.startswith("deepstudy.")}
        if me in CORE:
            assert not reached & (TASKS | ORCHESTRATOR | TOP), f"core module {path.relative_to(SRC)} imports {reached}"
        if me in TASKS:
            assert not reached & (ORCHESTRATOR | TOP), f"task module {path.relative_to(SRC)} imports {reached}"
    assert ORCHESTRATOR >= {_component(p) for p in MODULES if _component(p) not in TASKS and
                            {n.split(".")[1] for n in _imports(p) if n.startswith("deepstudy.")} & TASKS}


def test_no_global_numpy_rng_and_no_unsafe_loads():
    for path in MODULES:
        text = path.read_text()
        for bad in ("np.random.seed(", "np.random.rand(", "np.random.randn(", "np.random.shuffle(", "yaml.load("):
            assert bad not in text, f"{path.relative_to(SRC)} uses {bad}"
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path.relative_to(SRC)}: torch.load without weights_only=True"
