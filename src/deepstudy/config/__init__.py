"""Study files: YAML validated by pydantic (frozen, unknown keys rejected with suggestions), one class per task.

One mechanism serves the YAML file, ``--set key=value``, arms and (later) tuning: a *dotted
override* applied to the raw mapping, which is then validated again. A bad key or type stops
here with the key's path and the closest valid names; a key the study's task does not read stops here
too, naming the task and what it reads (deepstudy.config.tasks).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, Tag, TypeAdapter, ValidationError

from deepstudy.config.lr_range import LRRangeConfig
from deepstudy.config.task_sections import (AnomalyConfig, DistillConfig, ExplainConfig, LMConfig, PretrainConfig,
                                            SomConfig)
from deepstudy.config.data_section import DataConfig
from deepstudy.config.sections import (EVAL_BATCH_SIZE, EXPLANATIONS, Analysis, EarlyStoppingConfig, ModelConfig,
                                       OptimizerConfig, Task, TrainConfig)
from deepstudy.config import messages, yamlfile
from deepstudy.config.overrides import apply_overrides, parse_set
from deepstudy.config.tasks import FULL_SECTIONS  # noqa: F401  (deepstudy.runs.listing)
from deepstudy.config.tasks import (DATA_KEYS, define, MAX_RUNS, OPTIONAL_SECTIONS, STUDY_TYPES,
                                    TRAIN_KEYS, Study, too_many_runs)
from deepstudy.config.tasks import ClassicalStudy, ClassifyStudy, ForecastStudy, GenerateStudy  # noqa: F401
from deepstudy.config.tasks import LanguageModelStudy, ReconstructStudy, ScratchStudy, SomStudy  # noqa: F401
from deepstudy.errors import UserError, closest

# The per-task study classes (ClassifyStudy, ...) stay importable from here but are reached through STUDY_TYPES:
# they are made by a function, so the API reference (pdoc) cannot place their fields.
__all__ = ["EVAL_BATCH_SIZE", "EXPLANATIONS", "AnomalyConfig", "Analysis", "DataConfig", "DistillConfig",
           "EarlyStoppingConfig", "ExplainConfig", "LMConfig", "LRRangeConfig", "ModelConfig", "OptimizerConfig",
           "PretrainConfig", "SomConfig", "Task", "TrainConfig", "DATA_KEYS", "TRAIN_KEYS", "OPTIONAL_SECTIONS",
           "STUDY_TYPES", "Study", "AnyStudy", "apply_overrides", "parse_set", "builtin_studies", "find_study",
           "read_yaml", "load", "validate", "define", "json_schema", "arm_config", "for_task", "check_task_model",
           "to_yaml"]


def _task_of(raw: Any) -> str:
    task = raw.get("task", "classify") if isinstance(raw, dict) else getattr(raw, "task", "classify")
    return task if isinstance(task, str) else repr(task)


def _union() -> Any:
    """A study file validated as its task's class (the tag: `task`, classify when absent)."""
    return Annotated[Union[tuple(Annotated[cls, Tag(task)] for task, cls in STUDY_TYPES.items())],  # noqa: UP007
                     Discriminator(_task_of)]


AnyStudy = _union()
_ADAPTERS: dict[tuple[str, ...], TypeAdapter] = {tuple(STUDY_TYPES): TypeAdapter(AnyStudy)}


def _adapter() -> TypeAdapter:
    """The validator of the union, rebuilt when a task was registered since (deepstudy.tasks.register)."""
    key = tuple(STUDY_TYPES)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = TypeAdapter(_union())
    return _ADAPTERS[key]


def builtin_studies() -> dict[str, Path]:
    """The studies that ship with deepstudy: name -> path of its YAML file (`deepstudy list`).

    Example:
        >>> studies = builtin_studies()
        >>> studies["mlp-vs-cnn"].name
        'mlp-vs-cnn.yaml'
    """
    folder = resources.files("deepstudy") / "studies"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def find_study(name_or_path: str) -> Path:
    """The YAML file of a study: ``name_or_path`` is a built-in study's name or a path to a ``.yaml`` file
    (a UserError, with the closest names, for anything else).

    Example:
        >>> find_study("mlp-vs-cnn").name
        'mlp-vs-cnn.yaml'
        >>> find_study("mlp-vs-cn")
        Traceback (most recent call last):
        deepstudy.errors.UserError: unknown study 'mlp-vs-cn' (did you mean: mlp-vs-cnn, ...?); `deepstudy list` ...
    """
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise UserError(f"study file '{path}' does not exist (built-in studies: `deepstudy list`)")
        return path
    studies = builtin_studies()
    if name_or_path not in studies:
        raise UserError(f"unknown study '{name_or_path}'{closest(name_or_path, studies)}; `deepstudy list` shows the "
                        "built-in studies, or pass a .yaml file")
    return studies[name_or_path]


