"""One study class per task, with only the sections and keys that task's code reads.

A key another task reads but this one ignores is refused (deepstudy.config names the task and what it reads)
instead of being accepted and silently ignored. The tables below say what each task honours; they follow
the code that trains it (study.py ``_train_one``/``_test`` for classify and forecast, study_<task>.py, the
shared helpers ``train.from_settings``, ``train.Monitor``, ``Dataset.batches`` and the readers in data/).

Code written against the flat model may still read a key its task lacks (``cfg.train.precision`` for a SOM):
it gets the full section's default, which is what that task has always run with — except ``precision``, whose
default (auto) a task without the key never resolves: it reads fp32, what such a task runs in.
"""
from __future__ import annotations

from copy import copy
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field, ValidationInfo, create_model, field_validator, model_validator

from deepstudy.config.averaging import averaging_rules
from deepstudy.config.search import SearchConfig
from deepstudy.config.lr_range import LRRangeConfig
from deepstudy.config.task_sections import (AnomalyConfig, DistillConfig, ExplainConfig, LMConfig, PretrainConfig,
                                            SomConfig)
from deepstudy.config.data_section import NULL_MAX_LENGTH, DataConfig, own_data_name
from deepstudy.config.sections import (Analysis, EarlyStoppingConfig, EmaConfig, ModelConfig, OptimizerConfig,
                                       SwaConfig, Task, TrainConfig, _Section, safe_name)

from deepstudy.config.task_keys import (_EXPLAINING, _RUN, _SOURCE, ANALYSIS_TASKS, BUILT_IN_DATA,  # noqa: F401
                                        DATA_KEYS, EXPLAINING_ALLOWED, MONITOR_REFUSED, OPTIONAL_SECTIONS, SECTIONS,
                                        TRAIN_KEYS)

MAX_RUNS = 10_000  # arm x seed runs of one study (1.9 million arms: days of checks, millions of folders)


def too_many_runs(arms: int, seeds: int | None = None) -> str:
    asks = f"{arms:,} arms" if seeds is None else f"{arms:,} arm(s) x {seeds} seed(s) = {arms * seeds:,} runs"
    return (f"the study asks for {asks}; one study trains at most {MAX_RUNS:,} (arms x seeds) — split it into "
            "several studies, lower `seeds`, or explore a large space with `search:`")


_FULL: dict[type[BaseModel], type[BaseModel]] = {}  # a task's section -> the full section it is cut from
_LACKING = {"precision": "fp32"}  # what a key reads as in a task without it, where not the full section's default


