"""The sections of a study file every task shares (``model:``, ``train:``, ``explain:``; ``data:`` is in
deepstudy.config.data_section), with every key any task reads; the sections of some tasks only are in
deepstudy.config.task_sections.

Each task's study class (deepstudy.config.tasks) keeps the keys that task honours; these full sections
are the field definitions it picks from, and what code reading a key of another task gets (its default).
"""
from __future__ import annotations

import re
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

