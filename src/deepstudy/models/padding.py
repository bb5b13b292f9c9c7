"""RNN / LSTM / GRU encoders that never read padding: torch's fused modules, with a forward that takes the real
lengths of a padded batch (used by rnn.RecurrentNet)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}  # torch's fused (cuDNN on GPU) modules


class _PaddingBlind:
    """Mixin for torch's fused nn.RNN / nn.LSTM / nn.GRU (same weights, names and init): forward(x (B, T, F),
    lengths (B,) or None) -> states (B, T, H * directions), zero at the padded steps, which no state has read.

    Padding comes after the real steps, so a forward direction's states there are exact as they are; a backward
    direction runs on each sequence reversed within its length, one layer at a time. Not packed
    (pack_padded_sequence): torch's CPU kernel for packed batches of mixed lengths is several times slower than the
    one for a plain padded batch (benchmarks: `python -m benchmarks rnn-padding`)."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            return super().forward(x)[0]
        steps = torch.arange(x.shape[1], device=x.device)
        lengths = lengths.to(x.device).unsqueeze(1)
        real = (steps < lengths).unsqueeze(-1)  # (B, T, 1)
        if not self.bidirectional:
            return super().forward(x)[0] * real
        flip = torch.where(real[..., 0], lengths - 1 - steps, steps)  # (B, T): reversed within length, its own inverse
        reverse = lambda t: t.gather(1, flip.unsqueeze(-1).expand_as(t))  # noqa: E731
        h = x
        for k in range(self.num_layers):
            h = torch.cat([self._layer(k, h, ""), reverse(self._layer(k, reverse(h), "_reverse"))], -1) * real
            if k < self.num_layers - 1:
                h = F.dropout(h, self.dropout, self.training)  # between layers, as the fused module's dropout
        return h

    def _layer(self, k: int, x: torch.Tensor, direction: str) -> torch.Tensor:
        """Layer k in one direction ('' or '_reverse') on the fused one-layer kernel, with this module's weights."""
        if not hasattr(self, "_one_layer"):  # shapes only: meta device (no memory, no random draws), not a child
            fused = next(c for c in type(self).__mro__ if c in _CELLS.values())
            extra = {"nonlinearity": self.nonlinearity} if fused is nn.RNN else {}
            self._one_layer = [fused(self.input_size if i == 0 else 2 * self.hidden_size, self.hidden_size,
                                     batch_first=True, device="meta", **extra) for i in range(self.num_layers)]
        one = self._one_layer[k]
        weights = {n: getattr(self, n.replace("_l0", f"_l{k}{direction}")) for n in one._flat_weights_names}
        return torch.func.functional_call(one, weights, (x,))[0]


class PaddingBlindRNN(_PaddingBlind, nn.RNN):
    pass


class PaddingBlindLSTM(_PaddingBlind, nn.LSTM):
    pass


class PaddingBlindGRU(_PaddingBlind, nn.GRU):
    pass


_PADDING_BLIND = {"rnn": PaddingBlindRNN, "lstm": PaddingBlindLSTM, "gru": PaddingBlindGRU}
