"""What a layer sees: its activation maps for one input, and the first layer's filters."""
from __future__ import annotations

import torch
from torch import nn

from deepstudy.explain.layers import forward_order, module_named


@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor, layer: str, limit: int = 16) -> torch.Tensor:
    """(limit, *S) activations of ``layer`` for the first example, the most active channels first.

    Example:
        >>> import torch
        >>> from deepstudy import explain, models
        >>> _ = torch.manual_seed(0)
        >>> net = models.create("cnn", in_channels=1, num_classes=3, input_size=(8, 8), channels=[4, 8])
        >>> x, target = torch.randn(2, 1, 8, 8), torch.tensor([0, 2])
        >>> explain.feature_maps(net, x, explain.target_layer(net, x), limit=3).shape
        torch.Size([3, 2, 2])
    """
    store = {}
    handle = module_named(model, layer).register_forward_hook(lambda _m, _i, out: store.setdefault("a", out))
    try:
        model.eval()
        model(x[:1].float() if x.is_floating_point() else x[:1])
    finally:
        handle.remove()
    a = store["a"][0].float()
    strongest = a.flatten(1).abs().mean(1).argsort(descending=True)[:limit]
    return a[strongest]


def first_layer_filters(model: nn.Module, x: torch.Tensor) -> tuple[str, torch.Tensor] | None:
    """(name, weight (C_out, C_in, *k)) of the first convolution the input meets; None without one.

    Example:
        >>> import torch
        >>> from deepstudy import explain, models
        >>> _ = torch.manual_seed(0)
        >>> net = models.create("cnn", in_channels=1, num_classes=3, input_size=(8, 8), channels=[4, 8])
        >>> x, target = torch.randn(2, 1, 8, 8), torch.tensor([0, 2])
        >>> name, weight = explain.first_layer_filters(net, x)
        >>> weight.shape
        torch.Size([4, 1, 3, 3])
    """
    for name, m, _ in forward_order(model, x):
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            return name, m.weight.detach().float().clone()
    return None
