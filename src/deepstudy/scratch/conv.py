"""Conv2D (channels-last im2col + one GEMM), MaxPool2D and AvgPool2D.

im2col works on the input in NHWC layout: a zero-copy strided view (N, Ho, Wo, kh, kw, C) that
reshapes into the (N*Ho*Wo, kh*kw*C) matrix of one BLAS product. Putting C last keeps each
kernel position's slice contiguous, which makes both the copy into the matrix and col2im (the
backward: one vectorized slice-add per kernel position, kh*kw iterations, never a loop over pixels
or examples) run at memory speed. Pooling compares the k*k shifted slices of the input directly.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from deepstudy.scratch.core import Module, Param, kaiming_uniform


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(xp: np.ndarray, kh: int, kw: int, stride: int, dilation: int, ho: int, wo: int) -> np.ndarray:
    """Padded NHWC (N, Hp, Wp, C) -> view (N, Ho, Wo, kh, kw, C): [n,y,x,i,j,c] = xp[n, y*s+i*d, x*s+j*d, c]."""
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(xp.shape[0], ho, wo, kh, kw, xp.shape[3]),
                      strides=(s0, s1 * stride, s2 * stride, s1 * dilation, s2 * dilation, s3), writeable=False)


def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], stride: int, dilation: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of im2col: (N, Ho, Wo, kh, kw, C) -> NHWC (N, Hp, Wp, C), overlapping windows summed."""
    _, ho, wo, kh, kw, _ = cols.shape
    if out is None:
        out = np.zeros(padded_shape, dtype=cols.dtype)
    else:
        out.fill(0)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dilation, j * dilation
            out[:, y0:y0 + stride * ho:stride, x0:x0 + stride * wo:stride] += cols[:, :, :, i, j]
    return out


class Conv2D(Module):
    """As torch.nn.Conv2d (groups=1): weight (F, C, kh, kw), bias (F,)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, rng: np.random.Generator, *,
                 stride: int = 1, padding: int = 0, dilation: int = 1, bias: bool = True, dtype=np.float32,
                 input_grad: bool = True):
        fan_in = in_channels * kernel_size * kernel_size
        self.W = Param(kaiming_uniform(rng, (out_channels, in_channels, kernel_size, kernel_size), fan_in, dtype))
        self.b = Param(kaiming_uniform(rng, (out_channels,), fan_in, dtype)) if bias else None
        self.k, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.input_grad = input_grad  # False for a network's first layer: nothing upstream needs dx
        self._buffers: dict[str, np.ndarray] = {}

    def _workspace(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A buffer kept between steps: allocating tens of MB afresh each step costs more in page
        faults than the matrix products themselves (measured 26 ms vs 1.9 ms for one GEMM)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[name] = np.empty(shape, dtype)
        return buf

    def forward(self, x):  # (N, C, H, W) -> (N, F, Ho, Wo)
        p, k = self.padding, self.k
        n, c, h, w = x.shape
        xp = np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (p, p), (p, p), (0, 0)))  # NHWC, padded
        self.ho = output_size(h, k, self.stride, p, self.dilation)
        self.wo = output_size(w, k, self.stride, p, self.dilation)
        self.xp_shape = xp.shape
        view = im2col(xp, k, k, self.stride, self.dilation, self.ho, self.wo)
        self.cols = self._workspace("cols", (n * self.ho * self.wo, k * k * c), x.dtype)
        np.copyto(self.cols.reshape(view.shape), view)  # the im2col copy, into a reused buffer
        w_mat = self.W.data.transpose(0, 2, 3, 1).reshape(len(self.W.data), -1)  # (F, kh*kw*C)
        out = self.cols @ w_mat.T  # (N*Ho*Wo, F): the one GEMM
        if self.b is not None:
            out += self.b.data
        return np.ascontiguousarray(out.reshape(n, self.ho, self.wo, -1).transpose(0, 3, 1, 2))

    def backward(self, dout):  # (N, F, Ho, Wo) -> (N, C, H, W)
        f, c, k = self.W.data.shape[0], self.W.data.shape[1], self.k
        d = np.ascontiguousarray(dout.transpose(0, 2, 3, 1)).reshape(-1, f)  # (N*Ho*Wo, F)
        self.W.grad += (d.T @ self.cols).reshape(f, k, k, c).transpose(0, 3, 1, 2)
        if self.b is not None:
            self.b.grad += d.sum(0)
        if not self.input_grad:
            return None
        w_mat = self.W.data.transpose(0, 2, 3, 1).reshape(f, -1)
        dcols = np.matmul(d, w_mat, out=self._workspace("dcols", self.cols.shape, d.dtype))
        dcols = dcols.reshape(len(dout), self.ho, self.wo, k, k, c)
        dxp = col2im(dcols, self.xp_shape, self.stride, self.dilation,
                     out=self._workspace("dxp", self.xp_shape, d.dtype))
        p = self.padding
        dxp = dxp[:, p:dxp.shape[1] - p, p:dxp.shape[2] - p] if p else dxp
        return np.ascontiguousarray(dxp.transpose(0, 3, 1, 2))


class _Pool2D(Module):
    def __init__(self, kernel_size: int, stride: int | None = None):
        self.k, self.stride = kernel_size, stride or kernel_size

    def _slices(self, shape):
        """The k*k shifted views of the input that line up with the output grid: (offset index, slice)."""
        ho = output_size(shape[2], self.k, self.stride, 0, 1)
        wo = output_size(shape[3], self.k, self.stride, 0, 1)
        s = self.stride
        for i in range(self.k):
            for j in range(self.k):
                yield i * self.k + j, (slice(None), slice(None), slice(i, i + s * ho, s), slice(j, j + s * wo, s))


class MaxPool2D(_Pool2D):
    def forward(self, x):
        self.in_shape = x.shape
        best, self.argmax = None, None
        for pos, sl in self._slices(x.shape):
            cand = x[sl]
            if best is None:
                best, self.argmax = cand.copy(), np.zeros(cand.shape, np.int16)
            else:
                better = cand > best  # strict: the first maximum wins, as in torch
                np.copyto(best, cand, where=better)
                np.putmask(self.argmax, better, pos)  # (boolean-index assignment is ~5x slower)
        return best

    def backward(self, dout):
        dx = np.zeros(self.in_shape, dout.dtype)
        for pos, sl in self._slices(self.in_shape):
            dx[sl] += np.where(self.argmax == pos, dout, 0)
        return dx


class AvgPool2D(_Pool2D):
    def forward(self, x):
        self.in_shape = x.shape
        return sum(x[sl] for _, sl in self._slices(x.shape)) / (self.k * self.k)

    def backward(self, dout):
        dx = np.zeros(self.in_shape, dout.dtype)
        share = dout / (self.k * self.k)
        for _, sl in self._slices(self.in_shape):
            dx[sl] += share
        return dx
