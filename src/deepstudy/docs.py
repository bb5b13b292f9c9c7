"""The study-file reference, generated from the pydantic schema so it cannot drift from the code."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from deepstudy.config import STUDY_TYPES, Study
from deepstudy.config.search import SearchConfig
from deepstudy.config.data_section import DataConfig
from deepstudy.config.sections import TrainConfig
from deepstudy.config.tasks import OPTIONAL_SECTIONS, SECTIONS


def _type_name(annotation) -> str:
    generic = getattr(annotation, "__origin__", None) is not None or " | " in str(annotation)
    text = str(annotation) if generic else getattr(annotation, "__name__", str(annotation))
    text = text.replace("typing.", "").replace("NoneType", "null")
    return f"{text[9:-1]} | null" if text.startswith("Optional[") else text


def _section(model: type[BaseModel], prefix: str, out: list[str], title: str = "") -> None:
    nested = []
    out.append(f"\n## `{prefix or 'top level'}`{title}\n")
    if model.__doc__ and prefix:
        out.append(" ".join(model.__doc__.split()) + "\n")
    out.append("| key | type | default | meaning |\n|---|---|---|---|")
    for name, field in model.model_fields.items():
        ann = field.annotation
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            nested.append((ann, key))
            out.append(f"| `{key}` | section | | see below |")
            continue
        optional = _optional_section(ann) if prefix else None
        if optional is not None:  # e.g. train.ema: off unless given, its keys below
            nested.append((optional, key))
            out.append(f"| `{key}` | section or null | `None` | {field.description or ''} Keys: see below. |")
            continue
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        out.append(f"| `{key}` | `{_type_name(ann)}` | `{default}` | {field.description or ''} |")
    for ann, key in nested:
        _section(ann, key, out)


def _optional_section(annotation) -> type[BaseModel] | None:
    """``X | None`` where X is a strict section (unknown keys refused; not the model's keyword arguments)."""
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    if len(args) == 1 and len(args) < len(annotation.__args__) and isinstance(args[0], type) and \
            issubclass(args[0], BaseModel) and args[0].model_config.get("extra") == "forbid":
        return args[0]
    return None


def _keys(model: type[BaseModel], full: type[BaseModel]) -> str:
    """A task's keys of one section: every key, or the list (nested sections with theirs)."""
    if list(model.model_fields) == list(full.model_fields):
        return "every key"
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        sub = full.model_fields[name].annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(sub, type) and ann is not sub:
            fixed = {k: f.default for k, f in ann.model_fields.items() if str(f.annotation).startswith("typing.Literal")
                     and f.annotation != sub.model_fields[k].annotation}
            keys = [f"{k} ({fixed[k]} only)" if k in fixed else k for k in ann.model_fields]
            out.append(f"`{name}` ({', '.join(keys)})")
        else:
            out.append(f"`{name}`")
    return ", ".join(out)


def schema_markdown() -> str:
    out = ["# Study file reference",
           "",
           "Generated from the code (`deepstudy schema --markdown`; `make docs` rewrites this file). A study file "
           "is YAML; every key below can also be set from the command line with `--set key=value` and varied "
           "per arm (`arms: {name: {key: value}}`). Unknown keys are rejected with the closest valid names. "
           "`deepstudy schema` prints the JSON schema for editor completion (one branch per task).",
           "",
           "Each task reads its own part of the file: the keys common to every task (`top level` below), the "
           "`train:` and `data:` keys of its row in the table, and its own sections. A key the study's task "
           "does not read is refused with the task named (it would be silently ignored), e.g. `train.grad_clip` "
           "for `task: som`. An arm may change `task:`; it then starts from the keys of the base that its task "
           "reads.",
           "",
           "| task | its sections | `train:` keys it reads | `data:` keys it reads |",
           "|---|---|---|---|"]
    for task, cls in STUDY_TYPES.items():
        own = ", ".join(f"`{s}`" for s in SECTIONS[task]) or "—"
        out.append(f"| `{task}` | {own} | {_keys(cls.model_fields['train'].annotation, TrainConfig)} | "
                   f"{_keys(cls.model_fields['data'].annotation, DataConfig)} |")
    out.append("")
    out += [f"- {cls.__doc__.strip()}" for cls in STUDY_TYPES.values()]
    _section(Study, "", out, " (every task)")
    for name, section in OPTIONAL_SECTIONS.items():
        tasks = ", ".join(t for t, s in SECTIONS.items() if name in s)
        _section(section, name, out, f" (task: {tasks})")
    _section(SearchConfig, "search", out, " (every task with a per-epoch validation score; see docs/search.md)")
    out.append("\nUnder `model:`, `model.name` picks a registered model; every other key under `model:` is a keyword "
               "argument of that model's constructor (checked before training starts). See docs/models.md.")
    return "\n".join(out) + "\n"


def models_markdown() -> str:
    """The model zoo table: registry entries with parameters and MACs at MNIST size (1x28x28, 10 classes)."""
    import inspect

    from deepstudy import models

    out = ["# Model zoo", "",
           "Generated from the registry (`make docs`). Parameters and MACs per example are for a 1×28×28 input (text "
           "models: 256 tokens, a 30,000-word vocabulary) and 10 classes at default arguments; "
           "`deepstudy summary NAME --input CxHxW --arg key=value` gives the per-layer "
           "view for any input. Every keyword argument below can be set under `model:` in a study file.", "",
           "| name | family | input | parameters | MACs | description | keyword arguments |",
           "|---|---|---|---:|---:|---|---|"]
    for name in models.names():
        entry = models.entry(name)
        shape = {"image": (1, 28, 28), "tokens": (256,), "sequence": (256,)}.get(entry.inputs, (784,))
        vocab = 30000 if entry.inputs in ("tokens", "sequence") else None
        _, params, macs = models.summarize(models.build(name, shape, 10, vocab_size=vocab), models.example(name, shape))
        derived = {"in_channels", "in_features", "num_classes", "input_size", "input_shape", "vocab_size"}
        kwargs = [f"`{p.name}={p.default!r}`" for p in inspect.signature(entry.fn).parameters.values()
                  if p.name not in derived]
        out.append(f"| `{name}` | {entry.family} | {entry.inputs} | {params:,} | {macs:,} | {entry.description} | "
                   f"{', '.join(kwargs) or '—'} |")
    return "\n".join(out) + "\n"


def studies_markdown() -> str:
    """The built-in studies with their header comments (purpose and measured results), verbatim."""
    from deepstudy.config import builtin_studies, read_yaml

    out = ["# Built-in studies", "",
           "Generated from the study files (`make docs`); each file's header comment gives its purpose and the "
           "result measured on the reference machine (mean ± std over n seeds, hardware, time). Run one with "
           "`deepstudy run NAME`; copy `src/deepstudy/studies/NAME.yaml` to start your own.", ""]
    for name, path in sorted(builtin_studies().items()):
        header = [line[2:] if line.startswith("# ") else line[1:] for line in path.read_text().splitlines()
                  if line.startswith("#")]
        raw = read_yaml(path)
        arms = ", ".join(f"`{a}`" for a in raw.get("arms", {"base": {}}))
        opt_in = ", ".join(f"`{a}`" for a in raw.get("opt_in_arms", {}))
        opt_in = f" · opt-in arms (`--arms NAME`) {opt_in}" if opt_in else ""
        out += [f"## {name}", "", f"*{raw.get('description', '')}*", "",
                f"Data `{raw.get('data', {}).get('name', 'digits')}` · arms {arms}{opt_in} · "
                f"{raw.get('seeds', 1)} seed(s)", "",
                "```text", *header, "```", ""]
    return "\n".join(out)


# The library's public modules: one page each, their __all__ (or public names) only — submodules are internals.
API_MODULES = ("config", "data", "models", "train", "evaluate", "explain", "scratch", "study")


def api_reference(out: Path, modules: tuple[str, ...] = tuple(f"deepstudy.{m}" for m in API_MODULES)) -> list[str]:
    """Write the HTML API reference of ``modules`` into ``out`` (pdoc, Google-style docstrings); returns
    pdoc's warnings (a docstring or annotation it could not read), which ``make docs`` and the tests refuse.

    Example:
        ``make docs`` runs ``python -m deepstudy.docs api docs/api``; in Python::

            warnings = api_reference(Path("docs/api"))   # docs/api/deepstudy/train.html, ...
    """
    import warnings

    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="google", show_source=False, search=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*modules, r"!deepstudy\..*\.", output_directory=Path(out))
    # pdoc's own warnings (another library's deprecation notice on import is not the reference's problem)
    return [f"{w.category.__name__}: {w.message}" for w in caught
            if "pdoc" in Path(w.filename).parts or "deepstudy" in str(w.message)]


if __name__ == "__main__":  # python -m deepstudy.docs api OUT
    import sys

    if sys.argv[1:2] != ["api"] or len(sys.argv) != 3:
        sys.exit("usage: python -m deepstudy.docs api OUT_FOLDER")
    problems = api_reference(Path(sys.argv[2]))
    for line in problems:
        print(line, file=sys.stderr)
    sys.exit(1 if problems else 0)
