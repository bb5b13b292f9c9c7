"""Conv2D (channels-last im2col + GEMM), MaxPool2D and AvgPool2D.

im2col works on the input in NHWC layout: a zero-copy strided view (N, Ho, Wo, kh, kw, C) that
reshapes into the (N*Ho*Wo, kh*kw*C) matrix of a BLAS product. Putting C last keeps each kernel
position's slice contiguous, which makes both the copy into the matrix and col2im (the backward:
one vectorized slice-add per kernel position, kh*kw iterations, never a loop over pixels or
examples) run at memory speed. Both go a few images at a time (``Conv2D.chunk_bytes``), so each
chunk is multiplied or added while it is still in cache. Pooling compares the k*k shifted slices
of the input directly.

Every layer here takes ``channels_last``: False reads and writes (N, C, H, W) like torch; True keeps
(N, H, W, C) from layer to layer (``ToChannelsLast`` at the start of a network, ``Flatten(channels_last=True)``
at the end), which saves two transposes per convolution and makes pooling's strided slices contiguous
in C — together 2x faster training for a LeNet (benchmarks/scratch_speed.py). Weights keep torch's
(F, C, kh, kw) layout either way, so checkpoints and the torch oracle tests are layout-free.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from deepstudy.scratch.core import Module, Param, kaiming_uniform


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(xp: np.ndarray, kh: int, kw: int, stride: int, dilation: int, ho: int, wo: int) -> np.ndarray:
    """Padded NHWC (N, Hp, Wp, C) -> view (N, Ho, Wo, kh, kw, C): [n,y,x,i,j,c] = xp[n, y*s+i*d, x*s+j*d, c].

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> xp = np.arange(9.0).reshape(1, 3, 3, 1)              # one 3x3 image, one channel (NHWC)
        >>> cols = scratch.im2col(xp, 2, 2, 1, 1, 2, 2)            # 2x2 windows, stride 1: a 2x2 output grid
        >>> cols.shape, cols[0, 0, 1, :, :, 0].tolist()
        ((1, 2, 2, 2, 2, 1), [[1.0, 2.0], [4.0, 5.0]])
    """
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(xp.shape[0], ho, wo, kh, kw, xp.shape[3]),
                      strides=(s0, s1 * stride, s2 * stride, s1 * dilation, s2 * dilation, s3), writeable=False)


def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], stride: int, dilation: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of im2col: (N, Ho, Wo, kh, kw, C) -> NHWC (N, Hp, Wp, C), overlapping windows summed.
    Fastest when ``cols`` is a view of a kernel-major (kh, kw, N, Ho, Wo, C) array (contiguous slices).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> cols = np.ones((1, 2, 2, 2, 2, 1))
        >>> scratch.col2im(cols, (1, 3, 3, 1), 1, 1)[0, :, :, 0].tolist()   # how many windows cover each pixel
        [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
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


class ToChannelsLast(Module):
    """(N, C, H, W) -> (N, H, W, C): the first layer of a channels-last network."""

    def forward(self, x):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))

    def backward(self, dout):  # None when the next layer computed no input gradient (nothing needs it)
        return None if dout is None else np.ascontiguousarray(dout.transpose(0, 3, 1, 2))


class Conv2D(Module):
    """As torch.nn.Conv2d (groups=1): weight (F, C, kh, kw), bias (F,)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, rng: np.random.Generator, *,
                 stride: int = 1, padding: int = 0, dilation: int = 1, bias: bool = True, dtype=np.float32,
                 input_grad: bool = True, channels_last: bool = False):
        fan_in = in_channels * kernel_size * kernel_size
        self.W = Param(kaiming_uniform(rng, (out_channels, in_channels, kernel_size, kernel_size), fan_in, dtype))
        self.b = Param(kaiming_uniform(rng, (out_channels,), fan_in, dtype)) if bias else None
        self.k, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.input_grad = input_grad  # False for a network's first layer: nothing upstream needs dx
        self.channels_last = channels_last  # input and output (N, H, W, C) instead of (N, C, H, W)

    def _padded(self, name: str, x: np.ndarray, pad: int) -> np.ndarray:
        """NHWC ``x`` inside a reused zero border of ``pad`` (a negative pad crops)."""
        if pad <= 0:
            return x[:, -pad:x.shape[1] + pad, -pad:x.shape[2] + pad] if pad else x
        n, h, w, c = x.shape
        buf = self._workspace(name, (n, h + 2 * pad, w + 2 * pad, c), x.dtype, fill=0)
        buf[:, pad:pad + h, pad:pad + w] = x
        return buf

    def forward(self, x):  # (N, C, H, W) -> (N, F, Ho, Wo); channels_last: (N, H, W, C) -> (N, Ho, Wo, F)
        p, k = self.padding, self.k
        x = x if self.channels_last else x.transpose(0, 2, 3, 1)
        n, h, w, c = x.shape
        xp = self._padded("xp", x, p)
        self.ho = output_size(h, k, self.stride, p, self.dilation)
        self.wo = output_size(w, k, self.stride, p, self.dilation)
        self.xp_shape = xp.shape
        view = im2col(xp, k, k, self.stride, self.dilation, self.ho, self.wo)
        rows, f = self.ho * self.wo, len(self.W.data)
        w_mat = self.W.data.transpose(0, 2, 3, 1).reshape(f, -1)  # (F, kh*kw*C)
        out = np.empty((n * rows, f), x.dtype)  # (N*Ho*Wo, F)
        if c == 1:  # one input channel: copy kernel-major, (kh*kw, M) — 5x faster than gathering 4-byte runs
            cols_t = self._workspace("cols", (k * k, n * rows), x.dtype)
            np.copyto(cols_t.reshape(k, k, 1, n, self.ho, self.wo), view.transpose(3, 4, 5, 0, 1, 2))
            self.cols = cols_t.T  # (M, kh*kw*C) as a view: BLAS reads either layout at full speed
            np.matmul(self.cols, w_mat.T, out=out)
        else:  # C contiguous runs: row-major (M, kh*kw*C) copies fastest (4x the kernel-major copy at C=16)
            self.cols = self._workspace("cols", (n * rows, k * k * c), x.dtype)
            cols6 = self.cols.reshape(view.shape)
            chunk = self._images_per_chunk(n, rows * k * k * c * x.itemsize)
            for b0 in range(0, n, chunk):  # copy a chunk, multiply it while it is in cache: 1.3x the whole batch
                np.copyto(cols6[b0:b0 + chunk], view[b0:b0 + chunk])
                np.matmul(self.cols[b0 * rows:(b0 + chunk) * rows], w_mat.T, out=out[b0 * rows:(b0 + chunk) * rows])
        if self.b is not None:
            out += self.b.data
        out = out.reshape(n, self.ho, self.wo, -1)
        return out if self.channels_last else np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def backward(self, dout):  # gradient in the layout of forward's output -> in the layout of its input
        f, c, k = self.W.data.shape[0], self.W.data.shape[1], self.k
        dout = dout if self.channels_last else dout.transpose(0, 2, 3, 1)
        d = np.ascontiguousarray(dout).reshape(-1, f)  # (N*Ho*Wo, F)
        self.W.grad += (self.cols.T @ d).T.reshape(f, k, k, c).transpose(0, 3, 1, 2)  # cols^T d: 1.3-1.7x d^T cols
        if self.b is not None:  # column sums as a GEMV with ones: 9x faster than d.sum(0) on (N*Ho*Wo, F)
            self.b.grad += self._workspace("ones", (len(d),), d.dtype, fill=1) @ d
        if not self.input_grad:
            return None
        dx = self._input_grad(d, len(dout))
        return dx if self.channels_last else np.ascontiguousarray(dx.transpose(0, 3, 1, 2))

    chunk_bytes = 4 << 20  # the work im2col and col2im do a chunk at a time (L3-sized; tests make it small)

    def _images_per_chunk(self, n: int, bytes_per_image: int) -> int:
        return max(1, min(n, self.chunk_bytes // bytes_per_image))

    def _input_grad(self, d: np.ndarray, n: int) -> np.ndarray:
        """dx from dout (N*Ho*Wo, F), a few images at a time: one batched GEMM per kernel position into
        a kernel-major buffer (kh*kw, B*Ho*Wo, C), then col2im. Kernel-major makes each of col2im's kh*kw
        slices contiguous (6x faster than the (N, Ho, Wo, kh, kw, C) layout, whose 64-byte runs lie
        1.6 kB apart); chunks of ~chunk_bytes are added while still in cache (1.6x faster than the whole
        batch at once); both together ~1.8x faster than dx as a "full" convolution of dout."""
        f, c, k, rows = self.W.data.shape[0], self.W.data.shape[1], self.k, self.ho * self.wo
        w_k = self.W.data.transpose(2, 3, 0, 1).reshape(k * k, f, c)  # (kh*kw, F, C): one (F, C) map per position
        chunk = self._images_per_chunk(n, k * k * rows * c * d.itemsize)
        space = self._workspace("dcols", (k * k * chunk * rows * c,), d.dtype)
        dxp = self._workspace("dxp", self.xp_shape, d.dtype)
        for b0 in range(0, n, chunk):
            b = min(chunk, n - b0)
            dcols = np.matmul(d[b0 * rows:(b0 + b) * rows], w_k, out=space[:k * k * b * rows * c].reshape(k * k, -1, c))
            dcols = dcols.reshape(k, k, b, self.ho, self.wo, c).transpose(2, 3, 4, 0, 1, 5)  # im2col's shape, a view
            col2im(dcols, (b, *self.xp_shape[1:]), self.stride, self.dilation, out=dxp[b0:b0 + b])
        p = self.padding
        return dxp[:, p:dxp.shape[1] - p, p:dxp.shape[2] - p] if p else dxp


class _Pool2D(Module):
    def __init__(self, kernel_size: int, stride: int | None = None, channels_last: bool = False):
        self.k, self.stride, self.channels_last = kernel_size, stride or kernel_size, channels_last

    def _slices(self, shape):
        """The k*k shifted views of the input that line up with the output grid: (offset index, slice)."""
        h_axis = 1 if self.channels_last else 2
        ho = output_size(shape[h_axis], self.k, self.stride, 0, 1)
        wo = output_size(shape[h_axis + 1], self.k, self.stride, 0, 1)
        s, lead = self.stride, (slice(None),) * h_axis
        for i in range(self.k):
            for j in range(self.k):
                yield i * self.k + j, lead + (slice(i, i + s * ho, s), slice(j, j + s * wo, s))


class MaxPool2D(_Pool2D):
    """Forward keeps the maxima; backward finds, per window, the first position that holds the
    maximum (as torch does) with boolean algebra — masked stores (putmask/copyto where) are ~10x slower."""

    def forward(self, x):
        self.x = x
        slices = [sl for _, sl in self._slices(x.shape)]
        self.best = x[slices[0]].copy()
        for sl in slices[1:]:
            np.maximum(self.best, x[sl], out=self.best)
        return self.best

    def backward(self, dout):  # every step writes into reused arrays (3x faster than fresh temporaries)
        overlap = self.stride < self.k
        dx = self._workspace("dx", self.x.shape, dout.dtype, fill=0)  # rows no window covers stay zero
        hit, taken = (self._workspace(name, self.best.shape, bool) for name in ("hit", "taken"))
        if overlap:
            dx.fill(0)
        for idx, sl in self._slices(self.x.shape):
            np.equal(self.x[sl], self.best, out=hit)
            if idx:  # the first maximum of each window takes the gradient: hit and not taken before
                np.greater(hit, taken, out=hit)
                np.logical_or(taken, hit, out=taken)
            else:
                np.copyto(taken, hit)
            if overlap:
                dx[sl] += dout * hit
            else:  # windows do not overlap: a plain store
                np.multiply(dout, hit, out=dx[sl])
        return dx


class AvgPool2D(_Pool2D):
    """Average pooling over ``kernel_size`` x ``kernel_size`` windows (NCHW, or NHWC with ``channels_last``).

    Example:
        >>> import numpy as np
        >>> from deepstudy import scratch
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> scratch.AvgPool2D(2)(x)[0, 0].tolist()
        [[2.5, 4.5], [10.5, 12.5]]
    """
    def forward(self, x):
        self.in_shape = x.shape
        return sum(x[sl] for _, sl in self._slices(x.shape)) / (self.k * self.k)

    def backward(self, dout):
        dx = np.zeros(self.in_shape, dout.dtype)
        share = dout / (self.k * self.k)
        for _, sl in self._slices(self.in_shape):
            dx[sl] += share
        return dx
