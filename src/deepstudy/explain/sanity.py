"""The model-parameter randomization test (Adebayo et al., 2018, "Sanity Checks for Saliency Maps").

Re-initialize the layers one by one from the output down ("cascading randomization") and compare
each explanation with the trained model's: Spearman rank correlation of the absolute maps, mean
over examples. An explanation that still looks the same when the weights that produced the
prediction are noise does not explain the model — it is an edge detector on the input.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from deepstudy.explain.layers import module_named, parametrized_layers

# above this rank correlation after every layer is randomized, the report flags the method
FLAG_AT = 0.5

Explainer = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def rank_correlation(a: torch.Tensor, b: torch.Tensor, real: torch.Tensor | None = None) -> float:
    """Mean over examples of Spearman's rho between |a_i| and |b_i| over the ``real`` positions (token
    inputs: not padding, whose zeros would tie in both maps and inflate rho); a constant map carries
    no ranking, so it counts as 0 (uncorrelated) rather than undefined."""
    rhos = []
    keep = (torch.ones_like(a, dtype=torch.bool) if real is None else real).flatten(1).cpu().numpy()
    for u, v, k in zip(a.abs().flatten(1).cpu().numpy(), b.abs().flatten(1).cpu().numpy(), keep):
        u, v = u[k], v[k]
        rho = spearmanr(u, v).statistic if u.std() > 0 and v.std() > 0 else 0.0
        rhos.append(0.0 if np.isnan(rho) else float(rho))
    return float(np.mean(rhos))


def _reinitialize(module: nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()  # the layer's own initialization (BN: weight 1, bias 0, fresh statistics)
    else:
        for p in module.parameters(recurse=False):
            nn.init.normal_(p, std=0.02)


def randomization_test(model: nn.Module, x: torch.Tensor, target: torch.Tensor, explain: Explainer, *,
                       stages: int = 4, seed: int = 0) -> dict:
    """Rank correlation with the trained model's maps after randomizing the top k parametrized layers,
    for ``stages`` values of k from 1 to all of them; ``explain(model, x, target)`` -> maps.

    Example:
        >>> import torch
        >>> from deepstudy import explain, models
        >>> _ = torch.manual_seed(0)
        >>> net = models.create("cnn", in_channels=1, num_classes=3, input_size=(8, 8), channels=[4, 8])
        >>> x, target = torch.randn(2, 1, 8, 8), torch.tensor([0, 2])
        >>> saliency = lambda model, x, target: explain.attribute(model, x, target, "saliency")
        >>> result = explain.randomization_test(net, x, target, saliency, stages=2)
        >>> sorted(result)
        ['cascade', 'layers_total', 'passed', 'spearman_all', 'spearman_top']
    """
    reference = explain(model, x, target)
    real = None if x.is_floating_point() else x != 0  # token ids: padding (id 0) is not part of the text
    cascade = parametrized_layers(model, x)
    cuts = sorted({int(k) for k in np.linspace(1, len(cascade), min(stages, len(cascade))).round()})
    noisy, done, rows = copy.deepcopy(model), 0, []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for k in cuts:
            for name in cascade[done:k]:
                _reinitialize(module_named(noisy, name))
            done = k
            rows.append({"layers": k, "down_to": cascade[k - 1],
                         "spearman": rank_correlation(reference, explain(noisy, x, target), real)})
    full = rows[-1]["spearman"]
    return {"cascade": rows, "layers_total": len(cascade), "spearman_top": rows[0]["spearman"],
            "spearman_all": full, "passed": bool(full < FLAG_AT)}
