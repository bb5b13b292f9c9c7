"""The study-file reference, generated from the pydantic schema so it cannot drift from the code."""
from __future__ import annotations

from pydantic import BaseModel

from deepstudy.config import Study


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("NoneType", "null")


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
    out.append("\n## `model`\n\n`model.name` picks a registered model; every other key under `model:` is a keyword "
               "argument of that model's constructor (checked before training starts). See docs/models.md.")
    return "\n".join(out) + "\n"
