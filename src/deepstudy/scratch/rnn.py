"""Vanilla RNN and LSTM layers with backpropagation through time (batch-first, one layer).

Weights are laid out as torch.nn.RNN / nn.LSTM (``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H),
two biases; LSTM gate order i, f, g, o), so torch's weights copy across for the oracle tests.
``forward`` returns every hidden state (N, T, H): many-to-many uses all of them, many-to-one
takes ``[:, -1]`` and passes a gradient that is zero except at the last step. After ``backward``,
``grad_norms[t]`` is the batch-mean norm of dL/dh_t — how much of the loss's gradient reaches step t.
"""
from __future__ import annotations

import numpy as np

from deepstudy.scratch.core import Module, Param
from deepstudy.scratch.layers import sigmoid


class _Recurrent(Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float32):
        bound = 1.0 / np.sqrt(hidden_size)  # torch's init for recurrent layers
        g = self.gates * hidden_size

        def u(*shape):
            return rng.uniform(-bound, bound, size=shape).astype(dtype)

        self.weight_ih, self.weight_hh = Param(u(g, input_size)), Param(u(g, hidden_size))
        self.bias_ih, self.bias_hh = Param(u(g)), Param(u(g))
        self.hidden_size = hidden_size


class RNN(_Recurrent):
    """h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)."""

    def forward(self, x, h0=None):  # (N, T, D) -> (N, T, H)
        n, t, _ = x.shape
        h = np.zeros((n, self.hidden_size), x.dtype) if h0 is None else h0
        self.x, self.hs = x, [h]
        xw = x @ self.weight_ih.data.T + self.bias_ih.data + self.bias_hh.data  # all steps at once: (N, T, H)
        for step in range(t):
            h = np.tanh(xw[:, step] + h @ self.weight_hh.data.T)
            self.hs.append(h)
        return np.stack(self.hs[1:], 1)

    def backward(self, dout):  # (N, T, H) -> (N, T, D); also fills self.dh0
        n, t, _ = dout.shape
        dx_pre = np.zeros_like(dout)  # gradient at the pre-activation of each step
        dh = np.zeros_like(self.hs[0])
        self.grad_norms = np.zeros(t)  # mean over the batch of ||dL/dh_t||: vanishing or exploding through time
        for step in reversed(range(t)):
            dh = dh + dout[:, step]
            self.grad_norms[step] = np.linalg.norm(dh, axis=1).mean()
            da = dh * (1 - self.hs[step + 1] ** 2)
            dx_pre[:, step] = da
            self.weight_hh.grad += da.T @ self.hs[step]
            dh = da @ self.weight_hh.data
        self.dh0 = dh
        flat = dx_pre.reshape(n * t, -1)
        self.weight_ih.grad += flat.T @ self.x.reshape(n * t, -1)
        self.bias_ih.grad += flat.sum(0)
        self.bias_hh.grad += flat.sum(0)
        return dx_pre @ self.weight_ih.data


class LSTM(_Recurrent):
    """Hochreiter & Schmidhuber (1997), in torch's formulation: c = f*c + i*g, h = o*tanh(c)."""

    gates = 4

    def forward(self, x, state=None):  # (N, T, D) -> (N, T, H)
        n, t, _ = x.shape
        hsz = self.hidden_size
        h, c = (np.zeros((n, hsz), x.dtype), np.zeros((n, hsz), x.dtype)) if state is None else state
        self.x, self.cache, self.h0, self.c0 = x, [], h, c
        xw = x @ self.weight_ih.data.T + self.bias_ih.data + self.bias_hh.data  # (N, T, 4H)
        out = []
        for step in range(t):
            a = xw[:, step] + h @ self.weight_hh.data.T
            i, f = sigmoid(a[:, :hsz]), sigmoid(a[:, hsz:2 * hsz])
            g, o = np.tanh(a[:, 2 * hsz:3 * hsz]), sigmoid(a[:, 3 * hsz:])
            c_prev, h_prev = c, h
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            self.cache.append((i, f, g, o, c_prev, h_prev, tc))
            out.append(h)
        return np.stack(out, 1)

    def backward(self, dout):  # (N, T, H) -> (N, T, D); also fills self.dh0, self.dc0
        n, t, hsz = dout.shape
        da_all = np.zeros((n, t, 4 * hsz), dout.dtype)
        dh, dc = np.zeros((n, hsz), dout.dtype), np.zeros((n, hsz), dout.dtype)
        self.grad_norms = np.zeros(t)  # mean over the batch of ||dL/dh_t||
        for step in reversed(range(t)):
            i, f, g, o, c_prev, h_prev, tc = self.cache[step]
            dh = dh + dout[:, step]
            self.grad_norms[step] = np.linalg.norm(dh, axis=1).mean()
            do = dh * tc
            dc = dc + dh * o * (1 - tc ** 2)
            di, df, dg = dc * g, dc * c_prev, dc * i
            da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], 1)
            da_all[:, step] = da
            self.weight_hh.grad += da.T @ h_prev
            dh = da @ self.weight_hh.data
            dc = dc * f
        self.dh0, self.dc0 = dh, dc
        flat = da_all.reshape(n * t, -1)
        self.weight_ih.grad += flat.T @ self.x.reshape(n * t, -1)
        self.bias_ih.grad += flat.sum(0)
        self.bias_hh.grad += flat.sum(0)
        return da_all @ self.weight_ih.data
