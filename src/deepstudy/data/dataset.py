"""The in-memory dataset: train / val / test splits as tensors, their mini-batches, and what a study does to a
loaded dataset (labels permuted, text as token ids)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from deepstudy.config import DataConfig
from deepstudy.data import augment as _augment
from deepstudy.data import tokens as _tokens
from deepstudy.data.loader import Batches, ImageTransform
from deepstudy.data.tokens import BucketBatches
from deepstudy.errors import UserError


@dataclass
class Dataset:
    """One dataset in memory: train / val / test splits as tensors (``x_train``, ``y_train``, ...), class names, and
    what was done to it (``notes``, ``source``). ``batches(split, batch_size)`` gives its mini-batches as models read
    them (images normalized with training statistics, augmented when training).

    Example:
        >>> import torch
        >>> from deepstudy import data
        >>> x, y = torch.randn(10, 3), torch.arange(10) % 2
        >>> ds = data.Dataset("toy", "table", ["a", "b"], x[:6], y[:6], x[6:8], y[6:8], x[8:], y[8:])
        >>> ds.input_shape, ds.num_classes, len(ds.batches("train", 4))
        ((3,), 2, 2)
    """
    name: str
    kind: str  # "image" | "table" | "text" (x: NumPy arrays of strings) | "tokens" | "series" | "nab" |
    #            "corpus" (x: (N,) character ids)
    classes: list[str]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor | None = None  # images: per-channel statistics of the training split
    std: torch.Tensor | None = None
    source: dict = field(default_factory=dict)  # folder, files and sha256, license, description
    notes: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    lengths: dict[str, torch.Tensor] = field(default_factory=dict)  # tokens: real tokens per row, per split
    vocab: list[str] | None = None  # tokens: id -> word
    extra: dict = field(default_factory=dict)  # series: target scaler (mean, std), horizon, persistence forecasts

    @property
    def input_shape(self) -> tuple[int, ...]:
        """What a model reads (ImageNet inputs: (3, N, N) made per batch from the stored images)."""
        return tuple(self.extra.get("model_input") or self.x_train.shape[1:])

    @property
    def vocab_size(self) -> int | None:
        return len(self.vocab) if self.vocab else None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def batches(self, split: str, batch_size: int, *, train: bool = False, augment: tuple[str, ...] = (),
                seed: int = 0, device: torch.device | str = "cpu") -> Batches:
        """Training batches are shuffled (and augmented); evaluation batches keep order."""
        x, y = self.split(split)
        transform = self.transform(augment if train else ())
        if self.kind == "tokens":
            return BucketBatches(x.to(device), y.to(device), self.lengths[split], batch_size, shuffle=train, seed=seed)
        return Batches(x.to(device), y.to(device), batch_size, shuffle=train, transform=transform, seed=seed)

    def transform(self, augment: tuple[str, ...] = ()) -> ImageTransform | None:
        """The per-batch transform: images -> float, (augmented), normalized; tables need none."""
        if self.kind != "image":
            if augment:
                raise UserError(f"data.augment applies to images; dataset '{self.name}' is {self.kind} — "
                                "remove data.augment")
            return None
        return ImageTransform(self.mean, self.std, _augment.compose(_augment.parse(augment)) if augment else None,
                              size=self.extra.get("model_input", (None,) * 3)[-1])

    def float_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as the models see it, without augmentation: images as normalized floats, other inputs as they are."""
        transform = self.transform()
        return (transform(x, torch.Generator()) if transform is not None else x).float()

    def summary(self) -> dict:
        def counts(y: torch.Tensor) -> list[int]:
            return np.bincount(np.asarray(y), minlength=self.num_classes).tolist()
        return {
            "name": self.name, "kind": self.kind, "classes": self.classes, "input_shape": list(self.input_shape),
            "sizes": self.extra.get("sizes") or {s: len(getattr(self, f"y_{s}")) for s in ("train", "val", "test")},
            "class_counts": None if self.kind in ("series", "corpus") else {s: counts(getattr(self, f"y_{s}"))
                                                                             for s in ("train", "val", "test")},
            "source": self.source, "notes": self.notes, "feature_names": self.feature_names,
            **({"vocab_size": self.vocab_size} if self.vocab else {}),
        }


def permute_labels(ds: Dataset, seed: int) -> Dataset:
    """The same inputs with training and validation labels shuffled (Zhang et al., 2017; Adebayo et al., 2018)."""
    g = np.random.default_rng(seed)
    y_train, y_val = (np.asarray(ds.y_train)[g.permutation(len(ds.y_train))],
                      np.asarray(ds.y_val)[g.permutation(len(ds.y_val))])
    t = torch.as_tensor
    return replace(ds, y_train=t(y_train), y_val=t(y_val), notes=[*ds.notes, "training and validation labels permuted "
                   "at random (test labels kept): the model can only memorize — a control, not a result"])


def tokenize(ds: Dataset, cfg: DataConfig) -> Dataset:
    """A text dataset as padded token ids (kind "tokens"): words, a vocabulary from the training split only."""
    if cfg.tokenizer == "wordpiece":
        return _wordpiece(ds, cfg)
    docs = {s: [_tokens.words(t) for t in getattr(ds, f"x_{s}")] for s in ("train", "val", "test")}
    vocab = _tokens.Vocab.build(docs["train"], min_freq=cfg.vocab_min_freq, max_size=cfg.vocab_size)
    enc = {s: _tokens.encode(d, vocab, cfg.max_length) for s, d in docs.items()}
    n_train = np.asarray([len(d) for d in docs["train"]])
    unk = float((enc["test"][0] == 1).sum() / enc["test"][1].sum())
    notes = [*ds.notes, f"tokens: lower-cased words and ! ?, HTML stripped; vocabulary of {len(vocab):,} from the "
             f"training split only (min frequency {cfg.vocab_min_freq}); {unk:.1%} of test tokens are <unk>; "
             f"first {cfg.max_length} tokens kept ({(n_train > cfg.max_length).mean():.1%} of training documents "
             f"truncated; median length {int(np.median(n_train))})"]
    return Dataset(ds.name, "tokens", ds.classes, enc["train"][0], torch.as_tensor(ds.y_train), enc["val"][0],
                   torch.as_tensor(ds.y_val), enc["test"][0], torch.as_tensor(ds.y_test), source=ds.source, notes=notes,
                   lengths={s: e[1] for s, e in enc.items()}, vocab=vocab.itos)


def _wordpiece(ds: Dataset, cfg: DataConfig) -> Dataset:
    keep = cfg.max_length or _tokens.minilm_max_length()  # None: the model's own (MiniLM: 256)
    enc = {s: _tokens.wordpiece(list(getattr(ds, f"x_{s}")), keep) for s in ("train", "val", "test")}
    lengths = enc["train"][1].numpy()
    notes = [*ds.notes, "tokens: MiniLM's WordPiece tokenizer ([CLS] pieces [SEP], lower-cased, "
             f"{len(enc['train'][2]):,}-piece vocabulary fixed by the pretrained model); first {keep} "
             f"pieces kept{'' if cfg.max_length else ' (the model’s own max_seq_length)'} "
             f"({(lengths >= keep).mean():.1%} of training documents reach it; median length "
             f"{int(np.median(lengths))})"]
    return Dataset(ds.name, "tokens", ds.classes, enc["train"][0], torch.as_tensor(ds.y_train), enc["val"][0],
                   torch.as_tensor(ds.y_val), enc["test"][0], torch.as_tensor(ds.y_test), source=ds.source, notes=notes,
                   lengths={s: e[1] for s, e in enc.items()}, vocab=enc["train"][2])