class _TaskSection(_Section):
    """A section cut down to what one task reads; the other keys read as the full section's defaults."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            full = _FULL.get(type(self))
            if full is None or name not in full.model_fields:
                raise
            if name in _LACKING and full.__name__ == "TrainConfig":
                return _LACKING[name]
            return full.model_fields[name].get_default(call_default_factory=True)


def _cut(full: type[BaseModel], keys: tuple[str, ...], title: str, **replace: Any) -> type[BaseModel]:
    """``full`` with only ``keys`` (their definitions reused); ``replace``: key -> (annotation, default)."""
    fields = {k: replace.get(k) or (f.annotation, copy(f)) for k, f in full.model_fields.items() if k in keys}
    model = create_model(title, __base__=_TaskSection, __doc__=full.__doc__, **fields)
    _FULL[model] = full
    return model


_ClassicalOptimizer = _cut(OptimizerConfig, ("lr",), "ClassicalOptimizer")
_GanOptimizer = _cut(OptimizerConfig, ("name", "lr", "betas"), "GenerateOptimizer", name=(Literal["adam"], Field(
    "adam", description="The DCGAN always trains with Adam (both networks, lr and betas below).")))
_OPTIMIZERS = {"classical": _ClassicalOptimizer, "generate": _GanOptimizer}


def _train_section(task: str, title: str) -> type[BaseModel]:
    optimizer = _OPTIMIZERS.get(task)
    replace = {"optimizer": (optimizer, optimizer())} if optimizer else {}
    return _cut(TrainConfig, TRAIN_KEYS[task], f"{title}Train", **replace)


class Study(_Section):
    """The fields every task has; each task's class (``STUDY_TYPES``) adds its sections."""

    name: str = Field(..., description="Study name; the run directory is runs/<name>/<timestamp>/.")
    description: str = Field("", description="One line: what the study asks.")
    task: Task = Field("classify", description=(
        "classify: torch models from the zoo; scratch: the NumPy engine (models mlp, lenet, rnn); classical: "
        "from-scratch logistic regression, naive Bayes, KNN (and scikit-learn oracles); forecast: time "
        "series; som: a self-organizing map (model som: rows, cols, neighborhood; schedule in `som`); "
        "reconstruct: autoencoder anomaly detection on NAB series (models dense-ae, conv-ae; see `anomaly`); "
        "generate: a DCGAN (model dcgan: latent, width, batch_norm) judged by a classifier trained on the "
        "real images; language-model: a character-level recurrent model (model char-rnn: cell, embed_dim, "
        "hidden, layers, dropout) on a text corpus, scored by perplexity beside n-gram baselines, with "
        "samples (see `lm`). Without `task:` a study is classify."))
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    arms: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"base": {}}, description=(
        f"Arm name -> dotted overrides of the base config; arms are compared side by side (arms x seeds at most "
        f"{MAX_RUNS:,} runs)."))
    opt_in_arms: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "Arms run only when named with `deepstudy run STUDY --arms NAME[,NAME]` (same form as `arms`): the "
        "costly ones, kept out of the default run but one flag away."))
    seeds: int = Field(1, ge=1, le=100, description=(
        "Independent runs per arm (different initialization, data order, dropout)."))
    seed: int = Field(0, ge=0, description="Base seed; every arm/seed/component seed is derived from it.")
    search: SearchConfig | None = Field(None, description=(
        "Hyperparameter search over this config (section `search` below; docs/search.md): trials, then the best "
        "and the default configuration re-trained on fresh seeds and compared."))
    analyses: tuple[Analysis, ...] = Field(("curves", "confusion", "samples"), description=(
        "Figures and tables in the report: curves, confusion, samples; roc (binary tasks); generalization "
        "(train vs test accuracy per arm); boundary (2-D inputs: decision regions); bias-variance (0-1 loss "
        "decomposition over seeds); gradients (task scratch, model rnn: gradient norm vs time-step distance); "
        "task classify: gradcam, gradcam++, saliency, smoothgrad, integrated-gradients, occlusion (maps of "
        "test predictions with their sanity check and deletion/insertion scores, see `explain`); task "
        "forecast: saliency, smoothgrad, integrated-gradients, occlusion of the mean forecast over (lag, "
        "variable) with the same checks, feature-maps (first-layer filters, activations), gradient-flow "
        "(per-layer weight-gradient norms during training), attention (text models with attention: the "
        "weights over the words of explained examples); task classify: lr-range (the learning-rate range test "
        "of each arm from seed 0's initial weights on the training split, see `lr_range`; `deepstudy lr-find` "
        "runs it alone); tasks classify, forecast, reconstruct, language-model: trajectories (SGD, momentum, Nesterov, "
        "RMSProp, Adam, AdamW and the arms' own optimizer settings stepping a point on 2-D test surfaces — a saddle, "
        "Rosenbrock, Beale, a monkey saddle — drawn as paths on contour plots, with which stall at a saddle and "
        "which escape; independent of the data)."))
    if TYPE_CHECKING:  # sections of some tasks only; a task without one reads its defaults (__getattr__)
        explain: ExplainConfig
        som: SomConfig
        anomaly: AnomalyConfig
        pretrain: PretrainConfig
        distill: DistillConfig
        lm: LMConfig
        lr_range: LRRangeConfig
    TASK: ClassVar[str] = ""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name not in OPTIONAL_SECTIONS:
                raise
            return OPTIONAL_SECTIONS[name]()

    @field_validator("arms", "opt_in_arms")
    @classmethod
    def _arms_well_formed(cls, arms: dict[str, dict[str, Any]], info: ValidationInfo) -> dict[str, dict[str, Any]]:
        if not arms and info.field_name == "arms":
            raise ValueError("a study needs at least one arm, e.g. arms: {base: {}}")
        if len(arms) > MAX_RUNS:  # before any work per arm
            raise ValueError(too_many_runs(len(arms)))
        for arm, overrides in arms.items():
            safe_name("arm name", arm)
            if not isinstance(overrides, dict):
                raise ValueError(f"arm '{arm}' must map dotted keys to values, e.g. {{train.epochs: 5}}")
            if {"arms", "opt_in_arms", "seeds"} & set(overrides):
                raise ValueError(f"arm '{arm}' cannot override 'arms', 'opt_in_arms' or 'seeds'")
            if "seed" in overrides:
                raise ValueError(f"arm '{arm}' cannot override 'seed': the base seed is the study's; arms vary "
                                 "settings, and `seeds` repeats every arm with seeds derived from it — remove it")
        return arms

    @model_validator(mode="before")
    @classmethod
    def _own_data_named(cls, raw: Any) -> Any:
        """Data given by path + format alone is named after its file or folder (not the default 'digits')."""
        d = raw.get("data") if isinstance(raw, dict) else None
        if isinstance(d, dict) and d.get("path") and d.get("format") and "name" not in d and isinstance(d["path"], str):
            raw = {**raw, "data": {**d, "name": own_data_name(d["path"])}}
        return raw

    @field_validator("name")
    @classmethod
    def _name_is_one_folder(cls, name: str) -> str:
        return safe_name("study name", name)

    @model_validator(mode="after")
    def _arm_names_unique(self) -> Study:
        both = sorted(set(self.arms) & set(self.opt_in_arms))
        if both:
            raise ValueError(f"arm '{both[0]}' is in both arms and opt_in_arms; rename one of them")
        safe_name("data.name", self.data.name)  # a data folder's name (the data directory, the cache)
        seen: dict[str, str] = {}
        for arm in [*self.arms, *self.opt_in_arms]:  # one folder each, also on case-insensitive file systems
            if arm.lower() in seen:
                raise ValueError(f"arms '{seen[arm.lower()]}' and '{arm}' differ only in case: they would share "
                                 "one folder on some file systems; rename one of them")
            seen[arm.lower()] = arm
        return self

    @model_validator(mode="after")
    def _config_rules(self) -> Study:
        """The rules that need nothing but the config (those needing the data or the device stay in study.check)."""
        t, d = self.train, self.data
        explaining = set(self.analyses) & _EXPLAINING - EXPLAINING_ALLOWED.get(self.task, set())
        refused_monitor, why_refused = MONITOR_REFUSED.get(self.task, (None, ""))
        rules = [
            (len(self.arms) * self.seeds > MAX_RUNS, too_many_runs(len(self.arms), self.seeds)),
            (explaining, f"analyses {', '.join(sorted(explaining))} explain torch models (task: classify; task: "
                         f"forecast: saliency, smoothgrad, integrated-gradients, occlusion, gradient-flow); remove "
                         f"them for task: {self.task}"),
            *((a in self.analyses and self.task not in tasks, f"analysis {a} ({what}) runs for task: "
               f"{', '.join(tasks)}; remove it for task: {self.task}") for a, (what, tasks) in ANALYSIS_TASKS.items()),
            (t.optimizer.nesterov and t.optimizer.momentum <= 0,
             "train.optimizer.nesterov needs train.optimizer.momentum > 0 (e.g. 0.9)"),
            (t.unfreeze_after and not (t.freeze_backbone and t.unfreeze_after < t.epochs),
             f"train.unfreeze_after needs train.freeze_backbone: true and fewer epochs than train.epochs={t.epochs} "
             "(the head learns alone first)"),
            (getattr(d, "max_length", 1) is None and getattr(d, "tokenizer", "words") != "wordpiece", NULL_MAX_LENGTH),
            (t.freeze_embeddings and not d.word_vectors, "train.freeze_embeddings keeps pretrained word vectors "
             "fixed; set data.word_vectors (minilm or a GloVe-format file) or remove it"),
            (t.early_stopping.monitor == "last" and t.early_stopping.patience,
             "early_stopping.monitor=last keeps every epoch, so patience cannot stop it; remove one of them"),
            (t.early_stopping.monitor == refused_monitor, why_refused),
            *averaging_rules(t),
            (d.cv_folds and d.resample != "none", "choose data.cv_folds or data.resample, not both"),
            (self.search and (set(self.arms) != {"base"} or self.arms["base"] or self.opt_in_arms),
             "a search tunes one configuration and compares it with the default itself; remove `arms:` (or run "
             "the arms as a study without `search:`)"),
            (self.search and self.seeds != 1, "a search re-trains its best and default configurations on "
             "search.final_seeds fresh seeds; remove `seeds:` (or set search.final_seeds)"),
            (d.path is not None and BUILT_IN_DATA.get(d.name) and d.format in (None, BUILT_IN_DATA.get(d.name)),
             f"'data.path' is not read for dataset '{d.name}' (it is built in, without files); remove data.path, "
             "or set data.format to read your own files under another data.name"),
        ]
        for broken, message in rules:
            if broken:
                raise ValueError(message)
        return self

    def arm_configs(self) -> dict[str, Study]:
        """Each arm's fully validated config (the base with the arm's overrides applied)."""
        from deepstudy.config import arm_config

        return {arm: arm_config(self, arm, overrides) for arm, overrides in self.arms.items()}


