"""Finding layers by name and in the order the forward pass calls them."""
from __future__ import annotations

import torch
from torch import nn

from deepstudy.errors import UserError, closest

_CONV = (nn.Conv1d, nn.Conv2d)


def module_named(model: nn.Module, name: str) -> nn.Module:
    names = dict(model.named_modules())
    if name not in names:
        convs = [n for n, m in names.items() if isinstance(m, _CONV)]
        raise UserError(f"the model has no layer '{name}'{closest(name, names)}; convolutions: {', '.join(convs[-6:]) or 'none'}")
    return names[name]


def forward_order(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Leaf modules as the forward pass meets them: (name, module, output shape), each once."""
    seen: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    ids: set[int] = set()
    handles = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            def hook(m, _i, out, name=name):
                if id(m) not in ids and isinstance(out, torch.Tensor):
                    ids.add(id(m))
                    seen.append((name, m, tuple(out.shape)))
            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x[:1])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return seen


def target_layer(model: nn.Module, x: torch.Tensor) -> str | None:
    """The last convolution whose output still has more than one position (Grad-CAM's usual choice:
    the deepest layer that keeps spatial detail); None for a model without one (an MLP)."""
    convs = [name for name, m, shape in forward_order(model, x)
             if isinstance(m, _CONV) and int(torch.tensor(shape[2:]).prod()) > 1]
    return convs[-1] if convs else None


def parametrized_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Leaf modules that own parameters, output side first — the cascade of the randomization test."""
    return [name for name, m, _ in reversed(forward_order(model, x))
            if any(True for _ in m.parameters(recurse=False))]
