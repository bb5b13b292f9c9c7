"""Grad-CAM and Grad-CAM++ at a named layer, for 1-D (sequences) and 2-D (images) convolutions.

Grad-CAM (Selvaraju et al., 2017): with A the layer's activations (N, C, *S) and g = dy_c/dA,
    alpha_c = mean over S of g_c;   cam = ReLU(sum_c alpha_c A_c)   -> (N, *S), upsampled to the input.
Grad-CAM++ (Chattopadhay et al., 2018, eq. 19 with the exponential output): per-position weights
    a_ij = g^2 / (2 g^2 + sum_ab A_ab g^3);   w_c = sum_ij a_ij ReLU(g_ij).
Captum has ``LayerGradCam`` (our oracle in the tests) but no Grad-CAM++ and no 1-D upsampling
helper, so both are written here on two hooks.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deepstudy.explain.layers import module_named


def _activations_and_grads(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor):
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        store["a"] = output

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            out = model(x)
            out.gather(1, target.view(-1, 1)).sum().backward()  # each row's own class: rows are independent
    finally:
        handle.remove()
    a = store["a"]
    return a.detach().float(), a.grad.detach().float()


def upsample(cam: torch.Tensor, size: tuple[int, ...], mode: str = "bilinear") -> torch.Tensor:
    """(N, *S) -> (N, *size); 'bilinear' becomes 'linear' for sequences."""
    if tuple(cam.shape[1:]) == tuple(size):
        return cam
    mode = "linear" if len(size) == 1 and mode == "bilinear" else mode
    kw = {"align_corners": False} if mode in ("linear", "bilinear") else {}
    return F.interpolate(cam.unsqueeze(1), size=size, mode=mode, **kw).squeeze(1)


def gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layer: str, *, plus_plus: bool = False,
            mode: str = "bilinear") -> torch.Tensor:
    """(N, *spatial of x) non-negative maps; zero grads are left in (a dead map is informative)."""
    a, g = _activations_and_grads(model, module_named(model, layer), x, target)
    if a.dim() < 3:
        raise ValueError(f"layer '{layer}' outputs {tuple(a.shape)}: Grad-CAM needs a (N, C, length) or (N, C, H, W) "
                         "map")
    space = tuple(range(2, a.dim()))
    if plus_plus:
        g2, g3 = g.pow(2), g.pow(3)
        denom = 2 * g2 + a.sum(space, keepdim=True) * g3
        aij = torch.where(g != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(g))
        weights = (aij * g.clamp(min=0)).sum(space, keepdim=True)
    else:
        weights = g.mean(space, keepdim=True)
    cam = (weights * a).sum(1).clamp(min=0)
    return upsample(cam, tuple(x.shape[2:]), mode)