def read_yaml(path: Path) -> dict[str, Any]:
    """A study file's raw mapping, not yet validated (bad YAML or an unreadable file: a UserError naming the
    line).

    Example:
        >>> raw = read_yaml(find_study("mlp-vs-cnn"))
        >>> raw["name"], raw["model"]["name"]
        ('mlp-vs-cnn', 'cnn')
    """
    try:
        raw = yamlfile.load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or e
        if isinstance(e, yaml.reader.ReaderError):  # a control character (NUL ...): its own text spans two lines
            where, problem = f" character {e.position + 1}", str(e).splitlines()[0]
        raise UserError(f"{path}:{where} is not valid YAML ({problem}); fix the file's syntax") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read study file {path}: {e}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be a YAML mapping with at least `name:` (see docs/study-file.md)")
    return raw


def load(name_or_path: str | Path, overrides: dict[str, Any] | None = None, arms: list[str] | None = None,
         given: dict[str, str] | None = None) -> Study:
    """Read a built-in study or a YAML file, apply dotted overrides, validate; run the named arms, in that order
    (``arms`` or ``opt_in_arms`` of the file), or with ``arms=None`` the default ones (``arms``).
    ``given``: override key -> how the user wrote it (``--set train.epochs=3``), named by an error in that key
    instead of the study file (default: ``override KEY=VALUE``).

    Example:
        >>> study = load("mlp-vs-cnn", {"seeds": 2, "train.epochs": 1})
        >>> study.name, study.seeds, study.train.epochs, list(study.arms)
        ('mlp-vs-cnn', 2, 1, ['mlp', 'cnn-plain', 'cnn-bn-dropout'])
    """
    path = find_study(str(name_or_path))
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    overrides = overrides or {}
    given = {**{k: f"override {k}={messages.excerpt(v)}" for k, v in overrides.items()}, **(given or {})}
    study = validate(apply_overrides(raw, overrides), source=str(path), given=given)
    if arms is None:
        return study
    every = {**study.arms, **study.opt_in_arms}
    unknown = [a for a in arms if a not in every]
    if unknown:
        opt_in = f"; opt-in: {', '.join(study.opt_in_arms)}" if study.opt_in_arms else ""
        raise UserError(f"study '{study.name}' has no arm '{unknown[0]}'{closest(unknown[0], every)}; "
                        f"its arms: {', '.join(study.arms)}{opt_in}")
    chosen = {a: every[a] for a in dict.fromkeys(arms)}  # the rest of the opt-in arms stay available (config.yaml)
    if len(chosen) * study.seeds > MAX_RUNS:
        raise UserError(f"--arms: {too_many_runs(len(chosen), study.seeds)}")
    rest = {a: o for a, o in study.opt_in_arms.items() if a not in chosen}
    return study.model_copy(update={"arms": chosen, "opt_in_arms": rest})


def validate(raw: dict[str, Any], source: str = "study", given: dict[str, str] | None = None) -> Study:
    """``raw`` as its task's study class (``STUDY_TYPES``); a problem is a UserError of one line, blamed on the
    override that set the key (``given``: dotted key -> how it was given) or else on ``source``.

    Example:
        >>> study = validate({"name": "tiny", "data": {"name": "digits"}, "model": {"name": "mlp", "hidden": [32]}})
        >>> study.task, study.model.name, study.seeds
        ('classify', 'mlp', 1)
        >>> validate({"name": "tiny", "trian": {}})
        Traceback (most recent call last):
        deepstudy.errors.UserError: study: ...
    """
    if _task_of(raw) in STUDY_TYPES and _flat_dump(raw):
        raw = for_task(raw, _task_of(raw))
    try:
        return _adapter().validate_python(raw)
    except ValidationError as e:
        raise UserError(f"{messages.culprit(e, _task_of(raw), source, given or {})}: "
                        f"{messages.explain(e, _task_of(raw))}") from None


# the optional sections of a study when config.yaml held every task's (before the per-task classes)
_FLAT_SECTIONS = ("explain", "som", "anomaly", "pretrain", "distill", "lm")


