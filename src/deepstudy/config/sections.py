"""The sections of a study file every task shares (``data:``, ``model:``, ``train:``, ``explain:``), with every
key any task reads; the sections of some tasks only are in deepstudy.config.task_sections.

Each task's study class (deepstudy.config.tasks) keeps the keys that task honours; these full sections
are the field definitions it picks from, and what code reading a key of another task gets (its default).
"""
from __future__ import annotations

import re
from pathlib import PurePath

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deepstudy.config.averaging import EmaConfig, SwaConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # every number finite


# Evaluation batches (validation, test, probes): a small CNN's activations for 1,024 images spill a CPU's caches
# (10,240 MNIST images: 0.28 s at 128, 0.96 s at 1,024 on a 2-core EPYC); the outputs are bit-identical at either
# size (tests/test_train.py; the numbers for more models are in the commit that set it, b4799c9).
EVAL_BATCH_SIZE = 128
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def safe_name(what: str, name: object) -> str:
    """``name`` as one folder name: it names a run folder, an arm's folder or a data folder, so it must not
    reach outside them (``..``, ``/``, an absolute path) nor be two names for one folder (``small/.``)."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or name.endswith("."):
        shown = repr(name)[:60]
        raise ValueError(f"{what} {shown} must be one folder name: letters, digits and . _ + - (starting with a "
                         "letter or digit, not ending in '.', at most 100 characters), e.g. 'resnet18-wide'")
    return name


def own_data_name(path: str) -> str:
    """A data.name for data given by path + format alone: the file's stem or the folder's name, as one safe
    folder name (``~/data/My Reviews.csv`` -> ``My-Reviews``)."""
    p = PurePath(path)
    stem = p.name.split(".")[0] if "." in p.name.lstrip(".") else p.name
    return re.sub(r"[^A-Za-z0-9._+-]", "-", stem).strip("._+-")[:100] or "my-data"


class DataConfig(_Section):
    name: str = Field("digits", description=(
        "Registry name (see `deepstudy data list`), or a label of your own for data read by `format` + `path` "
        "(default then: the file's or folder's name)."))
    path: str | None = Field(None, description=(
        "A folder or file to read instead of the data directory (`$DEEPSTUDY_DATA`, then ~/.cache/deepstudy). "
        "With `format` it is a new dataset of your own: no registry checksum or description applies; the report "
        "says what was read (files, rows, classes) and the sha256 of the files, computed as they are read. "
        "Without `format` it must hold the registered dataset's files."))
    format: Literal["idx", "image-folder", "csv-table", "text-csv", "series-csv", "digits", "time-series", "nab",
                    "text-corpus"] | None = Field(None, description=(
        "Reader for `path` (your own data, no code): idx (MNIST-format folder), image-folder (one sub-folder per "
        "class), csv-table (a table, one label column: `target`), text-csv (a text column and a label column: "
        "`text_column`, `label_column`; delimiter and encoding sniffed; `test_path` or a stratified hold-out), "
        "series-csv (a timestamp column and numeric value columns: task forecast, or task reconstruct with a 0/1 "
        "`label_column` marking the anomalies), nab (a folder in NAB's layout: data/<category>/*.csv and "
        "labels/combined_windows.json), text-corpus (a .txt file), time-series (as series-csv for forecast, the "
        "first column the time)."))
    text_column: str = Field("text", description="text-csv: the column holding each row's text.")
    label_column: str = Field("label", description=(
        "text-csv: the column holding each row's class (any strings; classes in numeric order when all are "
        "numbers, else alphabetical). series-csv with task reconstruct: the 0/1 column marking the labelled "
        "anomalies (each run of 1s is one window, scored the NAB way); it is never a value column."))
    test_path: str | None = Field(None, description=(
        "text-csv: a separate test file laid out like `path` (default: a stratified `test_fraction` hold-out of "
        "`path`)."))
    time_column: str | None = Field(None, description=(
        "series-csv: the timestamp column (default: the first column); ISO 8601 times (2024-01-31 13:00:00) or "
        "the formats of the registered series."))
    val_fraction: float = Field(0.1, gt=0, lt=1, description=(
        "Stratified share of the training split held out for validation (early stopping, checkpoint choice)."))
    test_fraction: float = Field(0.2, gt=0, lt=1, description=(
        "Stratified share held out as test set, only for data that ships no test split."))
    train_limit: int | None = Field(None, ge=10, description=(
        "Use a stratified subset of this many training examples (quick runs)."))
    augment: tuple[str, ...] = Field((), description=(
        "Batch augmentations, in order: crop[:pad], hflip, vflip, rotate[:degrees], affine[:degrees], "
        "erase[:p]."))
    normalize: bool = Field(True, description="Standardize inputs with statistics of the training split only.")
    target: str | None = Field(None, description="csv-table: the label column (default: the last column).")
    drop: tuple[str, ...] = Field((), description=(
        "csv-table, time-series, series-csv: columns to ignore (identifiers, free text; in a table a text column "
        "of more than 1,000 distinct values that most rows hold alone is refused until dropped)."))
    image_size: tuple[int, int] | None = Field(None, description=(
        "image-folder: resize every image to (height, width); default: the first image's size."))
    grayscale: bool = Field(False, description="image-folder: convert images to one channel.")
    imagenet_input: int | None = Field(None, ge=32, le=1024, description=(
        "Images as torchvision's ImageNet models expect them: grey repeated to 3 channels, resized (bilinear, "
        "per batch) to N x N and normalized with ImageNet's mean and std instead of the dataset's — for "
        "pretrain.task: imagenet (224 is the published size; smaller is cheaper on a CPU)."))
    text_field: Literal["title", "description", "title+description", "subject", "message", "review"] | None = Field(
        None, description=("Text datasets: the field read (ag-news, ag-news-full: title | description | "
                           "title+description, default title; 20newsgroups: subject | message, default subject; "
                           "imdb: review)."))
    tokenizer: Literal["words", "wordpiece"] = Field("words", description=(
        "Text with torch models: words (lower-cased words, a vocabulary from the training split, see vocab_*) "
        "or wordpiece (MiniLM's WordPiece tokenizer through the `tokenizers` library: [CLS] pieces [SEP], its "
        "fixed 30,522-token vocabulary; what model minilm reads)."))
    vocab_min_freq: int = Field(2, ge=1, description=(
        "Text with torch models: words seen fewer times in the training split become <unk>."))
    vocab_size: int | None = Field(30000, ge=10, description=(
        "Text with torch models: keep at most this many words (the most frequent in the training split), "
        "<pad> and <unk> included."))
    word_vectors: str | None = Field(None, description=(
        "Text with torch models: start the word embeddings from pretrained vectors — 'minilm' (MiniLM's 384-d "
        "WordPiece token embeddings; a word of several pieces gets their mean) or a GloVe-format text file "
        "('word v1 v2 ...'); the model's embedding size must match. See train.freeze_embeddings."))
    max_length: int | None = Field(256, ge=1, le=100000, description=(
        "Text with torch models: tokens kept per document (the first ones; longer documents are truncated, "
        "the report says how many). null with tokenizer wordpiece: the model's own limit (MiniLM's "
        "max_seq_length, 256 pieces with [CLS] and [SEP], from its sentence_bert_config.json)."))
    permute_labels: bool = Field(False, description=(
        "Shuffle the training and validation labels (fixed seed; test labels untouched): a model can only "
        "memorize. An arm with it beside an otherwise identical arm gives the data-randomization check of "
        "explanations."))
    lookback: int = Field(24, ge=1, description="Time series (task: forecast): past steps a forecast sees.")
    horizon: int = Field(1, ge=1, description="Time series: steps ahead predicted at once.")
    stride: int = Field(1, ge=1, description="Time series: steps between the starts of consecutive training windows.")
    targets: tuple[str, ...] = Field((), description="Time series: columns to forecast (default: every column).")
    series: tuple[str, ...] = Field((), description=(
        "NAB: files to score, as keys relative to data/ (e.g. realKnownCause/nyc_taxi.csv; default: every "
        "labelled file found); series-csv with task reconstruct: the value columns to score (default: all)."))
    cv_folds: int | None = Field(None, ge=2, le=20, description=(
        "task: classical: stratified k-fold cross-validation over every labelled row; seed i is fold i (set "
        "`seeds` to the same number)."))
    resample: Literal["none", "bootstrap"] = Field("none", description=(
        "task: classical: `bootstrap` trains each seed on a bootstrap sample of the training split, so the "
        "spread over seeds measures training-set variance (deterministic learners otherwise repeat "
        "themselves)."))


NULL_MAX_LENGTH = ("data.max_length: null keeps the tokenizer's own limit, which only data.tokenizer: wordpiece has "
                   "(MiniLM: 256 pieces); give the words kept, e.g. 256")


class ModelConfig(BaseModel):
    """`name` picks a registered model; every other key is a keyword argument of its constructor. Or your own
    ``nn.Module``: ``class_path: "package.module:ClassName"`` with its arguments under ``kwargs:`` (docs/your-model.md);
    ``name`` is then the class path too (what the model registry resolves, on resume, explain and predict as well)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field("mlp", description="Registered model (see `deepstudy summary --help` / docs/models.md).")
    class_path: str | None = Field(None, description=(
        "Your own torch model instead of a registered one: 'package.module:ClassName', an nn.Module subclass "
        "importable from sys.path, the study file's folder or the current folder; its constructor's arguments "
        "go under model.kwargs (see docs/your-model.md)."))

    @model_validator(mode="before")
    @classmethod
    def _class_path_is_the_name(cls, raw: Any) -> Any:
        """``{class_path: p, kwargs: {...}}`` -> name p, the arguments kept under ``kwargs`` (the dump reads back)."""
        if not isinstance(raw, dict) or raw.get("class_path") is None:
            return raw
        path = raw["class_path"]
        if not isinstance(path, str) or not CLASS_PATH.fullmatch(path):
            raise ValueError(f"model.class_path {str(path)[:80]!r} must be 'package.module:ClassName' (a module "
                             "importable by Python, a colon, the class), e.g. 'mynets:SmallNet'")
        if raw.get("name", path) not in (path, "mlp"):
            raise ValueError(f"model: give name ('{raw['name']}', a registered model) or class_path ('{path}', your "
                             "own), not both")
        other = sorted(set(raw) - {"name", "class_path", "kwargs"})
        if other:
            raise ValueError(f"model.class_path: put the constructor's arguments under model.kwargs "
                             f"(kwargs: {{{other[0]}: ...}}), not beside class_path")
        if not isinstance(raw.get("kwargs", {}), dict):
            raise ValueError("model.kwargs must map argument names to values, e.g. kwargs: {hidden: 64}")
        return {**raw, "name": path, "kwargs": dict(raw.get("kwargs") or {})}

    def kwargs(self) -> dict[str, Any]:
        extra = dict(self.model_extra or {})
        return dict(extra.get("kwargs") or {}) if self.class_path else extra


