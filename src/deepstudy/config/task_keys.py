"""What each task reads: its train and data keys, its own sections and analyses (the tables deepstudy.config.tasks
builds one study class per task from). They follow the code that trains each task; a key a task ignores is refused.
"""
from __future__ import annotations

from pydantic import BaseModel

from deepstudy.config.lr_range import LRRangeConfig
from deepstudy.config.data_section import DataConfig
from deepstudy.config.sections import EXPLANATIONS, TrainConfig
from deepstudy.config.task_sections import (AnomalyConfig, DistillConfig, ExplainConfig, LMConfig, PretrainConfig,
                                            SomConfig)

_ALL_TRAIN = tuple(TrainConfig.model_fields)
_ALL_DATA = tuple(DataConfig.model_fields)
_RUN = ("epochs", "device", "threads", "resources")  # every task: length, device, threads, an executor's share
_CKPT = ("checkpoint_seconds",)  # train.drive's `every`: the tasks whose state is a TorchState (not scratch's NumPy)
_SCHEDULE = ("schedule", "step_epochs", "gamma", "warmup_fraction")  # train.from_settings with steps per epoch
_SOURCE = ("name", "path", "format")  # data.load: what is read
_SPLITS = ("val_fraction", "test_fraction", "train_limit")  # images, tables, text: _finish_split, _hold_out_test
_IMAGES = ("normalize", "image_size", "grayscale", "center_crop")  # _load_images (normalize: synthetic tables too)
_TABLES = ("target", "drop")  # _load_table
_OWN_TEXT = ("text_column", "label_column", "test_path")  # data.format: text-csv (data/own.py)

TRAIN_KEYS: dict[str, tuple[str, ...]] = {
    "classify": _ALL_TRAIN,  # study._train_one / _test read every key; distributed (DDP): classify alone
    # _train_one with MSE (no label_smoothing); freeze_*, unfreeze_after and init are classify's (study.check)
    "forecast": tuple(k for k in _ALL_TRAIN if k not in ("label_smoothing", "freeze_embeddings", "freeze_backbone",
                                                         "unfreeze_after", "init", "distributed")),
    # the NumPy engine: its check refuses precision, channels_last, label_smoothing, grad_clip and onecycle
    "scratch": (*_RUN, "batch_size", "eval_batch_size", "optimizer", "schedule", "step_epochs", "gamma", "l1",
                "early_stopping"),  # l1: scratch.l1_penalty, the same rule as the torch side
    "classical": (*_RUN, "optimizer"),  # logistic-regression: full-batch steps at optimizer.lr
    "som": (*_RUN, *_CKPT),  # the schedule is in `som:`
    # from_settings without steps per epoch (no schedule); fp32; the last epoch's weights (no early stopping)
    "reconstruct": (*_RUN, *_CKPT, "batch_size", "eval_batch_size", "optimizer", "grad_clip"),
    "generate": (*_RUN, *_CKPT, "batch_size", "optimizer"),  # study_gan: torch.optim.Adam(lr, betas) for both networks
    "language-model": (*_RUN, *_CKPT, "batch_size", "optimizer", *_SCHEDULE, "grad_clip", "early_stopping",
                       "precision"),
}
DATA_KEYS: dict[str, tuple[str, ...]] = {
    # images, tables, text as token ids (not series: forecast; nab: reconstruct; corpus: language-model)
    "classify": tuple(k for k in _ALL_DATA if k not in ("lookback", "horizon", "stride", "targets", "series",
                                                        "cv_folds", "resample", "time_column")),
    "forecast": (*_SOURCE, "val_fraction", "test_fraction", "drop", "lookback", "horizon", "stride", "targets",
                 "permute_labels", "time_column"),  # data._load_series (no train_limit, normalize, target)
    "scratch": (*_SOURCE, *_SPLITS, *_IMAGES, *_TABLES, "imagenet_input", "permute_labels"),  # no augment, no text
    # raw arrays (no augment, no ImageNet resize); text read as strings, vectorized by the model (no tokenizer)
    "classical": (*_SOURCE, *_SPLITS, *_IMAGES, *_TABLES, *_OWN_TEXT, "text_field", "permute_labels", "cv_folds",
                  "resample"),
    "som": (*_SOURCE, *_SPLITS, *_IMAGES, *_TABLES, "imagenet_input", "permute_labels"),  # float_inputs: no augment
    # NAB files (series), or images whose normal classes train the autoencoder
    "reconstruct": (*_SOURCE, *_SPLITS, *_IMAGES, "imagenet_input", "permute_labels", "series", "time_column",
                    "label_column"),
    "generate": (*_SOURCE, *_SPLITS, *_IMAGES, "permute_labels"),  # 28x28 images; the judge reads labels, splits
    "language-model": (*_SOURCE, "train_limit"),  # a corpus split by position (data/corpus.py)
}
SECTIONS: dict[str, tuple[str, ...]] = {  # the task-specific top-level sections
    "classify": ("explain", "pretrain", "distill", "lr_range"), "forecast": ("explain",), "scratch": (),
    "classical": (), "som": ("som",), "reconstruct": ("anomaly",), "generate": (), "language-model": ("lm",)}
OPTIONAL_SECTIONS: dict[str, type[BaseModel]] = {"explain": ExplainConfig, "som": SomConfig, "anomaly": AnomalyConfig,
                                                 "pretrain": PretrainConfig, "distill": DistillConfig, "lm": LMConfig,
                                                 "lr_range": LRRangeConfig}
# the analyses that explain torch models, per task (study.check; forecast attributes the mean forecast)
_EXPLAINING = {*EXPLANATIONS, "feature-maps", "gradient-flow", "attention"}
# validation metrics a task cannot monitor, and why
MONITOR_REFUSED = {"forecast": ("val_acc", "forecasting has no accuracy; use train.early_stopping.monitor: val_loss")}
EXPLAINING_ALLOWED = {"classify": _EXPLAINING,
                      "forecast": {"saliency", "smoothgrad", "integrated-gradients", "occlusion", "gradient-flow"}}
# analyses that run for some tasks only: what they are, and the tasks (trajectories: the tasks whose arms train
# with torch optimizers from train.optimizer and whose report draws the analyses' figures)
ANALYSIS_TASKS = {"lr-range": ("the learning-rate range test", ("classify",)),
                  "trajectories": ("optimizer paths on 2-D test surfaces",
                                   ("classify", "forecast", "reconstruct", "language-model"))}
# registered datasets built without files: their readers never look at data.path (data/registry.py)
BUILT_IN_DATA = {"digits": "digits", "moons": "synthetic", "circles": "synthetic"}
