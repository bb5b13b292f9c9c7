"""Per-layer summary: output shape, parameters and multiply-accumulates (MACs) of one forward pass.

Parameters are counted once per tensor (by identity), at the first module that owns them, so
shared or tied weights are not counted twice; the total is checked against
``sum(p.numel() for p in model.parameters())``, which deduplicates the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Row:
    """One line of a model summary: a module's name, class, output shape, own parameters and multiply-accumulates.

    Example:
        >>> import torch
        >>> from deepstudy import models
        >>> rows, _, _ = models.summarize(torch.nn.Linear(4, 3), torch.zeros(1, 4))
        >>> rows[0].kind, rows[0].output_shape, rows[0].params
        ('Linear', (1, 3), 15)
    """
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


def _macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """MACs for one example (batch dimension divided out)."""
    b = output.shape[0] if output.dim() > 0 else 1
    if isinstance(module, nn.modules.conv._ConvNd):
        per_out = (module.in_channels // module.groups) * int(torch.tensor(module.kernel_size).prod())
        return output.numel() // b * per_out
    if isinstance(module, nn.Linear):
        return output.numel() // b * module.in_features
    if type(module).__name__ == "MultiHeadAttention":  # the two products its Linear children do not count
        t, d = output.shape[1], output.shape[2]  # (B, T, D): Q K^T and weights @ V, T x T x d per head each
        return 2 * t * t * d
    if isinstance(module, nn.RNNBase):
        x = inputs[0]
        if isinstance(x, nn.utils.rnn.PackedSequence):  # mean real steps per sequence
            steps = x.data.shape[0] // int(x.batch_sizes[0])
        else:
            steps = x.shape[1] if module.batch_first else x.shape[0]
        gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
        dirs = 2 if module.bidirectional else 1
        h, total = module.hidden_size, 0
        for layer in range(module.num_layers):
            width = module.input_size if layer == 0 else h * dirs
            total += dirs * steps * gates * (width * h + h * h)
        return total
    return 0


def summarize(model: nn.Module, example: torch.Tensor) -> tuple[list[Row], int, int]:
    """Rows for every module that owns parameters or is a leaf; (rows, total params, total MACs).

    Example:
        >>> import torch
        >>> from deepstudy import models
        >>> net = models.create("mlp", in_features=4, num_classes=3, hidden=[8])
        >>> rows, params, macs = models.summarize(net, torch.zeros(1, 4))
        >>> params, macs
        (67, 56)
    """
    seen: set[int] = set()
    rows: list[Row] = []
    hooks = []

    def hook(name: str):
        def fn(module: nn.Module, inputs: tuple, output) -> None:
            out = output[0] if isinstance(output, tuple | list) else output
            if isinstance(out, nn.utils.rnn.PackedSequence):
                out = out.data
            own = 0
            for p in module.parameters(recurse=False):
                if id(p) not in seen:
                    seen.add(id(p))
                    own += p.numel()
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
            rows.append(Row(name or "(model)", type(module).__name__, shape, own,
                            _macs(module, inputs, out) if isinstance(out, torch.Tensor) else 0))
        return fn

    for name, module in model.named_modules():
        is_leaf = next(module.children(), None) is None
        if (is_leaf or next(module.parameters(recurse=False), None) is not None
                or type(module).__name__ == "MultiHeadAttention"):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    # parameters owned by modules that never ran (unused branches) still belong to the model
    unused = sum(p.numel() for p in model.parameters() if id(p) not in seen)
    if unused:
        rows.append(Row("(not called in forward)", "-", (), unused, 0))
    total = sum(r.params for r in rows)
    expected = sum(p.numel() for p in model.parameters())
    assert total == expected, f"summary counted {total} parameters, the model has {expected}"
    return rows, total, sum(r.macs for r in rows)
