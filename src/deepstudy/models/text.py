"""Registry entries of the sequence models; the modules live in rnn.py and transformer.py. ``rnn`` and
``conv1d`` read token ids (``vocab_size`` from the dataset's vocabulary) or numeric steps (T, F)
(``in_features`` = F, for forecasting); ``transformer`` reads token ids."""
from __future__ import annotations

from deepstudy.models.registry import register
from deepstudy.models.rnn import ConvNet1d, RecurrentNet
from deepstudy.models.transformer import TransformerEncoder


@register("rnn", family="rnn", inputs="sequence", tiny={"embed_dim": 16, "hidden": 16},
          description="Embedding -> RNN / LSTM / GRU (stacked, bidirectional, padding-blind) -> attention "
                      "(additive | dot | scaled-dot | argmax) or last step / mean -> linear.")
def rnn(num_classes: int, vocab_size: int | None = None, in_features: int | None = None, embed_dim: int = 128,
        cell: str = "lstm", hidden: int = 128, layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
        attention: str | None = None, pooling: str = "last"):
    return RecurrentNet(num_classes, vocab_size=vocab_size, in_features=in_features, embed_dim=embed_dim, cell=cell,
                        hidden=hidden, layers=layers, bidirectional=bidirectional, dropout=dropout, attention=attention,
                        pooling=pooling)


@register("conv1d", family="rnn", inputs="sequence", tiny={"embed_dim": 16, "channels": (16, 16)},
          description="Embedding -> temporal convolutions (BN, ReLU, optional growing dilation) -> global max pool "
                      "-> linear; padding-blind.")
def conv1d(num_classes: int, vocab_size: int | None = None, in_features: int | None = None, embed_dim: int = 128,
           channels: tuple[int, ...] = (128, 128), kernel_size: int = 5, dilate: bool = False, dropout: float = 0.0):
    return ConvNet1d(num_classes, vocab_size=vocab_size, in_features=in_features, embed_dim=embed_dim,
                     channels=tuple(channels), kernel_size=kernel_size, dilate=dilate, dropout=dropout)


@register("transformer", family="transformer", inputs="tokens", tiny={"dim": 16, "depth": 1, "heads": 2},
          description="Transformer encoder written from scratch: embeddings + sinusoidal or learned positions -> "
                      "N post- or pre-LN layers (multi-head attention with padding masks) -> mean or [CLS] pooling "
                      "-> linear. embed_dim (default: dim) embeds words in another size, projected to dim (ALBERT's "
                      "factorization: e.g. 384-d pretrained vectors into a 128-wide encoder); attention_dropout "
                      "(default: dropout) on the attention weights.")
def transformer(num_classes: int, vocab_size: int, dim: int = 256, depth: int = 4, heads: int = 4,
                hidden: int | None = None, max_len: int = 512, positions: str = "sinusoidal", pooling: str = "mean",
                norm_first: bool = False, dropout: float = 0.1, embed_dim: int | None = None,
                attention_dropout: float | None = None):
    return TransformerEncoder(vocab_size, num_classes, dim=dim, depth=depth, heads=heads, hidden=hidden,
                              max_len=max_len, positions=positions, pooling=pooling, norm_first=norm_first,
                              dropout=dropout, embed_dim=embed_dim, attention_dropout=attention_dropout)


# all-MiniLM-L6-v2's architecture (its config.json): BERT, 6 layers of 384, 12 heads, WordPiece vocabulary
MINILM = {"vocab_size": 30522, "dim": 384, "depth": 6, "heads": 12, "hidden": 1536, "max_len": 512}


@register("minilm", family="transformer", inputs="tokens",
          description="MiniLM-L6 (BERT, 6 x 384, 22.7M parameters) built by our encoder; a study loads "
                      "all-MiniLM-L6-v2's pretrained weights into it (pretrained: false keeps the random init) and "
                      "fine-tunes it with a new head. Reads WordPiece ids: data.tokenizer: wordpiece.")
def minilm(num_classes: int, vocab_size: int = MINILM["vocab_size"], pretrained: bool = True, pooling: str = "mean",
           dropout: float = 0.1):
    model = TransformerEncoder(vocab_size, num_classes, dim=MINILM["dim"], depth=MINILM["depth"],
                               heads=MINILM["heads"], hidden=MINILM["hidden"], max_len=MINILM["max_len"],
                               positions="learned", pooling=pooling, norm_first=False, dropout=dropout, act="gelu",
                               eps=1e-12, segments=2, embedding_norm=True, pad_id=0)
    model.pretrained_weights = "minilm" if pretrained else None  # loaded by the study (models never read files)
    return model
