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
