"""The study-file reference, generated from the pydantic schema so it cannot drift from the code."""
from __future__ import annotations

from pydantic import BaseModel

from deepstudy.config import Study


def _type_name(annotation) -> str:
    generic = getattr(annotation, "__origin__", None) is not None or " | " in str(annotation)
    text = str(annotation) if generic else getattr(annotation, "__name__", str(annotation))
    text = text.replace("typing.", "").replace("NoneType", "null")
    return f"{text[9:-1]} | null" if text.startswith("Optional[") else text


def _section(model: type[BaseModel], prefix: str, out: list[str]) -> None:
    nested = []
    out.append(f"\n## `{prefix or 'top level'}`\n")
    if model.__doc__ and prefix:
        out.append(model.__doc__.strip() + "\n")
    out.append("| key | type | default | meaning |\n|---|---|---|---|")
    for name, field in model.model_fields.items():
        ann = field.annotation
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            nested.append((ann, key))
            out.append(f"| `{key}` | section | | see below |")
            continue
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        out.append(f"| `{key}` | `{_type_name(ann)}` | `{default}` | {field.description or ''} |")
    for ann, key in nested:
        _section(ann, key, out)


def schema_markdown() -> str:
    out = ["# Study file reference",
           "",
           "Generated from the code (`deepstudy schema --markdown`; `make docs` rewrites this file). A study file "
           "is YAML; every key below can also be set from the command line with `--set key=value` and varied "
           "per arm (`arms: {name: {key: value}}`). Unknown keys are rejected with the closest valid names. "
           "`deepstudy schema` prints the JSON schema for editor completion.",
           ]
    _section(Study, "", out)
    out.append("\nUnder `model:`, `model.name` picks a registered model; every other key under `model:` is a keyword "
               "argument of that model's constructor (checked before training starts). See docs/models.md.")
    return "\n".join(out) + "\n"


def models_markdown() -> str:
    """The model zoo table: registry entries with parameters and MACs at MNIST size (1x28x28, 10 classes)."""
    import inspect

    from deepstudy import models

    out = ["# Model zoo", "",
           "Generated from the registry (`make docs`). Parameters and MACs per example are for a 1×28×28 input (text "
           "models: 256 tokens, a 30,000-word vocabulary) and 10 classes at default arguments; `deepstudy summary NAME --input CxHxW --arg key=value` gives the per-layer "
           "view for any input. Every keyword argument below can be set under `model:` in a study file.", "",
           "| name | family | input | parameters | MACs | description | keyword arguments |", "|---|---|---|---:|---:|---|---|"]
    for name in models.names():
        entry = models.entry(name)
        shape = {"image": (1, 28, 28), "tokens": (256,), "sequence": (256,)}.get(entry.inputs, (784,))
        vocab = 30000 if entry.inputs in ("tokens", "sequence") else None
        _, params, macs = models.summarize(models.build(name, shape, 10, vocab_size=vocab), models.example(name, shape))
        derived = {"in_channels", "in_features", "num_classes", "input_size", "input_shape", "vocab_size"}
        kwargs = [f"`{p.name}={p.default!r}`" for p in inspect.signature(entry.fn).parameters.values() if p.name not in derived]
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
                f"Data `{raw.get('data', {}).get('name', 'digits')}` · arms {arms}{opt_in} · {raw.get('seeds', 1)} seed(s)", "",
                "```text", *header, "```", ""]
    return "\n".join(out)
