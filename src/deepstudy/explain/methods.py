"""One entry point, ``attribute(model, x, target, method)``, over Captum's attributions and our Grad-CAM.

Every method returns one map per example with the input's positions: (N, H, W) for images,
(N, L) for sequences, (N, F) for tables. How the channels are folded, and each baseline, is
stated here because it changes what the map means:
  saliency       |dy/dx| max over channels (Simonyan et al., 2014)
  smoothgrad     saliency averaged over noisy copies, sigma = 15% of the input range (Smilkov et al., 2017)
  integrated-gradients   signed, summed over channels; baseline all zeros = the training mean
                 after normalization (Sundararajan et al., 2017); steps are run in batches
  occlusion      signed drop of the logit when a window is set to the baseline (Zeiler & Fergus, 2014)
  gradcam / gradcam++    at the last spatial convolution unless a layer is named
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from deepstudy.explain import layers
from deepstudy.explain.gradcam import gradcam

METHODS = ("gradcam", "gradcam++", "saliency", "smoothgrad", "integrated-gradients", "occlusion")
NEEDS_CONV = ("gradcam", "gradcam++")


@contextlib.contextmanager
def gradients_in_eval(model: nn.Module, x: torch.Tensor):
    """cuDNN's RNN kernels refuse backward in eval mode; attribution needs exactly that, so cuDNN is
    switched off for models with recurrent layers on CUDA (the slower native kernels allow it)."""
    recurrent = any(isinstance(m, nn.RNNBase) for m in model.modules())
    with torch.backends.cudnn.flags(enabled=False) if recurrent and x.is_cuda else contextlib.nullcontext():
        yield


def _fold(a: torch.Tensor, how: str) -> torch.Tensor:
    if a.dim() < 3:  # tables: one value per feature already
        return a
    return a.abs().amax(1) if how == "absmax" else a.sum(1)


def attribute(model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str, *, layer: str | None = None,
              steps: int = 50, internal_batch_size: int = 256, samples: int = 16, seed: int = 0) -> torch.Tensor:
    """Maps (N, *positions) of ``method`` for the classes ``target`` (N,); the model is put in eval mode."""
    from captum.attr import IntegratedGradients, NoiseTunnel, Occlusion, Saliency

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    model.eval()
    x = x.detach().float().requires_grad_(True)
    with gradients_in_eval(model, x):
        if method in NEEDS_CONV:
            layer = layer or layers.target_layer(model, x)
            if layer is None:
                raise ValueError("Grad-CAM needs a convolution with a spatial output; this model has none "
                                 "(use saliency, integrated-gradients or occlusion)")
            return gradcam(model, x, target, layer, plus_plus=method == "gradcam++")
        if method == "saliency":
            return _fold(Saliency(model).attribute(x, target=target, abs=True).detach(), "absmax")
        if method == "smoothgrad":
            sigma = 0.15 * float(x.detach().max() - x.detach().min())
            with torch.random.fork_rng(devices=[]):  # NoiseTunnel draws from the global stream
                torch.manual_seed(seed)
                a = NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=samples, stdevs=sigma,
                                                           nt_samples_batch_size=samples, target=target, abs=True)
            return _fold(a.detach(), "absmax")
        if method == "integrated-gradients":
            a = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=steps,
                                                     internal_batch_size=internal_batch_size)
            return _fold(a.detach(), "sum")
        return _fold(_occlusion(Occlusion(model), x, target), "sum")


def _occlusion(occ, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    spatial = x.shape[2:] if x.dim() >= 3 else x.shape[1:]
    window = tuple(max(1, s // 7) for s in spatial)  # 4x4 on 28x28: about a stroke's width
    stride = tuple(max(1, w // 2) for w in window)
    if x.dim() >= 3:  # a window covers every channel at once
        window, stride = (x.shape[1], *window), (x.shape[1], *stride)
    return occ.attribute(x, sliding_window_shapes=window, strides=stride, baselines=0.0, target=target,
                         perturbations_per_eval=64).detach()
