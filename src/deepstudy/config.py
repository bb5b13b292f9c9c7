"""Study files: YAML validated by pydantic (frozen, unknown keys rejected with suggestions).

One mechanism serves the YAML file, ``--set key=value``, arms and (later) tuning: a *dotted
override* applied to the raw mapping, which is then validated again. A bad key or type stops
here with the key's path and the closest valid names.
"""
from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from deepstudy.errors import UserError, closest


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    name: str = Field("digits", description="Registry name (see `deepstudy data list`), or a label for data read by `format` + `path`.")
    path: str | None = Field(None, description="A folder or file to read instead of the data directory (`$DEEPSTUDY_DATA`, then ~/.cache/deepstudy).")
    format: Literal["idx", "image-folder", "csv-table", "digits", "time-series", "nab", "text-corpus"] | None = Field(None, description="Reader for `path` when `name` is not a registered dataset.")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="Stratified share of the training split held out for validation (early stopping, checkpoint choice).")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Stratified share held out as test set, only for data that ships no test split.")
    train_limit: int | None = Field(None, ge=10, description="Use a stratified subset of this many training examples (quick runs).")
    augment: tuple[str, ...] = Field((), description="Batch augmentations, in order: crop[:pad], hflip, vflip, rotate[:degrees], affine[:degrees], erase[:p].")
    normalize: bool = Field(True, description="Standardize inputs with statistics of the training split only.")
    target: str | None = Field(None, description="csv-table: the label column (default: the last column).")
    drop: tuple[str, ...] = Field((), description="csv-table: columns to ignore (identifiers, free text).")
    image_size: tuple[int, int] | None = Field(None, description="image-folder: resize every image to (height, width); default: the first image's size.")
    grayscale: bool = Field(False, description="image-folder: convert images to one channel.")
    imagenet_input: int | None = Field(None, ge=32, le=1024, description="Images as torchvision's ImageNet models expect them: grey repeated to 3 channels, resized (bilinear, per batch) to N x N and normalized with ImageNet's mean and std instead of the dataset's — for pretrain.task: imagenet (224 is the published size; smaller is cheaper on a CPU).")
    text_field: Literal["title", "description", "title+description", "subject", "message", "review"] | None = Field(
        None, description="Text datasets: the field read (ag-news: title | description | title+description, default title; "
                          "20newsgroups: subject | message, default subject; imdb: review).")
    tokenizer: Literal["words", "wordpiece"] = Field("words", description="Text with torch models: words (lower-cased words, a vocabulary from the training split, see vocab_*) or wordpiece (MiniLM's WordPiece tokenizer through the `tokenizers` library: [CLS] pieces [SEP], its fixed 30,522-token vocabulary; what model minilm reads).")
    vocab_min_freq: int = Field(2, ge=1, description="Text with torch models: words seen fewer times in the training split become <unk>.")
    vocab_size: int | None = Field(30000, ge=10, description="Text with torch models: keep at most this many words (the most frequent in the training split), <pad> and <unk> included.")
    word_vectors: str | None = Field(None, description="Text with torch models: start the word embeddings from pretrained vectors — 'minilm' (MiniLM's 384-d WordPiece token embeddings; a word of several pieces gets their mean) or a GloVe-format text file ('word v1 v2 ...'); the model's embedding size must match. See train.freeze_embeddings.")
    max_length: int = Field(256, ge=1, le=100000, description="Text with torch models: tokens kept per document (the first ones; longer documents are truncated, the report says how many).")
    permute_labels: bool = Field(False, description="Shuffle the training and validation labels (fixed seed; test labels untouched): a model can only memorize. An arm with it beside an otherwise identical arm gives the data-randomization check of explanations.")
    lookback: int = Field(24, ge=1, description="Time series (task: forecast): past steps a forecast sees.")
    horizon: int = Field(1, ge=1, description="Time series: steps ahead predicted at once.")
    stride: int = Field(1, ge=1, description="Time series: steps between the starts of consecutive training windows.")
    targets: tuple[str, ...] = Field((), description="Time series: columns to forecast (default: every column).")
    series: tuple[str, ...] = Field((), description="NAB: files to score, as keys relative to data/ (e.g. realKnownCause/nyc_taxi.csv; default: every labelled file found).")
    cv_folds: int | None = Field(None, ge=2, le=20, description="task: classical: stratified k-fold cross-validation over every labelled row; seed i is fold i (set `seeds` to the same number).")
    resample: Literal["none", "bootstrap"] = Field("none", description="task: classical: `bootstrap` trains each seed on a bootstrap sample of the training split, so the spread over seeds measures training-set variance (deterministic learners otherwise repeat themselves).")