CLASS_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")


class OptimizerConfig(_Section):
    name: Literal["sgd", "rmsprop", "adam", "adamw"] = Field("adamw", description="torch.optim algorithm.")
    lr: float = Field(1e-3, gt=0, description="Learning rate (the peak for one-cycle).")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd / rmsprop momentum.")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum (needs momentum > 0).")
    weight_decay: float = Field(0.0, ge=0, description=(
        "Applied to weights only, never to biases or normalization parameters."))
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam / adamw moment decay rates.")
    eps: float = Field(1e-8, gt=0, description="Numerical stability term.")
    alpha: float = Field(0.99, gt=0, lt=1, description="rmsprop smoothing constant.")


class EarlyStoppingConfig(_Section):
    patience: int | None = Field(None, ge=1, description=(
        "Stop an arm after this many epochs without improvement (None: never)."))
    monitor: Literal["val_loss", "val_acc", "last"] = Field("val_loss", description=(
        "Validation metric that chooses the best checkpoint and drives early stopping; `last` tests the final "
        "epoch's weights (to study overfitting itself)."))
    min_delta: float = Field(0.0, ge=0, description="Smallest change counted as an improvement.")


class ResourcesConfig(_Section):
    cpus: float = Field(1.0, gt=0, description=(
        "CPUs one (arm, seed) task holds under `--executor processes` or `ray`; its torch threads are this, rounded "
        "down, at least 1 (unless train.threads says otherwise)."))
    gpus: float = Field(0.0, ge=0, description=(
        "GPUs one task holds under `--executor ray` (0.5: two tasks share a GPU)."))