def _flat_dump(raw: dict[str, Any]) -> bool:
    """A config.yaml written before the per-task classes: every section and every train and data key of every
    task. Its run read only its task's keys, so resuming or explaining it validates just those."""
    train = set(raw.get("train") or ())
    return (set(_FLAT_SECTIONS) <= set(raw) and set(TrainConfig.model_fields) - _NEWER_TRAIN <= train
            <= set(TrainConfig.model_fields) and set(raw.get("data") or ()) == set(DataConfig.model_fields))


_NEWER_TRAIN = {"l1", "ema", "swa", "checkpoint_seconds"}  # train keys added after the per-task classes: a flat dump
# never has them


def json_schema() -> dict[str, Any]:
    """The JSON schema of a study file: one branch per task (`deepstudy schema`).

    Example:
        >>> schema = json_schema()
        >>> schema["title"], "ClassifyStudy" in schema["$defs"]
        ('Study', True)
    """
    return {"title": "Study", **_adapter().json_schema()}


def arm_config(study: Study, arm: str, overrides: dict[str, Any]) -> Study:
    """One arm: the base with the arm's overrides, validated. An arm that changes the task starts from the base
    cut down to the keys the new task reads (the base's other settings belong to the base task).

    Example:
        >>> study = load("mlp-vs-cnn")
        >>> arm = arm_config(study, "mlp", study.arms["mlp"])
        >>> arm.model.name, list(arm.arms)
        ('mlp', ['mlp'])
    """
    base = study.model_dump(mode="json")
    task = overrides.get("task", study.task)
    if task != study.task and task in STUDY_TYPES:
        base = for_task(base, task)
    raw = apply_overrides(base, overrides)
    raw["arms"], raw["opt_in_arms"] = {arm: {}}, {}
    return validate(raw, source=f"arm '{arm}'")


def for_task(raw: dict[str, Any], task: str) -> dict[str, Any]:
    """``raw`` cut down to the keys ``task`` reads (the rest would be refused as ignored settings).

    Example:
        >>> raw = {"name": "x", "model": {"name": "lenet"}, "train": {"epochs": 3, "channels_last": True}}
        >>> for_task(raw, "scratch")
        {'name': 'x', 'model': {'name': 'lenet'}, 'train': {'epochs': 3}, 'task': 'scratch'}
    """
    return {**_project(raw, STUDY_TYPES[task]), "task": task}


def _project(raw: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The keys of ``raw`` that ``model`` has, section by section (a model's own keyword arguments are kept)."""
    out = {}
    for key, value in raw.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        ann = field.annotation
        if get_origin(ann) is Literal and len(get_args(ann)) == 1 and value not in get_args(ann):
            continue  # a value the task fixes (the DCGAN's Adam): the task's own applies
        section = isinstance(ann, type) and issubclass(ann, BaseModel) and ann is not ModelConfig
        out[key] = _project(value, ann) if section and isinstance(value, dict) else value
    return out


def check_task_model(arm: str, cfg: Study, model: str, arguments: tuple[str, ...], example: str,
                     note: str = "") -> None:
    """Tasks with one model of their own (som, generate, language-model): that model, with its arguments only.

    Example:
        >>> study = validate({"name": "x", "task": "som", "data": {"name": "digits"}, "model": {"name": "mlp"}})
        >>> check_task_model("base", study, "som", ("rows", "cols"), "name: som, rows: 10, cols: 10")
        Traceback (most recent call last):
        deepstudy.errors.UserError: arm 'base': task: som trains model 'som' (model: {...}), not 'mlp'
    """
    if cfg.model.name != model:
        raise UserError(f"arm '{arm}': task: {cfg.task} trains model '{model}' (model: {{{example}}}), "
                        f"not '{cfg.model.name}'")
    bad = set(cfg.model.kwargs()) - set(arguments)
    if bad:
        raise UserError(f"arm '{arm}': model {model} has no argument(s) {', '.join(sorted(bad))}; its arguments: "
                        f"{', '.join(arguments)}{note}")


def to_yaml(study: Study) -> str:
    """The study as YAML, every setting resolved (what a run directory's config.yaml holds).

    Example:
        >>> study = load("mlp-vs-cnn")
        >>> text = to_yaml(study)
        >>> text.splitlines()[0], validate(yaml.safe_load(text)) == study
        ('name: mlp-vs-cnn', True)
    """
    return yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False)
