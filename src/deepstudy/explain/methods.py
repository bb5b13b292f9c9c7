"""One entry point, ``attribute(model, x, target, method)``, over Captum's attributions and our Grad-CAM.

Every method returns one map per example with the input's positions: (N, H, W) for images,
(N, L) for token sequences and channels-first 1-D signals (N, C, L), (N, T, F) for models that declare
``time_major = True`` (a forecaster's (time x variable) input window: both axes kept), (N, F) for tables. How the
channels are folded, and each baseline, is stated here because it changes what the map means:
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


def _fold(a: torch.Tensor, how: str, time_major: bool = False) -> torch.Tensor:
    if a.dim() < 3 or time_major:  # tables (N, F), time-major sequences (N, T, F): one value per position already
        return a
    return a.abs().amax(1) if how == "absmax" else a.sum(1)


def attribute(model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str, *, layer: str | None = None,
              steps: int = 50, internal_batch_size: int = 256, samples: int = 16, seed: int = 0) -> torch.Tensor:
    """Maps (N, *positions) of ``method`` for the classes ``target`` (N,); the model is put in eval mode.

    Example:
        >>> import torch
        >>> from deepstudy import explain, models
        >>> _ = torch.manual_seed(0)
        >>> net = models.create("cnn", in_channels=1, num_classes=3, input_size=(8, 8), channels=[4, 8])
        >>> x, target = torch.randn(2, 1, 8, 8), torch.tensor([0, 2])
        >>> explain.attribute(net, x, target, "saliency").shape
        torch.Size([2, 8, 8])
        >>> explain.attribute(net, x, target, "gradcam").shape      # at explain.target_layer(net, x)
        torch.Size([2, 8, 8])
    """
    from captum.attr import IntegratedGradients, NoiseTunnel, Occlusion, Saliency

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    model.eval()
    if not x.is_floating_point() and method not in NEEDS_CONV:  # token ids: attribute at the embedding layer
        with gradients_in_eval(model, x):
            return _token_attribution(model, x.detach(), target, method, steps, internal_batch_size)
    x = x.detach().float().requires_grad_(True) if x.is_floating_point() else x.detach()
    tm = bool(getattr(model, "time_major", False)) and x.dim() == 3
    with gradients_in_eval(model, x):
        if method in NEEDS_CONV:
            layer = layer or layers.target_layer(model, x)
            if layer is None:
                raise ValueError("Grad-CAM needs a convolution with a spatial output; this model has none "
                                 "(use saliency, integrated-gradients or occlusion)")
            return gradcam(model, x, target, layer, plus_plus=method == "gradcam++")
        if method == "saliency":
            return _fold(Saliency(model).attribute(x, target=target, abs=True).detach(), "absmax", tm)
        if method == "smoothgrad":
            sigma = 0.15 * float(x.detach().max() - x.detach().min())
            with torch.random.fork_rng(devices=[]):  # NoiseTunnel draws from the global stream
                torch.manual_seed(seed)
                a = NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=samples, stdevs=sigma,
                                                           nt_samples_batch_size=samples, target=target, abs=True)
            return _fold(a.detach(), "absmax", tm)
        if method == "integrated-gradients":
            a = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=steps,
                                                     internal_batch_size=internal_batch_size)
            return _fold(a.detach(), "sum", tm)
        return _fold(_occlusion(Occlusion(model), x, target, tm), "sum", tm)


def _token_attribution(model: nn.Module, ids: torch.Tensor, target: torch.Tensor, method: str, steps: int,
                       internal_batch_size: int) -> torch.Tensor:
    """(N, T) per-token scores for models that embed token ids (padding id 0, <unk> id 1):
      saliency             ||dy/d e_t||, the gradient's norm at each token's embedding
      integrated-gradients sum over the embedding of IG from all-<pad> embeddings (Captum's layer IG)
      occlusion            drop of the logit when the token becomes <unk> (padding is left alone)"""
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if embedding is None or method == "smoothgrad":
        raise ValueError(f"{method} on token ids needs an nn.Embedding layer (smoothgrad's input noise has no meaning "
                         "for ids)")
    if method == "saliency":
        grads = LayerGradientXActivation(model, embedding, multiply_by_inputs=False).attribute(ids, target=target)
        return grads.detach().norm(dim=-1)
    if method == "integrated-gradients":
        a = LayerIntegratedGradients(model, embedding).attribute(ids, baselines=torch.zeros_like(ids), target=target,
                                                                 n_steps=steps, internal_batch_size=internal_batch_size)
        return a.detach().sum(-1)
    with torch.no_grad():
        base = model(ids).gather(1, target.view(-1, 1)).squeeze(1)
        out = torch.zeros(ids.shape, dtype=torch.float32, device=ids.device)
        for t in range(ids.shape[1]):
            real = ids[:, t] != 0
            if real.any():
                hidden = ids.clone()
                hidden[:, t] = torch.where(real, torch.ones_like(ids[:, t]), ids[:, t])
                out[:, t] = (base - model(hidden).gather(1, target.view(-1, 1)).squeeze(1)) * real
    return out


def attention_weights(model: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """(N, T) attention over the input positions from the model's latest forward: the RNN's attention
    pooling, or the Transformer's last layer (mean over heads and over the real query positions)."""
    model.eval()
    with torch.no_grad():
        model(x)
    if getattr(model, "last_attention", None) is not None:
        return model.last_attention.detach().float()
    layers = [m for m in model.modules() if getattr(m, "last_attention", None) is not None and m is not model]
    if not layers:
        return None
    w = layers[-1].last_attention.detach().float().mean(1)  # (N, T, T): query x key
    real = (x != 0).float() if not x.is_floating_point() else torch.ones(w.shape[:2], device=w.device)
    return (w * real.unsqueeze(-1)).sum(1) / real.sum(1, keepdim=True).clamp(min=1)


def _occlusion(occ, x: torch.Tensor, target: torch.Tensor, time_major: bool = False) -> torch.Tensor:
    if time_major:  # (N, T, F): a stretch of T/8 steps of one variable at a time
        window = (max(1, x.shape[1] // 8), 1)
        return occ.attribute(x, sliding_window_shapes=window, strides=window, baselines=0.0, target=target,
                             perturbations_per_eval=64).detach()
    spatial = x.shape[2:] if x.dim() >= 3 else x.shape[1:]
    window = tuple(max(1, s // 7) for s in spatial)  # 4x4 on 28x28: about a stroke's width
    stride = tuple(max(1, w // 2) for w in window)
    if x.dim() >= 3:  # a window covers every channel at once
        window, stride = (x.shape[1], *window), (x.shape[1], *stride)
    return occ.attribute(x, sliding_window_shapes=window, strides=stride, baselines=0.0, target=target,
                         perturbations_per_eval=64).detach()
