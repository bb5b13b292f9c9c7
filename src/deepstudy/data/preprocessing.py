"""What a trained model's inputs went through, as JSON saved beside its weights, and the same steps for new inputs.

``state(ds, cfg)`` is written to ``arms/<arm>/preprocessing.json`` when a run starts (the orchestrator); it reads only
what the loaded dataset already holds, so it draws no random number and changes no split. ``deepstudy predict`` and
``deepstudy export`` read it back with the weights and the config — the training data need not be there any more.

    {"version": 1, "kind": "image" | "table" | "tokens" | ..., "classes": [...], "input_shape": [...],
     "vocab_size": null | n,
     "image":  {"stored_shape": [C, H, W], "mean": [...], "std": [...], "model_input": null | [3, N, N],
                "center_crop": null | [h, w] (absent in runs saved before it: null)},
     "table":  {"target", "features", "numeric", "stats": {col: [mean, std]}, "categories": {col: [...]}, "id"},
     "tokens": {"tokenizer": "words" | "wordpiece", "max_length": n (the limit used), "vocab": [...] (words only)}}

A WordPiece run also keeps MiniLM's ``tokenizer.json`` beside the file (``TOKENIZER``). No pickle anywhere.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deepstudy.config import DataConfig
from deepstudy.data import tokens as _tokens
from deepstudy.data.dataset import Dataset
from deepstudy.data.loader import ImageTransform, center_crop
from deepstudy.data.table import RawTable, TableEncoder
from deepstudy.errors import UserError

VERSION = 1
FILE, TOKENIZER = "preprocessing.json", "tokenizer.json"
KINDS = ("image", "table", "tokens")  # the kinds new inputs can be prepared for


def state(ds: Dataset, cfg: DataConfig) -> dict:
    """The preprocessing of ``ds`` (as a task prepared it) as JSON-ready values."""
    out: dict = {"version": VERSION, "kind": ds.kind, "dataset": ds.name, "classes": list(ds.classes),
                 "input_shape": list(ds.input_shape), "vocab_size": ds.vocab_size}
    if ds.kind == "image":
        # stored_shape: what new images are read at (resized to), before data.center_crop takes their centre
        out["image"] = {"stored_shape": list(ds.extra.get("source_shape") or ds.x_train.shape[1:]),
                        "mean": ds.mean.tolist(), "std": ds.std.tolist(),
                        "model_input": list(ds.extra["model_input"]) if "model_input" in ds.extra else None,
                        "center_crop": list(ds.extra["center_crop"]) if "center_crop" in ds.extra else None}
    elif ds.kind == "table" and "table" in ds.extra:
        out["table"] = ds.extra["table"]
    elif ds.kind == "tokens":
        # the limit the texts were cut at: data.max_length, or (null, WordPiece) the model's own, as _wordpiece used
        out["tokens"] = {"tokenizer": cfg.tokenizer, "max_length": cfg.max_length or _tokens.minilm_max_length(),
                         **({"vocab": list(ds.vocab)} if cfg.tokenizer == "words" else {})}
    return out


def images(st: dict, x: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) of the stored shape -> float inputs (N, *input_shape) as the model read them."""
    im = st["image"]
    if im.get("center_crop"):
        x = center_crop(x, im["center_crop"])
    model_input = im["model_input"]
    transform = ImageTransform(torch.tensor(im["mean"]), torch.tensor(im["std"]),
                               size=model_input[-1] if model_input else None)
    return transform(x, torch.Generator())


def rows(st: dict, table: RawTable) -> torch.Tensor:
    """A CSV's rows -> (N, features) float32, encoded with the training rows' statistics and categories."""
    encoder = TableEncoder.from_state(st["table"], table)
    return torch.from_numpy(encoder.transform(np.arange(len(table.rows))))


def max_length(st: dict) -> int:
    """The tokens a text was cut at in training. Runs saved before the limit was always recorded have null for a
    WordPiece run without data.max_length: the installed MiniLM's own limit, the one such a run used."""
    return st["tokens"]["max_length"] or _tokens.minilm_max_length()


def texts(st: dict, docs: list[str], folder: Path) -> torch.Tensor:
    """Texts -> token ids (N, T) int64 padded with 0, T the longest (at most max_length); ``folder``: where the
    preprocessing file is (a WordPiece run's tokenizer.json)."""
    t = st["tokens"]
    if t["tokenizer"] == "wordpiece":
        if not (folder / TOKENIZER).is_file():
            raise UserError(f"{folder / TOKENIZER} is missing: the run's WordPiece tokenizer is saved there")
        ids, lengths, _ = _tokens.wordpiece(docs, max_length(st), folder=folder)
    else:
        vocab = _tokens.Vocab(t["vocab"])
        ids, lengths = _tokens.encode([_tokens.words(d) for d in docs], vocab, max_length(st))
    return ids[:, : max(int(lengths.max()), 1)] if len(docs) else ids
