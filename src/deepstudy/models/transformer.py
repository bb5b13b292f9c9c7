"""A Transformer encoder written out (Vaswani et al., 2017) — no nn.MultiheadAttention inside.

Top to bottom: multi-head attention with a padding mask, the position-wise feed-forward block,
one encoder layer (post-LN as in the paper and BERT, or pre-LN), token + position embeddings
(sinusoidal or learned), the encoder with mean or [CLS] pooling and a classifier head. The names
of the parameters follow BERT's layout closely enough that ``bert_state_dict`` maps a Hugging
Face BERT checkpoint (all-MiniLM-L6-v2) onto it one tensor at a time.

Shapes: B batch, T tokens, D model width, H heads, d = D / H.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """softmax(Q K^T / sqrt(d) + mask) V in H heads, then an output projection (§3.2.2)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D); pad_mask (B, T) True at padding -> (output (B, T, D), weights (B, H, T, T))."""
        b, t, dim = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, H, T, d)
            return y.view(b, t, self.heads, dim // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        # (B, H, T, T); scaling q is T/d times cheaper
        scores = (q / math.sqrt(dim // self.heads)) @ k.transpose(-2, -1)
        if pad_mask is not None:  # padded keys get no weight; finite fill keeps all-padding rows NaN-free
            scores = scores.masked_fill(pad_mask[:, None, None, :], torch.finfo(scores.dtype).min)
        weights = scores.softmax(-1)
        out = (self.dropout(weights) @ v).transpose(1, 2).reshape(b, t, dim)
        return self.out(out), weights


class FeedForward(nn.Sequential):
    """Linear(D, F) -> activation -> Linear(F, D), applied to each position alone (§3.3)."""

    def __init__(self, dim: int, hidden: int, act: str = "gelu", dropout: float = 0.0):
        super().__init__(nn.Linear(dim, hidden), nn.GELU() if act == "gelu" else nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, dim))


class EncoderLayer(nn.Module):
    """post-LN: x = LN(x + Drop(Attn(x))); x = LN(x + Drop(FF(x))).  pre-LN: x = x + Drop(Attn(LN(x))); ..."""

    def __init__(self, dim: int, heads: int, hidden: int, *, dropout: float = 0.1, act: str = "gelu",
                 norm_first: bool = False, eps: float = 1e-5, attention_dropout: float | None = None):
        # attention_dropout: on the (B, H, T, T) weights, BERT's attention_probs_dropout (default: dropout)
        super().__init__()
        self.attention = MultiHeadAttention(dim, heads, dropout if attention_dropout is None else attention_dropout)
        self.attention_norm = nn.LayerNorm(dim, eps=eps)
        self.feed_forward = FeedForward(dim, hidden, act)
        self.output_norm = nn.LayerNorm(dim, eps=eps)
        self.dropout, self.norm_first = nn.Dropout(dropout), norm_first
        self.last_attention: torch.Tensor | None = None  # (B, H, T, T) of the latest forward, for attention maps

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.norm_first:
            a, self.last_attention = self.attention(self.attention_norm(x), pad_mask)
            x = x + self.dropout(a)
            return x + self.dropout(self.feed_forward(self.output_norm(x)))
        a, self.last_attention = self.attention(x, pad_mask)
        x = self.attention_norm(x + self.dropout(a))
        return self.output_norm(x + self.dropout(self.feed_forward(x)))


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim): PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(...) (§3.5)."""
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(position * rate), torch.cos(position * rate[: dim // 2])
    return pe.float()


class Embeddings(nn.Module):
    """token (-> projection) + position (+ segment, as BERT) -> (LayerNorm) -> dropout.

    ``embed_dim`` != ``dim``: tokens are embedded in ``embed_dim`` and projected to ``dim`` by one linear map —
    ALBERT's factorized embedding (Lan et al., 2019, §3.1); it lets 384-d pretrained word vectors feed a narrower
    encoder, and the vocabulary table costs V·E + E·D instead of V·D."""

    def __init__(self, vocab_size: int, dim: int, max_len: int, *, positions: str = "sinusoidal", segments: int = 0,
                 norm: bool = False, eps: float = 1e-5, dropout: float = 0.1, pad_id: int = 0,
                 embed_dim: int | None = None):
        super().__init__()
        if positions not in ("sinusoidal", "learned"):
            raise ValueError(f"positions must be 'sinusoidal' or 'learned', got {positions!r}")
        embed_dim = embed_dim or dim
        self.tokens = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.project = nn.Linear(embed_dim, dim) if embed_dim != dim else nn.Identity()
        if positions == "learned":
            self.positions = nn.Embedding(max_len, dim)
        else:
            self.register_buffer("sinusoid", sinusoidal_positions(max_len, dim), persistent=False)
        self.segments = nn.Embedding(segments, dim) if segments else None
        self.norm = nn.LayerNorm(dim, eps=eps) if norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        pos = self.positions.weight[:t] if hasattr(self, "positions") else self.sinusoid[:t]
        x = self.project(self.tokens(ids)) + pos
        if self.segments is not None:  # one segment: every token is type 0
            x = x + self.segments.weight[0]
        return self.dropout(self.norm(x))


class TransformerEncoder(nn.Module):
    """ids (B, T) -> embeddings -> N encoder layers -> pooled (B, D) -> logits (B, classes)."""

    def __init__(self, vocab_size: int, num_classes: int = 2, *, dim: int = 256, depth: int = 4, heads: int = 4,
                 hidden: int | None = None, max_len: int = 512, positions: str = "sinusoidal", pooling: str = "mean",
                 norm_first: bool = False, dropout: float = 0.1, act: str = "gelu", eps: float = 1e-5,
                 segments: int = 0, embedding_norm: bool = False, pad_id: int = 0, embed_dim: int | None = None,
                 attention_dropout: float | None = None):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.pooling, self.pad_id = pooling, pad_id
        self.embeddings = Embeddings(vocab_size, dim, max_len, positions=positions, segments=segments,
                                     norm=embedding_norm, eps=eps, dropout=dropout, pad_id=pad_id, embed_dim=embed_dim)
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, hidden or 4 * dim, dropout=dropout, act=act,
                                                 norm_first=norm_first, eps=eps, attention_dropout=attention_dropout)
                                    for _ in range(depth))
        self.final_norm = nn.LayerNorm(dim, eps=eps) if norm_first else nn.Identity()  # pre-LN ends un-normalized
        self.head = nn.Linear(dim, num_classes)

    def encode(self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) hidden states; padding is where ``pad_mask`` is True (default: ids == pad_id)."""
        pad_mask = ids == self.pad_id if pad_mask is None else pad_mask
        x = self.embeddings(ids)
        for layer in self.layers:
            x = layer(x, pad_mask)
        return self.final_norm(x)

    def pool(self, h: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return h[:, 0]
        keep = (~pad_mask).unsqueeze(-1).to(h.dtype)  # mean over real tokens only
        return (h * keep).sum(1) / keep.sum(1).clamp(min=1)

    def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        pad_mask = ids == self.pad_id if pad_mask is None else pad_mask
        return self.head(self.pool(self.encode(ids, pad_mask), pad_mask))


def bert_state_dict(bert: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A Hugging Face BertModel state dict renamed to ours (post-LN, learned positions, one segment).
    The pooler ([CLS] -> tanh dense) is not part of the encoder and is left out."""
    out = {"embeddings.tokens.weight": bert["embeddings.word_embeddings.weight"],
           "embeddings.positions.weight": bert["embeddings.position_embeddings.weight"],
           "embeddings.segments.weight": bert["embeddings.token_type_embeddings.weight"],
           "embeddings.norm.weight": bert["embeddings.LayerNorm.weight"],
           "embeddings.norm.bias": bert["embeddings.LayerNorm.bias"]}
    names = {"attention.query": "attention.self.query", "attention.key": "attention.self.key",
             "attention.value": "attention.self.value", "attention.out": "attention.output.dense",
             "attention_norm": "attention.output.LayerNorm", "feed_forward.0": "intermediate.dense",
             "feed_forward.3": "output.dense", "output_norm": "output.LayerNorm"}
    depth = 1 + max(int(k.split(".")[2]) for k in bert if k.startswith("encoder.layer."))
    for i in range(depth):
        for ours, theirs in names.items():
            for p in ("weight", "bias"):
                out[f"layers.{i}.{ours}.{p}"] = bert[f"encoder.layer.{i}.{theirs}.{p}"]
    return out


def mean_pool(h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence-transformers' pooling: mean of the token vectors where attention_mask is 1."""
    keep = attention_mask.unsqueeze(-1).to(h.dtype)
    return (h * keep).sum(1) / keep.sum(1).clamp(min=1e-9)
