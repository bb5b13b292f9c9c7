"""The classifier head and the word embedding of a zoo model: found, replaced, frozen — for pretext tasks,
linear probes and pretrained word vectors."""
from __future__ import annotations

from torch import nn


def classifier_head(model: nn.Module) -> str:
    """Dotted name of the last ``nn.Linear`` registered in the model (every zoo classifier ends in one)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no linear classifier head")
    return names[-1]


def replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def new_head(model: nn.Module, outputs: int) -> nn.Linear:
    """Swap the head for a freshly initialized Linear(in_features, outputs); returns it."""
    name = classifier_head(model)
    old = model.get_submodule(name)
    head = nn.Linear(old.in_features, outputs).to(old.weight.device)
    replace(model, name, head)
    return head


def freeze_backbone(model: nn.Module) -> int:
    """requires_grad False everywhere but the head; returns the number of trainable parameters left."""
    head = model.get_submodule(classifier_head(model))
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    return sum(p.numel() for p in head.parameters())


def unfreeze(model: nn.Module, learnable: set[int]) -> None:
    """Let every parameter whose id is in ``learnable`` (those the optimizer holds) learn again; others (frozen
    word vectors) stay fixed."""
    for p in model.parameters():
        if id(p) in learnable:
            p.requires_grad_(True)


def token_embedding(model: nn.Module) -> nn.Embedding | None:
    """The word-embedding table of a text model (RecurrentNet / ConvNet1d: ``embed``; TransformerEncoder:
    ``embeddings.tokens``), or None."""
    return next((m for n, m in model.named_modules()
                 if isinstance(m, nn.Embedding) and n.split(".")[-1] in ("embed", "tokens")), None)


def trainable(model: nn.Module, freeze_backbone: bool = False, freeze_embeddings: bool = False) -> int:
    """Parameters a run with these settings trains (the model is left as it was)."""
    frozen = {id(p) for n, p in model.named_parameters()
              if freeze_backbone and not n.startswith(classifier_head(model) + ".")}
    table = token_embedding(model)
    if freeze_embeddings and table is not None:
        frozen.add(id(table.weight))
    return sum(p.numel() for p in model.parameters() if id(p) not in frozen)