def _study(task: str, title: str, doc: str) -> type[Study]:
    """The study class of one task: ``task`` fixed (required except for classify, the default), its train and
    data keys, its own sections."""
    train, data = _train_section(task, title), _cut(DataConfig, DATA_KEYS[task], f"{title}Data")
    fields: dict[str, Any] = {
        "task": (Literal[task], Field("classify" if task == "classify" else ..., description=doc)),
        "train": (train, train()), "data": (data, data()),
        **{s: (OPTIONAL_SECTIONS[s], OPTIONAL_SECTIONS[s]()) for s in SECTIONS[task]},
    }
    cls = create_model(f"{title}Study", __base__=Study, __doc__=doc, **fields)
    cls.TASK = task
    return cls


ClassifyStudy = _study("classify", "Classify", "classify: torch models from the zoo (the default task).")
ForecastStudy = _study("forecast", "Forecast", "forecast: torch models on time-series windows, scored by R².")
ScratchStudy = _study("scratch", "Scratch", "scratch: the NumPy engine (models mlp, lenet, rnn).")
ClassicalStudy = _study("classical", "Classical", "classical: logistic regression, naive Bayes, KNN (and "
                        "scikit-learn oracles).")
SomStudy = _study("som", "Som", "som: a self-organizing map (model som; its schedule in `som`).")
ReconstructStudy = _study("reconstruct", "Reconstruct", "reconstruct: autoencoder anomaly detection (NAB series, "
                          "images; see `anomaly`).")
