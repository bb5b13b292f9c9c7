"""Recurrent and convolutional sequence models: an LSTM cell written out, attention over time steps,
RNN / LSTM / GRU encoders on torch's fused kernels, a temporal-convolution encoder, a character LM.

Shapes: B batch, T steps, F features per step (or token ids (B, T)), H hidden units, C outputs.
Heads: many-to-one (``output="last"``: one prediction per sequence), many-to-many (``"all"``: one per
step), one-to-many (``CharLM.generate``: a prefix in, a sequence out).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from deepstudy.models.padding import _CELLS, _PADDING_BLIND
from deepstudy.models.padding import PaddingBlindGRU, PaddingBlindLSTM, PaddingBlindRNN, _PaddingBlind  # noqa: F401


# ---------------------------------------------------------------------------- the LSTM cell, written out


class LSTMCell(nn.Module):
    """Hochreiter & Schmidhuber (1997) with a forget gate (Gers et al., 2000), torch's gate order i, f, g, o:
        [i f g o] = W_ih x + b_ih + W_hh h + b_hh;  c' = s(f) c + s(i) tanh(g);  h' = s(o) tanh(c').
    Parameter names and shapes equal nn.LSTM's layer 0, so its weights copy over one to one."""

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden, hidden))
        self.bias_ih, self.bias_hh = nn.Parameter(torch.empty(4 * hidden)), nn.Parameter(torch.empty(4 * hidden))
        bound = 1 / math.sqrt(hidden)  # nn.LSTM's initialization
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, g, o = (F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class WrittenLSTM(nn.Module):
    """One LSTM layer unrolled in Python over time: (B, T, F) -> (outputs (B, T, H), (h_T, c_T))."""

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden)

    def forward(self, x: torch.Tensor):
        h = c = x.new_zeros(x.shape[0], self.cell.hidden)
        outs = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            outs.append(h)
        return torch.stack(outs, 1), (h, c)


# ---------------------------------------------------------------------------- attention over time steps


class Attention(nn.Module):
    """Scores every encoder step against a query, softmax over steps, context = weighted sum.
      additive     v^T tanh(W_q q + W_k k_t)          (Bahdanau et al., 2015)
      dot          q . k_t                            (Luong et al., 2015)
      scaled-dot   q . k_t / sqrt(H)                  (Vaswani et al., 2017)
      argmax       one-hot at the best dot score: a hard choice with no gradient to the scores —
                   the encoder only learns through the one chosen step (seed 001 P5's problem)."""

    KINDS = ("additive", "dot", "scaled-dot", "argmax")

    def __init__(self, dim: int, kind: str = "additive"):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"attention must be one of {', '.join(self.KINDS)}, got {kind!r}")
        self.kind = kind
        if kind == "additive":
            self.w_query, self.w_key, self.v = (nn.Linear(dim, dim, bias=False), nn.Linear(dim, dim),
                                                nn.Linear(dim, 1, bias=False))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, pad_mask: torch.Tensor | None = None):
        """query (B, H), keys (B, T, H), pad_mask (B, T) -> (context (B, H), weights (B, T))."""
        if self.kind == "additive":
            scores = self.v(torch.tanh(self.w_query(query).unsqueeze(1) + self.w_key(keys))).squeeze(-1)
        else:
            scores = (keys @ query.unsqueeze(-1)).squeeze(-1)
            if self.kind == "scaled-dot":
                scores = scores / math.sqrt(keys.shape[-1])
        if pad_mask is not None:
            scores = scores.masked_fill(pad_mask, torch.finfo(scores.dtype).min)
        if self.kind == "argmax":
            weights = F.one_hot(scores.argmax(1), scores.shape[1]).to(keys.dtype)  # argmax: no gradient
        else:
            weights = scores.softmax(1)
        return (weights.unsqueeze(-1) * keys).sum(1), weights


# ---------------------------------------------------------------------------- encoders


def _embed(vocab_size: int | None, in_features: int | None, embed_dim: int, pad_id: int) -> tuple[nn.Module, int]:
    if vocab_size:
        return nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id), embed_dim
    if not in_features:
        raise ValueError("give vocab_size (token ids) or in_features (numeric steps)")
    return nn.Identity(), in_features


