"""Everything a report shows about a set of test examples: maps, sanity scores, faithfulness, features."""
from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from deepstudy.explain.faithfulness import deletion_insertion
from deepstudy.explain.features import feature_maps, first_layer_filters
from deepstudy.explain.layers import target_layer
from deepstudy.explain.methods import NEEDS_CONV, attention_weights, attribute
from deepstudy.explain.sanity import randomization_test


def explain_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, methods: list[str], *,
                     layer: str | None = None, features: bool = False, attention: bool = False, sanity_n: int = 8,
                     steps: int = 50, seed: int = 0, regression: bool = False,
                     on_method: Callable[[str, int, int], None] | None = None) -> dict:
    """Maps of the *predicted* class for each method (what the model used, right or wrong), their
    deletion/insertion AUCs over all of ``x`` and the randomization test on the first ``sanity_n``.
    ``regression``: the model has one output, explained as it is (a forecast; see faithfulness.py).
    ``on_method(method, k, n)``: called before the k-th of the n methods (progress).

    Example:
        >>> import torch
        >>> from deepstudy import explain, models
        >>> _ = torch.manual_seed(0)
        >>> net = models.create("cnn", in_channels=1, num_classes=3, input_size=(8, 8), channels=[4, 8])
        >>> x, target = torch.randn(2, 1, 8, 8), torch.tensor([0, 2])
        >>> out = explain.explain_examples(net, x, target, ["saliency"], sanity_n=2, steps=4)
        >>> sorted(out)[:3]
        ['labels', 'layer', 'maps']
    """
    model.eval()
    x, y = (x.detach().float() if x.is_floating_point() else x.detach()), y.detach()
    with torch.no_grad():
        preds = model(x).argmax(1)
    layer = layer or target_layer(model, x)
    out: dict = {"layer": layer, "labels": y.cpu().numpy(), "preds": preds.cpu().numpy(), "maps": {}, "scores": {},
                 "skipped": {}}
    for k, method in enumerate(methods, 1):
        if on_method is not None:
            on_method(method, k, len(methods))
        if method in NEEDS_CONV and layer is None:
            out["skipped"][method] = "the model has no convolution with a spatial output: input attributions only"
            continue
        if method == "smoothgrad" and not x.is_floating_point():
            out["skipped"][method] = "input noise has no meaning for token ids"
            continue

        def explainer(m: nn.Module, xs: torch.Tensor, t: torch.Tensor, method=method) -> torch.Tensor:
            return attribute(m, xs, t, method, layer=layer, steps=steps, seed=seed)

        t0 = time.perf_counter()
        maps = explainer(model, x, preds)
        seconds = time.perf_counter() - t0
        scores = deletion_insertion(model, x, preds, maps, seed=seed, probabilities=not regression)
        scores["sanity"] = randomization_test(model, x[:sanity_n], preds[:sanity_n], explainer, seed=seed)
        scores["seconds"] = seconds
        out["maps"][method], out["scores"][method] = maps.cpu().numpy(), scores
    if attention:
        weights = attention_weights(model, x)
        if weights is not None:
            out["attention"] = weights.cpu().numpy()
        else:
            out["skipped"]["attention"] = "the model has no attention layer"
    if features:
        first = first_layer_filters(model, x)
        if first is not None:
            out["filters_layer"], out["filters"] = first[0], first[1].cpu().numpy()
        if layer is not None:
            out["feature_maps"] = feature_maps(model, x, layer).cpu().numpy()
    return out
