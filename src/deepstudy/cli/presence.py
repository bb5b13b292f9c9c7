"""Whether a registered dataset is on this machine, and intact (`deepstudy data list`, `doctor`)."""
from __future__ import annotations

from deepstudy.errors import UserError


def presence(spec) -> str:
    from deepstudy.data import registry

    if not spec.files:
        return "bundled"
    try:
        folder = registry.locate(spec)
    except UserError:
        return "missing"
    try:
        registry.verify(spec, folder)
    except UserError:
        return "checksum MISMATCH"
    return f"verified in {folder.parent}"