class RecurrentNet(nn.Module):
    """(embedding) -> RNN/LSTM/GRU (stacked, bidirectional, dropout between layers) -> (attention) -> head.
    Many-to-one pools with attention, the last real step or the mean; many-to-many predicts at every step."""

    def __init__(self, num_classes: int, *, vocab_size: int | None = None, in_features: int | None = None,
                 embed_dim: int = 128, cell: str = "lstm", hidden: int = 128, layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, attention: str | None = None,
                 pooling: str = "last", output: str = "last", pad_id: int = 0):
        super().__init__()
        if cell not in _CELLS or pooling not in ("last", "mean") or output not in ("last", "all"):
            raise ValueError(f"cell in {list(_CELLS)}, pooling in [last, mean], output in [last, all]; "
                             f"got {cell}, {pooling}, {output}")
        self.embed, size = _embed(vocab_size, in_features, embed_dim, pad_id)
        self.tokens, self.pad_id, self.pooling, self.output = bool(vocab_size), pad_id, pooling, output
        self.rnn = _PADDING_BLIND[cell](size, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                                        dropout=dropout if layers > 1 else 0.0)
        width = hidden * (2 if bidirectional else 1)
        self.attention = Attention(width, attention) if attention else None
        self.head = nn.Linear(width, num_classes)
        self.last_attention: torch.Tensor | None = None  # (B, T) of the latest forward, for attention maps

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        pad_mask = (x == self.pad_id) if self.tokens else None
        if lengths is None and pad_mask is not None:
            lengths = (~pad_mask).sum(1).clamp(min=1)
        emb = self.embed(x)
        states = self.rnn(emb, lengths)  # (B, T, width)
        if self.output == "all":
            return self.head(states)  # (B, T, C)
        last = (lengths - 1) if lengths is not None else torch.full((x.shape[0],), states.shape[1] - 1,
                                                                    device=x.device)
        if self.rnn.bidirectional:  # forward direction's last real step, backward direction's first
            half = states.shape[-1] // 2
            final = torch.cat([states[torch.arange(x.shape[0]), last, :half], states[:, 0, half:]], -1)
        else:
            final = states[torch.arange(x.shape[0]), last]
        if self.attention is not None:
            pooled, self.last_attention = self.attention(final, states, pad_mask)
        elif self.pooling == "mean":  # the encoder's states are zero at the padded steps
            pooled = states.sum(1) / (last + 1).unsqueeze(1).to(states.dtype)
        else:
            pooled = final
        return self.head(pooled)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (B, C, T) whose training statistics (and running averages) count only the real steps
    (``real`` (B, 1, T) bool): padding does not shift a layer's normalisation. Without ``real``, or in eval mode,
    it is nn.BatchNorm1d (same parameters and buffers)."""

    def forward(self, h: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        if real is None or not self.training:
            return super().forward(h)
        w, x = real.float(), h.float()  # statistics in fp32, also under bf16 autocast
        n = w.sum()
        mean = (x * w).sum((0, 2)) / n  # (C,)
        var = ((x - mean[:, None]) ** 2 * w).sum((0, 2)) / n
        if self.track_running_stats:
            with torch.no_grad():  # torch's update: momentum (or cumulative) average, unbiased variance
                self.num_batches_tracked += 1
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean, factor)
                self.running_var.lerp_(var * n / (n - 1).clamp(min=1), factor)
        out = (x - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps)
        if self.affine:
            out = out * self.weight[:, None] + self.bias[:, None]
        return out.to(h.dtype)


class ConvNet1d(nn.Module):
    """(embedding) -> [Conv1d -> BN -> ReLU -> (dilation grows 1, 2, 4, ...)] x blocks -> global max pool -> head.
    Every step of a layer is computed at once: the parallelism an RNN's time loop does not have.
    On token ids it is padding-blind (padding after the real steps, as the text batches put it): padded steps are zero
    before every convolution, as the convolution's own zero padding past the end would be, batch norm counts only real
    steps and the max pool reads only real steps, so a text's prediction does not depend on its batch's length."""

    def __init__(self, num_classes: int, *, vocab_size: int | None = None, in_features: int | None = None,
                 embed_dim: int = 128, channels: tuple[int, ...] = (128, 128), kernel_size: int = 5,
                 dilate: bool = False, dropout: float = 0.0, output: str = "last", pad_id: int = 0):
        super().__init__()
        self.embed, c = _embed(vocab_size, in_features, embed_dim, pad_id)
        self.tokens, self.pad_id, self.output = bool(vocab_size), pad_id, output
        blocks = []
        for i, c_out in enumerate(channels):
            d = 2 ** i if dilate else 1
            blocks += [nn.Conv1d(c, c_out, kernel_size, padding=d * (kernel_size - 1) // 2, dilation=d),
                       MaskedBatchNorm1d(c_out), nn.ReLU(), nn.Dropout(dropout)]
            c = c_out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        real = None
        if self.tokens:
            real = (x != self.pad_id).unsqueeze(1)  # (B, 1, T)
            real[:, :, 0] = True  # an empty text still has one (padding) step to read
            if bool(real.all()):
                real = None  # no padding in this batch: torch's fused batch norm, no masks
        h = self.embed(x).transpose(1, 2)  # (B, C, T)
        for layer in self.features:
            if isinstance(layer, nn.Conv1d) and real is not None:
                h = h * real
            h = layer(h, real) if isinstance(layer, MaskedBatchNorm1d) else layer(h)
        if self.output == "all":
            return self.head(h.transpose(1, 2))
        if real is not None:
            h = h.masked_fill(~real, torch.finfo(h.dtype).min)
        return self.head(h.amax(2))


class CharLM(nn.Module):
    """Character-level recurrent language model (Karpathy's char-rnn): ids (B, T) -> next-character logits
    (B, T, V) and the recurrent state, which the caller may carry into the next chunk of the same text."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden: int = 256, layers: int = 2, dropout: float = 0.2,
                 cell: str = "lstm"):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {', '.join(_CELLS)}, got {cell!r}")
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = _CELLS[cell](embed_dim, hidden, num_layers=layers, batch_first=True,
                                dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor, state=None):
        out, state = self.rnn(self.embed(ids), state)
        return self.head(self.drop(out)), state

    @torch.no_grad()
    def generate(self, prefix: torch.Tensor, length: int, *, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """One-to-many: feed ``prefix`` (T0,), then sample ``length`` ids from softmax(logits / temperature)."""
        self.eval()
        logits, state = self(prefix.unsqueeze(0))
        out = []
        for _ in range(length):
            probs = (logits[0, -1] / max(temperature, 1e-6)).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator)
            out.append(nxt)
            logits, state = self(nxt.view(1, 1), state)
        return torch.cat(out)
