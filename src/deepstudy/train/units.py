"""Dead units: the hidden units whose activation no longer varies with the input (part of ``analyses:
[gradient-flow]``).

A ReLU unit whose pre-activation is negative for every input outputs 0 everywhere: its gradient is 0, so its
incoming weights never change again — a *dead ReLU* (a learning rate too large knocks units there; Lu et al.,
2019, "Dying ReLU and initialization"). The same test catches a sigmoid or tanh unit saturated at one end for
every input. The rule: a unit (a feature: the last dimension of a (B, F) or (B, T, F) activation; a channel: dim 1
of an image's (B, C, H, W) or of a (B, C, L) one after a 1-D convolution) is dead on a batch
when its output's range over every example (and every position) is at most ``TOLERANCE`` — a constant function
of the input. LeakyReLU units never die by this rule (their negative side still varies), which is the point of
LeakyReLU.

Measured in eval mode without gradients: dropout off, batch-norm running statistics, no random numbers drawn and
no buffer changed, so measuring never alters the run.
"""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
               nn.Mish, nn.Softplus)
TOLERANCE = 1e-6
# the leaf modules after which a 3-D activation is (batch, channels, length); otherwise a unit is the last dimension
# (a Linear on (batch, tokens, features): the transformer's feed-forward layers)
_CHANNELS_FIRST = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d, nn.ConvTranspose1d)
UNITS = "units.json"  # a seed folder's {"init": ..., "trained": ...} (tasks.classify writes it)


@torch.no_grad()
def dead_units(model: nn.Module, x: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per activation module (by its name in ``model``), its units and the fraction of them dead on batch ``x``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> with torch.no_grad():
        ...     _ = model[0].bias.copy_(torch.tensor([-100.0, 0.0, 0.0]))  # unit 0 is never positive
        >>> dead_units(model, torch.randn(64, 2))["1"]["dead"]
        0.3333333333333333
    """
    ranges: dict[str, torch.Tensor] = {}
    last: list[nn.Module] = []  # the leaf module that ran last: a 3-D output after a convolution is (B, C, L)

    def record(name: str):
        def hook(_module, _inputs, out: torch.Tensor) -> None:
            channels_first = out.dim() >= 4 or (out.dim() == 3 and bool(last) and isinstance(last[0], _CHANNELS_FIRST))
            out = out.detach().float()
            per_unit = (out.transpose(0, 1) if channels_first else out.movedim(-1, 0)).flatten(1)  # (units, rest)
            spread = per_unit.amax(1) - per_unit.amin(1)
            ranges[name] = torch.maximum(ranges[name], spread) if name in ranges else spread  # a module used twice
        return hook

    def ran(module, _inputs, _out) -> None:
        if not isinstance(module, ACTIVATIONS):
            last[:] = [module]

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if isinstance(m, ACTIVATIONS)]
    handles += [m.register_forward_hook(ran) for m in model.modules() if not list(m.children())]
    was_training = model.training
    try:
        model.eval()
        model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {n: {"units": int(r.numel()), "dead": float((r <= TOLERANCE).float().mean())} for n, r in ranges.items()}


def dead_fraction(layers: dict[str, dict[str, float]]) -> float:
    """The fraction of all units (every activation module's, weighted by their number) that are dead; a model
    without activation modules (functional ones, as an LSTM's tanh) has none measured: the callers skip it."""
    total = sum(v["units"] for v in layers.values())
    if not total:
        raise ValueError("no unit was measured (the model has no activation modules)")
    return sum(v["dead"] * v["units"] for v in layers.values()) / total
