"""The sections only some tasks read: ``explain:``, ``som:``, ``anomaly:``, ``pretrain:``, ``distill:``, ``lm:``.

The sections every task shares (``data:``, ``model:``, ``train:``) are in deepstudy.config.sections.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from deepstudy.config.sections import ModelConfig, _Section

class ExplainConfig(_Section):
    examples: int = Field(16, ge=2, le=256, description=(
        "Test examples explained per seed: wrongly classified ones first (up to half), then correct ones, in "
        "test-set order."))
    layer: str | None = Field(None, description=(
        "Grad-CAM layer by module name (see `deepstudy summary`); default: the last convolution with a "
        "spatial output."))
    sanity_examples: int = Field(8, ge=1, le=256, description=(
        "Examples in the model-parameter randomization test (it re-explains them once per randomization "
        "stage)."))
    steps: int = Field(50, ge=2, le=1000, description=(
        "integrated-gradients: Riemann steps from the baseline (run in batches)."))


class SomConfig(_Section):
    rule: Literal["batch", "online"] = Field("batch", description=(
        "batch: every unit moves to the neighbourhood-weighted mean of all inputs once per epoch (Kohonen "
        "2013; vectorized, no learning rate); online: one input at a time with a decaying learning rate "
        "(Kohonen 1982; MiniSom's rule)."))
    sigma: float | None = Field(None, gt=0, description=(
        "Starting neighbourhood radius in grid units (default: a quarter of the larger map side, at least 1)."))
    learning_rate: float = Field(0.5, gt=0, le=1, description="online: starting learning rate.")
    decay: Literal["asymptotic", "linear", "inverse"] = Field("asymptotic", description=(
        "Schedule of sigma and the learning rate (MiniSom's): asymptotic ends at a third of the start; linear "
        "and inverse end at 0 (learning rate) and 1 (sigma)."))
    init: Literal["pca", "sample"] = Field("pca", description=(
        "pca: units spread over the plane of the first two principal components (deterministic); sample: each "
        "unit starts at a random training input (seeded)."))
    outlier_fraction: float = Field(0.05, gt=0, lt=0.5, description=(
        "Share of rows flagged as outliers: those whose best-matching unit lies farthest from its neighbours "
        "(largest mean interneuron distance, the white cells of the U-matrix)."))
    hybrid: bool = Field(False, description=(
        "Train a small supervised network on the SOM's outlier flags and rank every row by its predicted "
        "probability (the SOM -> ANN hybrid of seed 004)."))
    hybrid_epochs: int = Field(30, ge=1, description="hybrid: training epochs of the supervised network.")


class AnomalyConfig(_Section):
    window: int = Field(48, ge=4, le=4096, description=(
        "Rows per autoencoder input; a row's anomaly score is the reconstruction error of the window that "
        "ends at it (causal)."))
    calibration: float = Field(0.33, gt=0, lt=1, description=(
        "Share of NAB's probationary period (first 15 % of a file, at most 750 rows, never scored) held out "
        "from training to choose the threshold; the rest trains the detector."))
    quantile: float = Field(1.0, gt=0.5, le=1.0, description=(
        "Label-free threshold: this quantile of the detector's scores on the calibration rows (1.0 = their "
        "maximum: anything stranger than all of them is an alarm)."))
    zscore_window: int = Field(48, ge=3, description=(
        "Rolling z-score baseline: rows of history it standardizes each value by."))
    history: int | None = Field(480, ge=10, description=(
        "Every detector's raw score is standardized by the mean and std of its own previous `history` rows "
        "(fewer at the start of a file) before the threshold — a causal 'how unusual is this error lately', "
        "which follows slow drift (Numenta's anomaly likelihood in spirit). null: threshold the raw scores."))
    refractory: int | None = Field(None, ge=0, description=(
        "Rows kept silent after each alarm (default: anomaly.window): one event raises one alarm."))
    normal_classes: tuple[str, ...] = Field((), description=(
        "Images: the class(es) the autoencoder learns as normal (it trains on their training images only); "
        "every other class is an anomaly in the test split."))
    export: bool = Field(False, description=(
        "Write NAB-format result CSVs (timestamp,value,anomaly_score,label; the threshold maps to 0.5) for "
        "the model and both baselines under each seed's nab-results/."))


class PretrainConfig(_Section):
    task: Literal["none", "rotation", "supervised", "imagenet"] = Field("none", description=(
        "Before the supervised training the network learns another task, then gets a fresh classifier head "
        "for the real classes. rotation: tell which of 0/90/180/270 degrees an unlabelled training image was "
        "turned by (Gidaris et al., 2018); supervised: the classes of another labelled dataset "
        "(`pretrain.data`) — transfer learning; imagenet: start from torchvision's published ImageNet-1K "
        "weights of the model (resnet18, resnet50, resnext50_32x4d, vgg16, vgg16_bn, mobilenet_v3_large, "
        "efficientnet_b0 at full width; `deepstudy weights fetch NAME` first; needs data.imagenet_input)."))
    data: str | None = Field(None, description=(
        "supervised: the source dataset (registry name, e.g. fashion-mnist); its training split is learned, "
        "its images must have the target's shape."))
    epochs: int = Field(5, ge=1, description=(
        "Pretraining epochs over the pool: rotation: every unlabelled training image (also those "
        "data.train_limit leaves out; never the test split), each in its four rotations; supervised: the "
        "source dataset's training split."))
    lr: float = Field(2e-3, gt=0, description="Pretext AdamW learning rate (one-cycle schedule).")
    batch_size: int = Field(128, ge=1, description="Images per pretext batch (x4 rotations).")
    images: int | None = Field(None, ge=100, description=(
        "Use a seeded random subset of this many images of the pool (default: all of it)."))


class DistillConfig(_Section):
    teacher: ModelConfig | None = Field(None, description=(
        "Knowledge distillation (Hinton et al., 2015): the teacher's model config, e.g. {name: resnet18, "
        "width: 0.25}. It is trained first on the same data with this arm's train settings (once per seed; "
        "arms differing only in distill.temperature / alpha share it), then this arm's model learns from its "
        "softened outputs. null: no teacher."))
    temperature: float = Field(4.0, gt=0, le=100, description=(
        "T: both networks' logits are divided by T before the softmax; higher T shows more of the teacher's "
        "ranking of the wrong classes."))
    alpha: float = Field(0.9, ge=0, le=1, description=(
        "Weight of the soft-target term: loss = (1 - alpha) CE(student, labels) + alpha T^2 KL(teacher_T || "
        "student_T)."))
    teacher_epochs: int | None = Field(None, ge=1, description=(
        "Epochs of the teacher's training (default: train.epochs)."))


class LMConfig(_Section):
    seq_len: int = Field(128, ge=8, le=4096, description=(
        "Characters per training window (truncated backpropagation through time); windows start at random "
        "positions of the training text."))
    steps_per_epoch: int | None = Field(None, ge=1, description=(
        "Training windows per epoch = steps x batch size (default: as many characters as the training text "
        "has, in windows)."))
    sample_length: int = Field(300, ge=0, le=5000, description=(
        "Characters generated after every epoch, from the start of the validation text."))
    temperatures: tuple[float, ...] = Field((0.5, 1.0), description=(
        "Sampling temperatures of the generated text (logits / T: low T repeats the likeliest characters, "
        "high T invents)."))
    ngram_orders: tuple[int, ...] = Field((1, 2, 3, 5), description=(
        "Orders of the count-based baselines (add-k smoothing, k chosen on the validation text), scored on "
        "the same test text."))


