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
        raise UserError(f"the model has no layer '{name}'{closest(name, names)}; "
                        f"convolutions: {', '.join(convs[-6:]) or 'none'}")
    return names[name]


def forward_order(model: nn.Module, x: torch.Tensor,
                  leaves: bool = True) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Modules in the order their forward passes finish (a block after its last layer): (name, module,
    output shape), each once; only leaf modules unless ``leaves`` is False (the root is never listed)."""
    seen: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    ids: set[int] = set()
    handles = []
    for name, module in model.named_modules():
        if name and (not leaves or next(module.children(), None) is None):
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
    """Grad-CAM's usual choice: the output of the last convolutional *block* — the last module, leaf or
    block, that finishes after the last convolution and still has more than one position (after its
    normalization, activation, residual sum and pooling: VGG's last pool, ResNet's layer4). A raw
    convolution output before BN and ReLU is mostly negative, and ReLU(sum) would zero the map.
    None for a model without a convolution (an MLP).

    Example:
        >>> import torch
        >>> from deepstudy import explain, models
        >>> _ = torch.manual_seed(0)
        >>> net = models.create("cnn", in_channels=1, num_classes=3, input_size=(8, 8), channels=[4, 8])
        >>> x, target = torch.randn(2, 1, 8, 8), torch.tensor([0, 2])
        >>> explain.target_layer(net, x) in dict(net.named_modules())
        True
        >>> explain.target_layer(models.create("mlp", in_features=4, num_classes=2), torch.zeros(1, 4)) is None
        True
    """
    order = forward_order(model, x, leaves=False)
    last_conv = max((i for i, (_, m, _) in enumerate(order) if isinstance(m, _CONV)), default=None)
    if last_conv is None:
        return None
    def positions(shape: tuple[int, ...]) -> int:
        return int(torch.tensor(shape[2:]).prod()) if len(shape) >= 3 else 0

    # no later module may add positions (VGG's adaptive pool resamples 2x2 to 7x7)
    most = positions(order[last_conv][2])
    passthrough = (nn.Identity, nn.Dropout, nn.Dropout2d, nn.Dropout1d)  # the same tensor under another name in eval
    spatial = [name for name, m, shape in order[last_conv:]
               if 1 < positions(shape) <= most and not isinstance(m, passthrough)]
    return spatial[-1] if spatial else None


def parametrized_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Leaf modules that own parameters, output side first — the cascade of the randomization test."""
    return [name for name, m, _ in reversed(forward_order(model, x))
            if any(True for _ in m.parameters(recurse=False))]