class DistributedConfig(_Section):
    processes: int = Field(1, ge=1, le=64, description=(
        "Processes that train one model together (PyTorch DistributedDataParallel; task classify only): each "
        "takes 1/N of every batch of train.batch_size and the gradients are averaged, so the weights match a "
        "one-process run. `deepstudy run ... --nproc N` sets it and launches them (docs/scale-out.md)."))
    backend: Literal["gloo", "nccl"] = Field("gloo", description=(
        "torch.distributed backend: gloo (CPU, or GPUs through the host) or nccl (one CUDA GPU per process)."))
    sync_bn: bool = Field(False, description=(
        "Batch-norm statistics over the whole batch (SyncBatchNorm; CUDA only) instead of each process's shard "
        "(running statistics: rank 0's)."))


class TrainConfig(_Section):
    epochs: int = Field(10, ge=1, description="Passes over the training split.")
    batch_size: int = Field(128, ge=1, description="Training batch size.")
    eval_batch_size: int = Field(EVAL_BATCH_SIZE, ge=1, description=(
        "Batch size for validation and test (a batch's activations that fit the CPU's caches: 128 is ~3x faster "
        "than 1,024 for a small CNN on a CPU; larger can suit a GPU)."))
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: Literal["constant", "step", "cosine", "onecycle"] = Field("constant", description=(
        "Learning-rate schedule, stepped every batch."))
    step_epochs: int = Field(5, ge=1, description="step: epochs between decays.")
    gamma: float = Field(0.1, gt=0, le=1, description="step: decay factor.")
    warmup_fraction: float = Field(0.25, gt=0, lt=1, description="onecycle: share of steps spent warming up.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing.")
    grad_clip: float | None = Field(None, gt=0, description="Clip the global gradient norm to this value.")
    l1: float = Field(0.0, ge=0, description=(
        "L1 penalty: l1 x sum(abs(w)) over the weights (as weight decay: 2+ dimensions, never biases or "
        "normalization parameters; both engines) joins the training loss, gradient l1 x sign(w); the logged "
        "train_loss stays the data term."))
    ema: EmaConfig | None = Field(None, description=(
        "An exponential moving average of the weights (torch's AveragedModel with get_ema_multi_avg_fn), "
        "updated after every optimizer step; validation, the best checkpoint and the test use the average "
        "instead of the raw weights. e.g. {decay: 0.999}."))
    swa: SwaConfig | None = Field(None, description=(
        "Stochastic weight averaging (Izmailov et al., 2018; torch.optim.swa_utils): from epoch `start` on the "
        "learning rate goes to `lr` and the weights at the end of each epoch are averaged; at the end batch-norm "
        "statistics are recomputed on the training batches (update_bn) and the average is tested, whatever "
        "early_stopping.monitor says (validation still scores the raw weights). e.g. {start: 8, lr: 0.01}."))
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description=(
        "Autocast dtype. auto: chosen once per arm before its seeds train and recorded in the run's "
        "precision.json (a resume reuses it) — on CUDA bf16 where the GPU supports it, else fp32; on a CPU "
        "without native bf16 (AVX512-BF16 or AMX) fp32, without a probe; on a CPU with it, bf16 only if a "
        "short probe (3 warm-up + 5 timed training steps of the arm's model on one batch) finds a bf16 step at "
        "least 1.2x faster than fp32, else fp32; the run's output and report say what auto chose and why. "
        "bf16: on CUDA or on CPUs that support it (on others fp32, said once in the run's output and in the "
        "report); fp16 on CUDA only (with a GradScaler). fp32: no autocast."))
    checkpoint_seconds: float = Field(2.0, ge=0, description=(
        "Least training time between two checkpoints of a seed (seconds): an epoch's checkpoint is written "
        "(on a thread of its own, while the next epoch trains) when this long has passed since the last one; "
        "the last epoch, an early stop and an interrupted run (Ctrl-C, an error) are always written. 0: every "
        "epoch. A kill (SIGKILL, a lost machine) loses at most this much training and the epoch under way; the "
        "resumed seed ends bit-identical either way. Short epochs (small models) write a fraction of their "
        "checkpoints: each costs milliseconds of a CPU core, which parallel seeds (--jobs, Ray) would take from "
        "training."))
    channels_last: bool = Field(False, description=(
        "NHWC memory format for 4-D inputs (faster convolutions on recent CPUs and GPUs)."))
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when available, else CPU.")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice).")
    resources: ResourcesConfig = Field(ResourcesConfig(), description=(
        "What one (arm, seed) task declares to a parallel executor (docs/scale-out.md), e.g. {cpus: 1, gpus: 0.5}; "
        "the local executor ignores it."))
    distributed: DistributedConfig = Field(DistributedConfig(), description=(
        "One model over several processes (DDP), e.g. {processes: 2, backend: gloo}; default one process."))
    freeze_embeddings: bool = Field(False, description=(
        "Keep pretrained word vectors (data.word_vectors) fixed: only the layers above them learn."))
    freeze_backbone: bool = Field(False, description=(
        "Train only the classifier head (the last linear layer): a linear probe of the features the backbone "
        "has — pretrained (see `pretrain`) or random. Batch-norm layers still normalize with batch "
        "statistics."))
    init: Literal["default", "numpy-engine"] = Field("default", description=(
        "Where a torch model's weights start. default: torch's initialization, seeded per run; numpy-engine: "
        "the weights the NumPy engine (task: scratch) draws for the same run seed and model, copied layer by "
        "layer — one network, two engines, identical starting points (model mlp)."))
    unfreeze_after: int | None = Field(None, ge=1, description=(
        "With freeze_backbone: train the head alone for this many epochs, then every layer (frozen, then "
        "fine-tuned — the head learns before the backbone gets its gradients; the schedule runs on across the "
        "switch)."))


Task = Literal["classify", "scratch", "classical", "forecast", "som", "reconstruct", "generate", "language-model"]
Analysis = Literal["curves", "confusion", "samples", "roc", "generalization", "boundary", "bias-variance",
                   "gradients", "gradcam", "gradcam++", "saliency", "smoothgrad", "integrated-gradients", "occlusion",
                   "feature-maps", "gradient-flow", "attention", "lr-range", "trajectories"]
# the analyses that explain individual predictions (deepstudy.explain), computed on test examples of every seed
EXPLANATIONS = ("gradcam", "gradcam++", "saliency", "smoothgrad", "integrated-gradients", "occlusion")

