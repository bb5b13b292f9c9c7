"""A study file's validation error as one line: the key's dotted path, what is wrong, the closest valid names, and
the override (``--set``) or file to blame (deepstudy.config.validate)."""
from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from deepstudy.config.tasks import FULL_SECTIONS, OPTIONAL_SECTIONS, STUDY_TYPES, Study
from deepstudy.errors import closest


def culprit(error: ValidationError, task: str, source: str, given: dict[str, str]) -> str:
    """The override whose key (or section above it) holds the first problem, else the file."""
    loc = [str(p) for p in error.errors()[0]["loc"]]
    path = ".".join(loc[1:] if loc and loc[0] == task else loc)
    if error.errors()[0]["type"] == "union_tag_invalid":
        path = "task"
    # the override of that key, of a section above it, or (a rule across a section's keys) of a key inside it
    return next((how for key, how in given.items() if path == key or path.startswith(f"{key}.")
                 or (path and key.startswith(f"{path}."))), source)


def excerpt(value: Any, limit: int = 80) -> str:
    """A value as it appears in an error line: never more than ``limit`` characters of it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def explain(error: ValidationError, task: str) -> str:
    """The first problem as one line, with the key's dotted path and the closest valid names."""
    first = error.errors()[0]
    loc = [str(p) for p in first["loc"]]
    if loc and loc[0] == task:  # the union's tag
        loc = loc[1:]
    path = ".".join(loc)
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    if first["type"] == "union_tag_invalid":
        return f"unknown task '{task}'{closest(task, STUDY_TYPES)}; tasks: {', '.join(STUDY_TYPES)}"
    if first["type"] == "extra_forbidden":
        valid, every = _field_names(STUDY_TYPES[task], loc[:-1]), _field_names(None, loc[:-1])
        section = f" {'.'.join(loc[:-1])}" if len(loc) > 1 else ""
        if loc[-1] in every and valid:
            return (f"'{path}' is not used by task: {task} (it would be silently ignored); remove it — task {task} "
                    f"reads{section}: {', '.join(valid)}")
        hint = closest(loc[-1], valid) or f" (valid keys: {', '.join(sorted(valid))})"
        return f"unknown key '{path}'{hint}"
    got = first.get("input")
    shown = "" if isinstance(got, dict) else f", got {excerpt(got)}"
    if first["type"] == "value_error":
        message = str(first["ctx"]["error"]) if "ctx" in first else first["msg"]
        return f"'{path}': {message}{more}" if path else f"{message}{more}"
    if first["type"] == "literal_error" and task in STUDY_TYPES and loc[:3] == ["train", "optimizer", "name"]:
        return (f"'{path}': task {task} trains with {first['ctx']['expected']} only{shown}; remove it — task {task} "
                f"reads train.optimizer: {', '.join(_field_names(STUDY_TYPES[task], loc[:-1]))}")
    return f"'{path}': {first['msg']}{shown}{more}"


def _field_names(model: type[BaseModel] | None, loc: list[str]) -> list[str]:
    """The keys at ``loc`` in ``model`` (None: in any task's study, the full sections)."""
    for i, part in enumerate(loc):
        if model is None:
            ann = FULL_SECTIONS.get(part) if i == 0 or part in ("optimizer", "early_stopping", "ema", "swa") else None
        else:
            ann = getattr(model.model_fields.get(part), "annotation", None)
            ann = next((a for a in get_args(ann) if a is not type(None)), ann) if type(None) in get_args(ann) else ann
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    if model is None:
        return [*Study.model_fields, *OPTIONAL_SECTIONS]
    return list(model.model_fields)
