"""Your own ``nn.Module`` as a study's model: ``model: {class_path: "package.module:ClassName", kwargs: {...}}``.

The class path is the model's registry name: ``registry.entry`` imports it on first use and registers it like a
built-in (family "custom"), so ``build`` calls it as it calls every zoo model — ``num_classes`` and whichever of
``input_shape`` / ``in_features`` / ``in_channels`` / ``input_size`` / ``vocab_size`` its constructor names, plus
``kwargs`` (docs/your-model.md). Where Python looks for the module: ``sys.path``, then the folders added here (the
study file's folder, the folder a run recorded the module in), then the current folder — appended, never in front,
so an installed package of the same name wins. A run records each module's file and sha256 (``record``), so a resume
or `deepstudy explain` finds it again and says when it changed (``restore``).
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from pathlib import Path

from torch import nn

from deepstudy.errors import UserError, closest

_FOLDERS: list[Path] = []  # where to look beyond sys.path, in order (the current folder is always last)


def search_in(folder: str | Path) -> None:
    """Look for class-path modules in ``folder`` too (the CLI adds the study file's folder)."""
    folder = Path(folder).resolve()
    if folder not in _FOLDERS:
        _FOLDERS.append(folder)


def is_class_path(name: str) -> bool:
    return ":" in name


def load(class_path: str) -> type[nn.Module]:
    """The class named by ``class_path`` ('package.module:ClassName'), or one line saying what is wrong."""
    module_name, _, attr = class_path.partition(":")
    where = [*_FOLDERS, Path.cwd().resolve()]
    for folder in where:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    importlib.invalidate_caches()  # a module written after this process started (a test, a notebook)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise UserError(f"model.class_path '{class_path}': no module '{module_name}' (looked in sys.path and "
                            f"{', '.join(map(str, where))}); put {module_name.replace('.', '/')}.py beside the study "
                            "file or in the current folder, or add its folder to PYTHONPATH") from None
        raise UserError(f"model.class_path '{class_path}': importing '{module_name}' failed: {e}") from None
    except Exception as e:  # the user's module raised while importing (a syntax error, a failing import)
        raise UserError(f"model.class_path '{class_path}': importing '{module_name}' failed: "
                        f"{type(e).__name__}: {e}") from None
    found: object = module
    for part in attr.split("."):
        if not hasattr(found, part):
            names = [n for n in vars(found) if not n.startswith("_")] if hasattr(found, "__dict__") else []
            raise UserError(f"model.class_path '{class_path}': module '{module_name}' ({_file(module)}) has no "
                            f"'{attr}'{closest(part, names)}")
        found = getattr(found, part)
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise UserError(f"model.class_path '{class_path}' is {_what(found)}, not a torch.nn.Module subclass; name "
                        "the class whose instances are the model")
    return found


def describe(cls: type) -> str:
    """The first line of the class's docstring (the model table's description), or where it comes from."""
    doc = inspect.getdoc(cls)
    return doc.splitlines()[0] if doc else f"{cls.__module__}.{cls.__qualname__}"


def record(class_paths: list[str]) -> dict[str, dict]:
    """What a run keeps of each class path: the module's file and its sha256 (models.json of the run directory)."""
    out = {}
    for path in dict.fromkeys(class_paths):
        module = sys.modules[load(path).__module__]
        file = _file(module)
        out[path] = {"module": module.__name__, "file": file, "sha256": _sha256(file)}
    return out


def restore(recorded: dict[str, dict]) -> list[str]:
    """Before a resume or an explanation: a recorded module that no longer imports from sys.path or the current
    folder is looked for where the run found it; returns a note per module whose file changed since the run."""
    notes = []
    for class_path, rec in recorded.items():
        file = Path(rec.get("file") or "")
        if file.is_file():  # the folder that holds the top-level package: module a.b in /x/a/b.py -> /x
            depth = rec["module"].count(".") + (file.name == "__init__.py")
            search_in(file.parents[depth])
        module = sys.modules[load(class_path).__module__]
        now = _file(module)
        if rec.get("sha256") and _sha256(now) != rec["sha256"]:
            notes.append(f"model {class_path}: its module {now} changed since the run recorded it (sha256 "
                         f"{rec['sha256'][:12]}…, now {(_sha256(now) or 'unreadable')[:12]}…); the weights load only "
                         "if the layers are the same")
    return notes


def _file(module) -> str:
    return os.path.abspath(module.__file__) if getattr(module, "__file__", None) else "<no file>"


def _sha256(file: str) -> str | None:
    try:
        return hashlib.sha256(Path(file).read_bytes()).hexdigest()
    except OSError:
        return None


def _what(obj: object) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__qualname__}"
    return f"a {type(obj).__name__}" + (" (an instance: name its class)" if isinstance(obj, nn.Module) else "")
