import pytest
from pydantic import ValidationError

from deepstudy import config, study
from deepstudy.config import Study, apply_overrides, parse_set
from deepstudy.errors import UserError


def test_unknown_key_names_path_and_suggestion():
    with pytest.raises(UserError) as e:
        config.validate({"name": "x", "train": {"epoch": 3}})
    assert "train.epoch" in str(e.value) and "epochs" in str(e.value)


def test_unknown_top_level_key_lists_closest():
    with pytest.raises(UserError, match=r"unknown key 'sedes'.*seeds"):
        config.validate({"name": "x", "sedes": 3})


def test_wrong_type_names_the_key():
    with pytest.raises(UserError, match=r"'train.batch_size'.*integer"):
        config.validate({"name": "x", "train": {"batch_size": "big"}})


def test_config_is_frozen():
    s = config.validate({"name": "x"})
    with pytest.raises(ValidationError, match="frozen"):
        s.seeds = 4  # type: ignore[misc]


def test_dotted_overrides_set_leaves_and_replace_sections():
    base = {"model": {"name": "mlp", "hidden": [8]}, "train": {"epochs": 2}}
    out = apply_overrides(base, {"train.optimizer.lr": 0.5, "model": {"name": "cnn"}})
    assert out["train"] == {"epochs": 2, "optimizer": {"lr": 0.5}}
    assert out["model"] == {"name": "cnn"}  # a whole section is replaced, not merged
    assert base["model"]["hidden"] == [8]  # input untouched


def test_parse_set_reads_yaml_values():
    assert parse_set(["train.epochs=3", "data.augment=[crop, hflip]", "model.dropout=0.5"]) == {
        "train.epochs": 3, "data.augment": ["crop", "hflip"], "model.dropout": 0.5}
    with pytest.raises(UserError, match="key=value"):
        parse_set(["epochs"])


def test_arms_are_validated_configs():
    s = config.validate({"name": "x", "arms": {"a": {}, "b": {"train.optimizer.lr": 0.1}}})
    arms = s.arm_configs()
    assert arms["a"].train.optimizer.lr == 1e-3 and arms["b"].train.optimizer.lr == 0.1
    with pytest.raises(UserError, match=r"arm 'c'.*train.epochz"):
        config.validate({"name": "x", "arms": {"c": {"train.epochz": 1}}}).arm_configs()


def test_arms_selects_named_arms_in_the_given_order():
    cfg = config.load("imdb-sentiment", {"seeds": 1}, arms=["bilstm-attention", "lstm-3", "bilstm-attention"])
    assert list(cfg.arms) == ["bilstm-attention", "lstm-3"] and cfg.seeds == 1
    assert cfg.arm_configs()["bilstm-attention"].model.kwargs()["attention"] == "additive"
    with pytest.raises(UserError, match=r"no arm 'bilstm-atention'.*bilstm-attention"):
        config.load("imdb-sentiment", arms=["bilstm-atention"])