class ModelConfig(BaseModel):
    """`name` picks a registered model; every other key is a keyword argument of its constructor."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field("mlp", description="Registered model (see `deepstudy summary --help` / docs/models.md).")

    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class OptimizerConfig(_Section):
    name: Literal["sgd", "rmsprop", "adam", "adamw"] = Field("adamw", description="torch.optim algorithm.")
    lr: float = Field(1e-3, gt=0, description="Learning rate (the peak for one-cycle).")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd / rmsprop momentum.")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum (needs momentum > 0).")
    weight_decay: float = Field(0.0, ge=0, description="Applied to weights only, never to biases or normalization parameters.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam / adamw moment decay rates.")
    eps: float = Field(1e-8, gt=0, description="Numerical stability term.")
    alpha: float = Field(0.99, gt=0, lt=1, description="rmsprop smoothing constant.")


class EarlyStoppingConfig(_Section):
    patience: int | None = Field(None, ge=1, description="Stop an arm after this many epochs without improvement (None: never).")
    monitor: Literal["val_loss", "val_acc", "last"] = Field("val_loss", description="Validation metric that chooses the best checkpoint and drives early stopping; `last` tests the final epoch's weights (to study overfitting itself).")
    min_delta: float = Field(0.0, ge=0, description="Smallest change counted as an improvement.")


class TrainConfig(_Section):
    epochs: int = Field(10, ge=1, description="Passes over the training split.")
    batch_size: int = Field(128, ge=1, description="Training batch size.")
    eval_batch_size: int = Field(1024, ge=1, description="Batch size for validation and test.")
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: Literal["constant", "step", "cosine", "onecycle"] = Field("constant", description="Learning-rate schedule, stepped every batch.")
    step_epochs: int = Field(5, ge=1, description="step: epochs between decays.")
    gamma: float = Field(0.1, gt=0, le=1, description="step: decay factor.")
    warmup_fraction: float = Field(0.25, gt=0, lt=1, description="onecycle: share of steps spent warming up.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing.")
    grad_clip: float | None = Field(None, gt=0, description="Clip the global gradient norm to this value.")
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="Autocast dtype: bf16 on CUDA or on CPUs that support it; fp16 on CUDA only (with a GradScaler).")
    channels_last: bool = Field(False, description="NHWC memory format for 4-D inputs (faster convolutions on recent CPUs and GPUs).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when available, else CPU.")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice).")
    freeze_embeddings: bool = Field(False, description="Keep pretrained word vectors (data.word_vectors) fixed: only the layers above them learn.")
    freeze_backbone: bool = Field(False, description="Train only the classifier head (the last linear layer): a linear probe of the features the backbone has — pretrained (see `pretrain`) or random. Batch-norm layers still normalize with batch statistics.")
    init: Literal["default", "numpy-engine"] = Field("default", description="Where a torch model's weights start. default: torch's initialization, seeded per run; numpy-engine: the weights the NumPy engine (task: scratch) draws for the same run seed and model, copied layer by layer — one network, two engines, identical starting points (model mlp).")
    unfreeze_after: int | None = Field(None, ge=1, description="With freeze_backbone: train the head alone for this many epochs, then every layer (frozen, then fine-tuned — the head learns before the backbone gets its gradients; the schedule runs on across the switch).")


Task = Literal["classify", "scratch", "classical", "forecast", "som", "reconstruct", "generate", "language-model"]
Analysis = Literal["curves", "confusion", "samples", "roc", "generalization", "boundary", "bias-variance", "gradients",
                   "gradcam", "gradcam++", "saliency", "smoothgrad", "integrated-gradients", "occlusion", "feature-maps",
                   "gradient-flow", "attention"]
# the analyses that explain individual predictions (deepstudy.explain), computed on test examples of every seed
EXPLANATIONS = ("gradcam", "gradcam++", "saliency", "smoothgrad", "integrated-gradients", "occlusion")


class ExplainConfig(_Section):
    examples: int = Field(16, ge=2, le=256, description="Test examples explained per seed: wrongly classified ones first (up to half), then correct ones, in test-set order.")
    layer: str | None = Field(None, description="Grad-CAM layer by module name (see `deepstudy summary`); default: the last convolution with a spatial output.")
    sanity_examples: int = Field(8, ge=1, le=256, description="Examples in the model-parameter randomization test (it re-explains them once per randomization stage).")
    steps: int = Field(50, ge=2, le=1000, description="integrated-gradients: Riemann steps from the baseline (run in batches).")


class SomConfig(_Section):
    rule: Literal["batch", "online"] = Field("batch", description="batch: every unit moves to the neighbourhood-weighted mean of all inputs once per epoch (Kohonen 2013; vectorized, no learning rate); online: one input at a time with a decaying learning rate (Kohonen 1982; MiniSom's rule).")
    sigma: float | None = Field(None, gt=0, description="Starting neighbourhood radius in grid units (default: a quarter of the larger map side, at least 1).")
    learning_rate: float = Field(0.5, gt=0, le=1, description="online: starting learning rate.")
    decay: Literal["asymptotic", "linear", "inverse"] = Field("asymptotic", description="Schedule of sigma and the learning rate (MiniSom's): asymptotic ends at a third of the start; linear and inverse end at 0 (learning rate) and 1 (sigma).")
    init: Literal["pca", "sample"] = Field("pca", description="pca: units spread over the plane of the first two principal components (deterministic); sample: each unit starts at a random training input (seeded).")
    outlier_fraction: float = Field(0.05, gt=0, lt=0.5, description="Share of rows flagged as outliers: those whose best-matching unit lies farthest from its neighbours (largest mean interneuron distance, the white cells of the U-matrix).")
    hybrid: bool = Field(False, description="Train a small supervised network on the SOM's outlier flags and rank every row by its predicted probability (the SOM -> ANN hybrid of seed 004).")
    hybrid_epochs: int = Field(30, ge=1, description="hybrid: training epochs of the supervised network.")


class AnomalyConfig(_Section):
    window: int = Field(48, ge=4, le=4096, description="Rows per autoencoder input; a row's anomaly score is the reconstruction error of the window that ends at it (causal).")
    calibration: float = Field(0.33, gt=0, lt=1, description="Share of NAB's probationary period (first 15 % of a file, at most 750 rows, never scored) held out from training to choose the threshold; the rest trains the detector.")
    quantile: float = Field(1.0, gt=0.5, le=1.0, description="Label-free threshold: this quantile of the detector's scores on the calibration rows (1.0 = their maximum: anything stranger than all of them is an alarm).")
    zscore_window: int = Field(48, ge=3, description="Rolling z-score baseline: rows of history it standardizes each value by.")
    history: int | None = Field(480, ge=10, description="Every detector's raw score is standardized by the mean and std of its own previous `history` rows (fewer at the start of a file) before the threshold — a causal 'how unusual is this error lately', which follows slow drift (Numenta's anomaly likelihood in spirit). null: threshold the raw scores.")
    refractory: int | None = Field(None, ge=0, description="Rows kept silent after each alarm (default: anomaly.window): one event raises one alarm.")
    normal_classes: tuple[str, ...] = Field((), description="Images: the class(es) the autoencoder learns as normal (it trains on their training images only); every other class is an anomaly in the test split.")
    export: bool = Field(False, description="Write NAB-format result CSVs (timestamp,value,anomaly_score,label; the threshold maps to 0.5) for the model and both baselines under each seed's nab-results/.")


class PretrainConfig(_Section):
    task: Literal["none", "rotation", "supervised", "imagenet"] = Field("none", description="Before the supervised training the network learns another task, then gets a fresh classifier head for the real classes. rotation: tell which of 0/90/180/270 degrees an unlabelled training image was turned by (Gidaris et al., 2018); supervised: the classes of another labelled dataset (`pretrain.data`) — transfer learning; imagenet: start from torchvision's published ImageNet-1K weights of the model (resnet18, resnet50, resnext50_32x4d, vgg16, vgg16_bn, mobilenet_v3_large, efficientnet_b0 at full width; `deepstudy weights fetch NAME` first; needs data.imagenet_input).")
    data: str | None = Field(None, description="supervised: the source dataset (registry name, e.g. fashion-mnist); its training split is learned, its images must have the target's shape.")
    epochs: int = Field(5, ge=1, description="Pretraining epochs over the pool: rotation: every unlabelled training image (also those data.train_limit leaves out; never the test split), each in its four rotations; supervised: the source dataset's training split.")
    lr: float = Field(2e-3, gt=0, description="Pretext AdamW learning rate (one-cycle schedule).")
    batch_size: int = Field(128, ge=1, description="Images per pretext batch (x4 rotations).")
    images: int | None = Field(None, ge=100, description="Use a seeded random subset of this many images of the pool (default: all of it).")


class DistillConfig(_Section):
    teacher: ModelConfig | None = Field(None, description="Knowledge distillation (Hinton et al., 2015): the teacher's model config, e.g. {name: resnet18, width: 0.25}. It is trained first on the same data with this arm's train settings (once per seed; arms differing only in distill.temperature / alpha share it), then this arm's model learns from its softened outputs. null: no teacher.")
    temperature: float = Field(4.0, gt=0, le=100, description="T: both networks' logits are divided by T before the softmax; higher T shows more of the teacher's ranking of the wrong classes.")
    alpha: float = Field(0.9, ge=0, le=1, description="Weight of the soft-target term: loss = (1 - alpha) CE(student, labels) + alpha T^2 KL(teacher_T || student_T).")
    teacher_epochs: int | None = Field(None, ge=1, description="Epochs of the teacher's training (default: train.epochs).")


class LMConfig(_Section):
    seq_len: int = Field(128, ge=8, le=4096, description="Characters per training window (truncated backpropagation through time); windows start at random positions of the training text.")
    steps_per_epoch: int | None = Field(None, ge=1, description="Training windows per epoch = steps x batch size (default: as many characters as the training text has, in windows).")
    sample_length: int = Field(300, ge=0, le=5000, description="Characters generated after every epoch, from the start of the validation text.")
    temperatures: tuple[float, ...] = Field((0.5, 1.0), description="Sampling temperatures of the generated text (logits / T: low T repeats the likeliest characters, high T invents).")
    ngram_orders: tuple[int, ...] = Field((1, 2, 3, 5), description="Orders of the count-based baselines (add-k smoothing, k chosen on the validation text), scored on the same test text.")


class Study(_Section):
    name: str = Field(..., description="Study name; the run directory is runs/<name>/<timestamp>/.")
    description: str = Field("", description="One line: what the study asks.")
    task: Task = Field("classify", description="classify: torch models from the zoo; scratch: the NumPy engine (models mlp, lenet, rnn); classical: from-scratch logistic regression, naive Bayes, KNN (and scikit-learn oracles); forecast: time series; som: a self-organizing map (model som: rows, cols, neighborhood; schedule in `som`); reconstruct: autoencoder anomaly detection on NAB series (models dense-ae, conv-ae; see `anomaly`); generate: a DCGAN (model dcgan: latent, width, batch_norm) judged by a classifier trained on the real images; language-model: a character-level recurrent model (model char-rnn: cell, embed_dim, hidden, layers, dropout) on a text corpus, scored by perplexity beside n-gram baselines, with samples (see `lm`).")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    arms: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"base": {}}, description="Arm name -> dotted overrides of the base config; arms are compared side by side.")
    opt_in_arms: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Arms run only when named with `deepstudy run STUDY --arms NAME[,NAME]` (same form as `arms`): the costly ones, kept out of the default run but one flag away.")
    seeds: int = Field(1, ge=1, le=100, description="Independent runs per arm (different initialization, data order, dropout).")
    seed: int = Field(0, ge=0, description="Base seed; every arm/seed/component seed is derived from it.")
    analyses: tuple[Analysis, ...] = Field(("curves", "confusion", "samples"), description="Figures and tables in the report: curves, confusion, samples; roc (binary tasks); generalization (train vs test accuracy per arm); boundary (2-D inputs: decision regions); bias-variance (0-1 loss decomposition over seeds); gradients (task scratch, model rnn: gradient norm vs time-step distance); task classify: gradcam, gradcam++, saliency, smoothgrad, integrated-gradients, occlusion (maps of test predictions with their sanity check and deletion/insertion scores, see `explain`); task forecast: saliency, smoothgrad, integrated-gradients, occlusion of the mean forecast over (lag, variable) with the same checks, feature-maps (first-layer filters, activations), gradient-flow (per-layer weight-gradient norms during training), attention (text models with attention: the weights over the words of explained examples).")
    explain: ExplainConfig = ExplainConfig()
    som: SomConfig = SomConfig()
    anomaly: AnomalyConfig = AnomalyConfig()
    pretrain: PretrainConfig = PretrainConfig()
    distill: DistillConfig = DistillConfig()
    lm: LMConfig = LMConfig()

    @field_validator("arms", "opt_in_arms")
    @classmethod
    def _arms_well_formed(cls, arms: dict[str, dict[str, Any]], info: ValidationInfo) -> dict[str, dict[str, Any]]:
        if not arms and info.field_name == "arms":
            raise ValueError("a study needs at least one arm, e.g. arms: {base: {}}")
        for arm, overrides in arms.items():
            if not isinstance(overrides, dict):
                raise ValueError(f"arm '{arm}' must map dotted keys to values, e.g. {{train.epochs: 5}}")
            if {"arms", "opt_in_arms", "seeds"} & set(overrides):
                raise ValueError(f"arm '{arm}' cannot override 'arms', 'opt_in_arms' or 'seeds'")
        return arms

    @model_validator(mode="after")
    def _arm_names_unique(self) -> Study:
        both = sorted(set(self.arms) & set(self.opt_in_arms))
        if both:
            raise ValueError(f"arm '{both[0]}' is in both arms and opt_in_arms; rename one of them")
        return self

    def arm_configs(self) -> dict[str, Study]:
        """Each arm's fully validated config (the base with the arm's overrides applied)."""
        base = self.model_dump(mode="json")
        out = {}
        for arm, overrides in self.arms.items():
            raw = apply_overrides(base, overrides)
            raw["arms"], raw["opt_in_arms"] = {arm: {}}, {}
            out[arm] = validate(raw, source=f"arm '{arm}'")
        return out


# --------------------------------------------------------------------------- loading


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``raw`` with ``{"train.optimizer.lr": 0.1, ...}`` applied.

    A dotted key sets one leaf; a key naming a whole section (``model``) replaces it, so an arm
    can swap the model family without inheriting the base model's keyword arguments.
    """
    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = str(dotted).split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return out


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["train.epochs=3", "data.augment=[hflip]"]`` -> dotted overrides (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value, got '{item}' (e.g. --set train.epochs=3)")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def builtin_studies() -> dict[str, Path]:
    folder = resources.files("deepstudy") / "studies"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def find_study(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise UserError(f"study file '{path}' does not exist (built-in studies: `deepstudy list`)")
        return path
    studies = builtin_studies()
    if name_or_path not in studies:
        raise UserError(f"unknown study '{name_or_path}'{closest(name_or_path, studies)}; `deepstudy list` shows the built-in studies, or pass a .yaml file")
    return studies[name_or_path]


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"{path}:{where} is not valid YAML ({getattr(e, 'problem', e)}); fix the file's syntax") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read study file {path}: {e}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be a YAML mapping with at least `name:` (see docs/study-file.md)")
    return raw


def load(name_or_path: str | Path, overrides: dict[str, Any] | None = None, arms: list[str] | None = None) -> Study:
    """Read a built-in study or a YAML file, apply dotted overrides, validate; run the named arms, in that order
    (``arms`` or ``opt_in_arms`` of the file), or with ``arms=None`` the default ones (``arms``)."""
    path = find_study(str(name_or_path))
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    study = validate(apply_overrides(raw, overrides or {}), source=str(path))
    if arms is None:
        return study
    every = {**study.arms, **study.opt_in_arms}
    unknown = [a for a in arms if a not in every]
    if unknown:
        opt_in = f"; opt-in: {', '.join(study.opt_in_arms)}" if study.opt_in_arms else ""
        raise UserError(f"study '{study.name}' has no arm '{unknown[0]}'{closest(unknown[0], every)}; "
                        f"its arms: {', '.join(study.arms)}{opt_in}")
    chosen = {a: every[a] for a in dict.fromkeys(arms)}  # the rest of the opt-in arms stay available (config.yaml)
    return study.model_copy(update={"arms": chosen, "opt_in_arms": {a: o for a, o in study.opt_in_arms.items() if a not in chosen}})


def validate(raw: dict[str, Any], source: str = "study") -> Study:
    try:
        return Study.model_validate(raw)
    except ValidationError as e:
        raise UserError(f"{source}: {_explain(e)}") from None


def _explain(error: ValidationError) -> str:
    """The first problem as one line, with the key's dotted path and the closest valid names."""
    first = error.errors()[0]
    loc = [str(p) for p in first["loc"]]
    path = ".".join(loc)
    if first["type"] == "extra_forbidden":
        valid = _field_names(loc[:-1])
        hint = closest(loc[-1], valid) or f" (valid keys: {', '.join(sorted(valid))})"
        return f"unknown key '{path}'{hint}"
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    got = first.get("input")
    shown = "" if isinstance(got, dict) else f", got {got!r}"
    return f"'{path}': {first['msg']}{shown}{more}"


def _field_names(loc: list[str]) -> list[str]:
    model: type[BaseModel] = Study
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def check_task_model(arm: str, cfg: Study, model: str, arguments: tuple[str, ...], example: str, note: str = "") -> None:
    """Tasks with one model of their own (som, generate, language-model): that model, with its arguments only."""
    if cfg.model.name != model:
        raise UserError(f"arm '{arm}': task: {cfg.task} trains model '{model}' (model: {{{example}}}), not '{cfg.model.name}'")
    bad = set(cfg.model.kwargs()) - set(arguments)
    if bad:
        raise UserError(f"arm '{arm}': model {model} has no argument(s) {', '.join(sorted(bad))}; its arguments: "
                        f"{', '.join(arguments)}{note}")


def to_yaml(study: Study) -> str:
    return yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False)
