"""Conv2D (im2col via strided views + one GEMM), MaxPool2D and AvgPool2D.

im2col here is a zero-copy strided *view* of the padded input, shape (N, C, kh, kw, Ho, Wo);
``np.tensordot`` turns it into one BLAS matrix product. col2im (the backward) adds the columns
back with one vectorized slice-add per kernel position — kh*kw iterations, never a loop over
pixels or examples.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from deepstudy.scratch.core import Module, Param, kaiming_uniform


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(xp: np.ndarray, kh: int, kw: int, stride: int, dilation: int, ho: int, wo: int) -> np.ndarray:
    """Padded (N, C, Hp, Wp) -> view (N, C, kh, kw, Ho, Wo): element [n,c,i,j,y,x] = xp[n,c,y*s+i*d,x*s+j*d]."""
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(xp.shape[0], xp.shape[1], kh, kw, ho, wo),
                      strides=(s0, s1, s2 * dilation, s3 * dilation, s2 * stride, s3 * stride), writeable=False)


def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], stride: int, dilation: int) -> np.ndarray:
    """Adjoint of im2col: (N, C, kh, kw, Ho, Wo) -> (N, C, Hp, Wp), overlapping windows summed."""
    _, _, kh, kw, ho, wo = cols.shape
    out = np.zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dilation, j * dilation
            out[:, :, y0:y0 + stride * ho:stride, x0:x0 + stride * wo:stride] += cols[:, :, i, j]
    return out


class Conv2D(Module):
    """As torch.nn.Conv2d (groups=1): weight (F, C, kh, kw), bias (F,)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, rng: np.random.Generator, *,
                 stride: int = 1, padding: int = 0, dilation: int = 1, bias: bool = True, dtype=np.float32):
        fan_in = in_channels * kernel_size * kernel_size
        self.W = Param(kaiming_uniform(rng, (out_channels, in_channels, kernel_size, kernel_size), fan_in, dtype))
        self.b = Param(kaiming_uniform(rng, (out_channels,), fan_in, dtype)) if bias else None
        self.k, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def forward(self, x):  # (N, C, H, W) -> (N, F, Ho, Wo)
        p, k = self.padding, self.k
        self.xp_shape = (x.shape[0], x.shape[1], x.shape[2] + 2 * p, x.shape[3] + 2 * p)
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        ho = output_size(x.shape[2], k, self.stride, p, self.dilation)
        wo = output_size(x.shape[3], k, self.stride, p, self.dilation)
        self.cols = im2col(xp, k, k, self.stride, self.dilation, ho, wo)
        out = np.tensordot(self.W.data, self.cols, axes=([1, 2, 3], [1, 2, 3]))  # (F, N, Ho, Wo)
        if self.b is not None:
            out += self.b.data[:, None, None, None]
        return np.ascontiguousarray(out.transpose(1, 0, 2, 3))

    def backward(self, dout):  # (N, F, Ho, Wo) -> (N, C, H, W)
        self.W.grad += np.tensordot(dout, self.cols, axes=([0, 2, 3], [0, 4, 5]))
        if self.b is not None:
            self.b.grad += dout.sum((0, 2, 3))
        dcols = np.tensordot(dout, self.W.data, axes=([1], [0]))  # (N, Ho, Wo, C, kh, kw)
        dxp = col2im(dcols.transpose(0, 3, 4, 5, 1, 2), self.xp_shape, self.stride, self.dilation)
        p = self.padding
        return dxp[:, :, p:dxp.shape[2] - p, p:dxp.shape[3] - p] if p else dxp


class _Pool2D(Module):
    def __init__(self, kernel_size: int, stride: int | None = None):
        self.k, self.stride = kernel_size, stride or kernel_size

    def _windows(self, x):
        ho = output_size(x.shape[2], self.k, self.stride, 0, 1)
        wo = output_size(x.shape[3], self.k, self.stride, 0, 1)
        self.in_shape = x.shape
        return im2col(x, self.k, self.k, self.stride, 1, ho, wo)  # (N, C, k, k, Ho, Wo)


class MaxPool2D(_Pool2D):
    def forward(self, x):
        w = self._windows(x)
        n, c, k, _, ho, wo = w.shape
        flat = w.reshape(n, c, k * k, ho, wo)
        self.argmax = flat.argmax(2)  # first maximum, as torch picks
        return np.take_along_axis(flat, self.argmax[:, :, None], 2)[:, :, 0]

    def backward(self, dout):
        n, c, ho, wo = dout.shape
        cols = np.zeros((n, c, self.k * self.k, ho, wo), dout.dtype)
        np.put_along_axis(cols, self.argmax[:, :, None], dout[:, :, None], 2)
        return col2im(cols.reshape(n, c, self.k, self.k, ho, wo), self.in_shape, self.stride, 1)


class AvgPool2D(_Pool2D):
    def forward(self, x):
        return self._windows(x).mean((2, 3))

    def backward(self, dout):
        n, c, ho, wo = dout.shape
        cols = np.broadcast_to((dout / (self.k * self.k))[:, :, None, None], (n, c, self.k, self.k, ho, wo))
        return col2im(cols, self.in_shape, self.stride, 1)