def test_opt_in_arms_run_only_when_named(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\narms: {a: {}}\nopt_in_arms: {slow: {train.epochs: 9}}\n")
    assert list(config.load(path).arms) == ["a"] and list(config.load(path).arm_configs()) == ["a"]
    chosen = config.load(path, arms=["slow", "a"])
    assert list(chosen.arms) == ["slow", "a"] and chosen.arm_configs()["slow"].train.epochs == 9
    assert config.validate(chosen.model_dump(mode="json")).opt_in_arms == {}  # as config.yaml records it
    with pytest.raises(UserError, match=r"no arm 'slw'.*mean: slow.*opt-in: slow"):
        config.load(path, arms=["slw"])
    with pytest.raises(UserError, match=r"arm 'a' is in both"):
        config.validate({"name": "s", "arms": {"a": {}}, "opt_in_arms": {"a": {}}})
    with pytest.raises(UserError, match=r"cannot override"):
        config.validate({"name": "s", "opt_in_arms": {"b": {"seeds": 2}}})


def test_bad_model_argument_is_caught_before_training():
    s = config.validate({"name": "x", "model": {"name": "mlp", "hiden": [3]}})
    with pytest.raises(UserError, match=r"no argument 'hiden'.*hidden"):
        study.check(s)


def test_bad_augmentation_name_is_caught_before_training():
    s = config.validate({"name": "x", "data": {"augment": ["hflp"]}})
    with pytest.raises(UserError, match=r"hflip"):
        study.check(s)


@pytest.mark.parametrize("name", sorted(config.builtin_studies()))
def test_every_builtin_study_is_valid(name):
    s = config.load(name)
    assert s.description, "built-in studies need a one-line description for `deepstudy list`"
    assert study.check(s)
    if s.opt_in_arms:  # the opt-in arms are checked as carefully as the default ones
        assert study.check(config.load(name, arms=list(s.opt_in_arms)))
    header = config.find_study(name).read_text().splitlines()[0]
    assert header.startswith(f"# {name}"), "built-in studies start with a header comment naming them"


def test_yaml_syntax_error_is_a_user_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ntrain: {epochs: 3\n")
    with pytest.raises(UserError, match="not valid YAML"):
        config.load(p)


def test_unknown_builtin_suggests(tmp_path):
    with pytest.raises(UserError, match="digits-quickstart"):
        config.load("digits-quickstrat")


def test_schema_exports():
    schema = Study.model_json_schema()
    assert "train" in schema["properties"] and schema["additionalProperties"] is False


@pytest.mark.parametrize("name", sorted(config.builtin_studies()))
def test_every_builtin_study_states_its_measured_result(name):
    header = "\n".join(ln for ln in config.find_study(name).read_text().splitlines() if ln.startswith("#"))
    assert "Measured (" in header and "±" in header and "seeds" in header, "header needs mean ± std over n seeds"


# ------------------------------------------------------------------ per-task config (issue 18, part 2)


@pytest.mark.parametrize("args, key, task", [
    (["run", "gan-mnist", "--set", "train.optimizer.name=sgd"], "train.optimizer.name", "generate"),
    (["run", "gan-mnist", "--set", "train.precision=bf16"], "train.precision", "generate"),
    (["run", "gan-mnist", "--set", "train.schedule=cosine"], "train.schedule", "generate"),
    (["run", "som-clustering", "--set", "train.grad_clip=1.0"], "train.grad_clip", "som"),
])
def test_cli_refuses_a_setting_the_task_ignores(cli, tmp_path, args, key, task):
    r = cli(*args, "--out", str(tmp_path / "runs"))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, (r.code, r.err)
    assert f"'{key}'" in r.err and f"task {task}" in r.err and "remove it" in r.err
    assert not (tmp_path / "runs").exists()


def test_ignored_key_message_names_task_and_what_it_reads():
    with pytest.raises(UserError) as e:
        config.validate({"name": "x", "task": "som", "train": {"grad_clip": 1.0}})
    assert str(e.value) == ("study: 'train.grad_clip' is not used by task: som (it would be silently ignored); "
                            "remove it — task som reads train: epochs, checkpoint_seconds, device, threads, resources")


# task -> (a key another task reads but this one ignores, a key it honours), with values
PER_TASK = {
    "classify": (("som.sigma", 2.0), ("train.label_smoothing", 0.1)),
    "forecast": (("train.label_smoothing", 0.1), ("data.lookback", 12)),
    "scratch": (("train.grad_clip", 1.0), ("train.schedule", "step")),
    "classical": (("train.batch_size", 32), ("train.optimizer.lr", 0.1)),
    "som": (("train.batch_size", 32), ("som.sigma", 2.0)),
    "reconstruct": (("train.schedule", "cosine"), ("anomaly.window", 24)),
    "generate": (("data.augment", ["hflip"]), ("train.optimizer.betas", [0.5, 0.999])),
    "language-model": (("data.val_fraction", 0.2), ("lm.seq_len", 64)),
}


@pytest.mark.parametrize("task", sorted(PER_TASK))
def test_each_task_refuses_what_it_ignores_and_keeps_what_it_reads(task):
    (ignored, bad), (honoured, good) = PER_TASK[task]
    with pytest.raises(UserError) as e:
        config.validate(apply_overrides({"name": "x", "task": task}, {ignored: bad}))
    refused = ignored.split(".")[0] if ignored.split(".")[0] in config.OPTIONAL_SECTIONS else ignored  # a section
    assert f"'{refused}' is not used by task: {task}" in str(e.value)
    s = config.validate(apply_overrides({"name": "x", "task": task}, {honoured: good}))
    assert type(s) is config.STUDY_TYPES[task] and s.task == task
    node = s
    for part in honoured.split("."):
        node = getattr(node, part)
    assert node == (tuple(good) if isinstance(good, list) else good)


def test_unknown_key_suggestions_come_from_the_tasks_own_keys():
    with pytest.raises(UserError, match=r"unknown key 'train.epochz' \(did you mean: epochs\?\)"):
        config.validate({"name": "x", "task": "som", "train": {"epochz": 3}})
    with pytest.raises(UserError, match=r"unknown task 'clasify'.*classify"):
        config.validate({"name": "x", "task": "clasify"})


def test_generate_trains_with_adam_only():
    assert config.validate({"name": "x", "task": "generate"}).train.optimizer.name == "adam"
    with pytest.raises(UserError, match=r"'train.optimizer.name': task generate trains with 'adam' only, got 'sgd'"):
        config.validate({"name": "x", "task": "generate", "train": {"optimizer": {"name": "sgd"}}})


def test_arm_cannot_override_the_seed():
    with pytest.raises(UserError, match=r"arm 'a' cannot override 'seed': the base seed is the study's; arms vary"):
        config.validate({"name": "x", "arms": {"a": {"seed": 3}}})
    with pytest.raises(UserError, match=r"cannot override 'seed'"):
        config.validate({"name": "x", "opt_in_arms": {"b": {"seed": 3}}})


def test_data_path_is_refused_where_the_reader_ignores_it():
    from deepstudy.config.tasks import BUILT_IN_DATA
    from deepstudy.data import REGISTRY

    assert BUILT_IN_DATA == {n: s.format for n, s in REGISTRY.items() if not s.files}
    for name in BUILT_IN_DATA:
        with pytest.raises(UserError, match=rf"'data.path' is not read for dataset '{name}'.*remove data.path"):
            config.validate({"name": "x", "data": {"name": name, "path": "/nowhere"}})
    assert config.validate({"name": "x", "data": {"name": "mnist", "path": "/data/mnist"}}).data.path == "/data/mnist"
    own = {"name": "digits", "path": "/my/images", "format": "image-folder"}  # a registered name as a label
    assert config.validate({"name": "x", "data": own}).data.path == "/my/images"


@pytest.mark.parametrize("raw, message", [
    ({"train": {"optimizer": {"name": "sgd", "nesterov": True}}}, "nesterov needs train.optimizer.momentum > 0"),
    ({"train": {"unfreeze_after": 2}}, "unfreeze_after needs train.freeze_backbone: true"),
    ({"train": {"freeze_backbone": True, "unfreeze_after": 5, "epochs": 5}}, "fewer epochs than train.epochs=5"),
    ({"train": {"freeze_embeddings": True}}, "freeze_embeddings keeps pretrained word vectors fixed; set data.word"),
    ({"train": {"early_stopping": {"monitor": "last", "patience": 2}}}, "monitor=last keeps every epoch"),
    ({"task": "classical", "data": {"cv_folds": 5, "resample": "bootstrap"}}, "choose data.cv_folds or data.resample"),
    ({"task": "som", "analyses": ["curves", "saliency"]}, "analyses saliency explain torch models"),
    ({"task": "forecast", "analyses": ["gradcam"]}, "analyses gradcam explain torch models"),
    ({"task": "forecast", "train": {"early_stopping": {"monitor": "val_acc"}}}, "forecasting has no accuracy"),
])
def test_config_only_rules_are_refused_at_validation(raw, message):
    with pytest.raises(UserError) as e:
        config.validate({"name": "x", **raw})
    assert message in str(e.value) and "Value error" not in str(e.value)


def test_config_only_rules_accept_the_valid_forms():
    ok = [{"train": {"optimizer": {"name": "sgd", "nesterov": True, "momentum": 0.9}}},
          {"train": {"freeze_backbone": True, "unfreeze_after": 2, "epochs": 5}},
          {"train": {"freeze_embeddings": True}, "data": {"word_vectors": "minilm"}},
          {"train": {"early_stopping": {"monitor": "last"}}},
          {"task": "classical", "data": {"cv_folds": 5}, "seeds": 5},
          {"task": "forecast", "analyses": ["curves", "saliency", "occlusion", "gradient-flow"]},
          {"analyses": ["gradcam", "attention", "feature-maps"]}]
    for raw in ok:
        config.validate({"name": "x", **raw})


def test_a_task_reads_the_defaults_of_keys_it_lacks():
    s = config.validate({"name": "x", "task": "som"})
    assert "precision" not in type(s.train).model_fields and "pretrain" not in type(s).model_fields
    assert s.train.precision == "fp32" and s.pretrain.task == "none" and s.train.optimizer.nesterov is False
    assert "precision" not in config.to_yaml(s) and "pretrain" not in config.to_yaml(s)
    with pytest.raises(AttributeError):
        s.train.no_such_key  # noqa: B018


def test_an_arm_that_changes_task_is_validated_as_that_task():
    s = config.validate({"name": "x", "task": "classify", "train": {"batch_size": 32, "precision": "bf16"},
                         "explain": {"examples": 4},
                         "arms": {"torch": {}, "lr": {"task": "classical", "model": {"name": "knn"}}}})
    arms = s.arm_configs()
    assert type(arms["torch"]) is config.ClassifyStudy and type(arms["lr"]) is config.ClassicalStudy
    assert arms["torch"].train.batch_size == 32 and "batch_size" not in type(arms["lr"].train).model_fields
    bad = s.model_copy(update={"arms": {"lr": {"task": "classical", "train.batch_size": 8}}})
    with pytest.raises(UserError, match=r"arm 'lr': 'train.batch_size' is not used by task: classical"):
        bad.arm_configs()


@pytest.mark.parametrize("name", sorted(config.builtin_studies()))
def test_every_builtin_study_validates_as_its_tasks_class(name):
    import yaml

    from golden_studies import tiny

    raw = config.read_yaml(config.find_study(name))
    s = config.load(name)
    assert type(s) is config.STUDY_TYPES[raw.get("task", "classify")]
    every = config.load(name, arms=[*s.arms, *s.opt_in_arms])
    for arm, cfg in every.arm_configs().items():
        assert type(cfg) is config.STUDY_TYPES[cfg.task], arm
    shrunk = config.validate(tiny({**raw, "name": name}))  # the golden check's tiny settings
    assert type(shrunk) is type(s) and shrunk.arm_configs()
    assert config.validate(yaml.safe_load(config.to_yaml(every))) == every  # config.yaml round trip


def test_a_flat_config_yaml_of_an_earlier_run_still_validates():
    """Run directories written before the per-task classes hold every key of every task (resume, explain)."""
    flat = {"name": "old", "task": "generate", **{s: {} for s in ("explain", "som", "anomaly", "pretrain", "distill",
                                                                  "lm")},
            "train": {k: f.get_default(call_default_factory=True) for k, f in config.TrainConfig.model_fields.items()},
            "data": {k: f.get_default(call_default_factory=True) for k, f in config.DataConfig.model_fields.items()}}
    flat = yaml_round_trip(flat)
    s = config.validate(flat)
    assert type(s) is config.GenerateStudy and s.train.optimizer.name == "adam"
    del flat["lm"]  # not a complete flat dump: a study file, checked strictly
    with pytest.raises(UserError, match="is not used by task: generate"):
        config.validate(flat)


def yaml_round_trip(raw):
    import yaml

    return yaml.safe_load(yaml.safe_dump(_json(raw)))


def _json(node):
    from pydantic import BaseModel

    if isinstance(node, BaseModel):
        return node.model_dump(mode="json")
    if isinstance(node, dict):
        return {k: _json(v) for k, v in node.items()}
    return list(node) if isinstance(node, tuple) else node


def test_schema_has_one_branch_per_task_and_the_markdown_lists_what_each_reads():
    from deepstudy.docs import schema_markdown

    schema = config.json_schema()
    branches = [b["$ref"].rsplit("/", 1)[1] for b in schema["oneOf"]]
    assert branches == [c.__name__ for c in config.STUDY_TYPES.values()]
    som = schema["$defs"]["SomStudy"]
    assert som["properties"]["task"]["const"] == "som" and "pretrain" not in som["properties"]
    som_train = schema["$defs"][som["properties"]["train"]["$ref"].rsplit("/", 1)[1]]
    assert sorted(som_train["properties"]) == ["checkpoint_seconds", "device", "epochs", "resources", "threads"]
    md = schema_markdown()
    assert "| `som` | `som` | `epochs`, `checkpoint_seconds`, `device`, `threads`, `resources` |" in md
    assert "`optimizer` (name (adam only), lr, betas)" in md and "## `pretrain` (task: classify)" in md
