"""Overrides of a study's settings: ``--set key=value`` parsed, dotted keys applied (an arm's changes, too)."""
from __future__ import annotations

import copy
from typing import Any

import yaml

from deepstudy.config import yamlfile
from deepstudy.errors import UserError


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``raw`` with ``{"train.optimizer.lr": 0.1, ...}`` applied.

    A dotted key sets one leaf; a key naming a whole section (``model``) replaces it, so an arm
    can swap the model family without inheriting the base model's keyword arguments.

    Example:
        >>> apply_overrides({"train": {"epochs": 5, "batch_size": 64}}, {"train.epochs": 2, "model": {"name": "mlp"}})
        {'train': {'epochs': 2, 'batch_size': 64}, 'model': {'name': 'mlp'}}
    """
    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = str(dotted).split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return out


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["train.epochs=3", "data.augment=[hflip]"]`` -> dotted overrides (values parsed as YAML).

    Example:
        >>> parse_set(["train.epochs=3", "data.augment=[hflip]", "model.name=cnn"])
        {'train.epochs': 3, 'data.augment': ['hflip'], 'model.name': 'cnn'}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value, got '{item}' (e.g. --set train.epochs=3)")
        try:
            out[key.strip()] = yamlfile.load(value) if value.strip() else None  # the study file's limits too
        except yaml.YAMLError:
            out[key.strip()] = value
    return out