GenerateStudy = _study("generate", "Generate", "generate: a DCGAN (model dcgan) judged by a classifier trained "
                       "on the real images.")
LanguageModelStudy = _study("language-model", "LanguageModel", "language-model: a character-level recurrent "
                            "model (model char-rnn) on a text corpus, beside n-gram baselines (see `lm`).")

def define(task: str, *, train: tuple[str, ...], data: tuple[str, ...], sections: tuple[str, ...] = (),
           doc: str = "") -> type[Study]:
    """The study class of a task added from outside the package (deepstudy.tasks.register): the train and data
    keys its code reads (every other key is refused) and its sections of OPTIONAL_SECTIONS.

    Example:
        A plugin task that reads two train keys and one data key (``define`` registers it for good, so
        this is not run here)::

            MyStudy = config.define("my-task", train=("epochs", "batch_size"), data=("name",),
                                    doc="my-task: what it trains")
            config.validate({"name": "x", "task": "my-task", "data": {"name": "digits"}})
    """
    TRAIN_KEYS[task], DATA_KEYS[task], SECTIONS[task] = (*_RUN, *train), (*_SOURCE, *data), sections
    title = "".join(part.title() for part in task.replace("_", "-").split("-"))
    STUDY_TYPES[task] = _study(task, title, doc or f"{task}: a task registered by a plugin.")
    return STUDY_TYPES[task]


STUDY_TYPES: dict[str, type[Study]] = {c.TASK: c for c in (
    ClassifyStudy, ForecastStudy, ScratchStudy, ClassicalStudy, SomStudy, ReconstructStudy, GenerateStudy,
    LanguageModelStudy)}
FULL_SECTIONS: dict[str, type[BaseModel]] = {"data": DataConfig, "train": TrainConfig, "model": ModelConfig,
                                             "optimizer": OptimizerConfig, "early_stopping": EarlyStoppingConfig,
                                             "ema": EmaConfig, "swa": SwaConfig,
                                             **OPTIONAL_SECTIONS}
