"""Every validation rule raises a ConfigError that names the field."""
import json

import pytest

from lrviz import config, data
from lrviz.params import ConfigError
from lrviz.schedules import make

EXP = {"class_name": "ExponentialDecay",
       "config": {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5, "staircase": True}}


def with_config(**changes):
    return {"schedule": {"class_name": "ExponentialDecay", "config": {**EXP["config"], **changes}}}


def refused(raw, field):
    with pytest.raises(ConfigError) as err:
        config.validate(raw)
    assert err.value.field == field
    assert err.value.field in str(err.value)
    return err.value


def test_the_example_of_the_brief_validates():
    assert config.validate({"schedule": EXP})["schedule"] == EXP


def test_missing_sections_take_their_defaults():
    cfg = config.validate({"schedule": EXP})
    assert cfg["training"] == {"epochs": 20, "batch_size": 32, "seed": 0}
    assert cfg["optimizer"]["beta_1"] == 0.9 and cfg["optimizer"]["amsgrad"] is False


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_number_is_refused(value):
    error = refused(with_config(initial_learning_rate=value), "schedule.config.initial_learning_rate")
    assert "a number" in error.allowed


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_number_in_json_text_is_refused(text):
    with pytest.raises(ConfigError) as err:
        config.loads('{"schedule": {"kind": "constant", "learning_rate": %s}}' % text)
    assert err.value.field == "schedule.learning_rate"


def test_string_for_a_number_is_refused():
    refused(with_config(decay_steps="100"), "schedule.config.decay_steps")


def test_bool_for_a_number_is_refused():
    refused(with_config(decay_rate=True), "schedule.config.decay_rate")


def test_fraction_for_an_integer_is_refused():
    refused(with_config(decay_steps=10.5), "schedule.config.decay_steps")


def test_number_for_a_bool_is_refused():
    refused(with_config(staircase=1), "schedule.config.staircase")


@pytest.mark.parametrize("changes,field", [
    ({"decay_steps": 0}, "schedule.config.decay_steps"),
    ({"decay_rate": 0.0}, "schedule.config.decay_rate"),
    ({"initial_learning_rate": -0.1}, "schedule.config.initial_learning_rate"),
    ({"initial_learning_rate": 11.0}, "schedule.config.initial_learning_rate"),
])
def test_out_of_range_is_refused(changes, field):
    error = refused(with_config(**changes), field)
    assert ">" in error.allowed or "<" in error.allowed


def test_unknown_key_in_a_schedule_is_refused():
    error = refused(with_config(decay=0.1), "schedule.config.decay")
    assert "decay_steps" in error.allowed


def test_unknown_key_in_a_section_is_refused():
    refused({"schedule": EXP, "training": {"epochs": 3, "batch": 8}}, "training.batch")


def test_unknown_section_is_refused():
    refused({"schedule": EXP, "callbacks": []}, "callbacks")


def test_unknown_kind_is_refused():
    error = refused({"schedule": {"kind": "warm_restarts"}}, "schedule.kind")
    assert "one_cycle" in error.allowed


def test_keras_class_name_as_kind_is_refused():
    refused({"schedule": {"kind": "ExponentialDecay"}}, "schedule.kind")


def test_unknown_class_name_is_refused():
    error = refused({"schedule": {"class_name": "ExponentialDecayy", "config": {}}}, "schedule.class_name")
    assert "CosineDecayRestarts" in error.allowed


def test_kind_as_class_name_is_refused():
    refused({"schedule": {"class_name": "one_cycle", "config": {}}}, "schedule.class_name")


def test_wrong_module_is_refused():
    refused({"schedule": {**EXP, "module": "os"}}, "schedule.module")


def test_wrong_registered_name_is_refused():
    refused({"schedule": {**EXP, "registered_name": "Custom>Exp"}}, "schedule.registered_name")


def test_non_string_schedule_name_is_refused():
    refused(with_config(name=["x"]), "schedule.config.name")


def test_values_not_one_longer_than_boundaries_is_refused():
    schedule = make("PiecewiseConstantDecay", boundaries=[10, 20], values=[0.1, 0.01])
    refused({"schedule": schedule}, "schedule.config.values")


def test_boundaries_not_increasing_are_refused():
    schedule = make("PiecewiseConstantDecay", boundaries=[20, 10], values=[0.1, 0.01, 0.001])
    refused({"schedule": schedule}, "schedule.config.boundaries")


def test_list_element_of_wrong_type_is_refused():
    schedule = make("PiecewiseConstantDecay", boundaries=[10, "20"], values=[0.1, 0.01, 0.001])
    refused({"schedule": schedule}, "schedule.config.boundaries[1]")


def test_milestones_not_increasing_are_refused():
    refused({"schedule": make("multi_step", milestones=[5, 5])}, "schedule.milestones")


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_plateau_factor_of_one_or_more_is_refused(factor):
    error = refused({"schedule": make("reduce_lr_on_plateau", factor=factor)}, "schedule.factor")
    assert "< 1" in error.allowed


def test_plateau_unknown_mode_is_refused():
    refused({"schedule": make("reduce_lr_on_plateau", mode="up")}, "schedule.mode")


def test_two_clip_options_are_refused():
    raw = {"schedule": EXP, "optimizer": {"clipnorm": 1.0, "clipvalue": 0.5}}
    error = refused(raw, "optimizer.clipvalue")
    assert "clipnorm" in error.allowed


@pytest.mark.parametrize("key", ["lr", "decay", "learning_rate"])
def test_optimizer_rate_keys_are_refused(key):
    error = refused({"schedule": EXP, "optimizer": {key: 0.001}}, f"optimizer.{key}")
    assert "schedule" in error.allowed


def test_missing_schedule_is_refused():
    refused({"optimizer": {}}, "schedule")


def test_schedule_that_is_not_an_object_is_refused():
    refused({"schedule": "ExponentialDecay"}, "schedule")


def test_config_that_is_not_an_object_is_refused():
    refused([EXP], "config")


def test_invalid_json_is_refused():
    with pytest.raises(ConfigError) as err:
        config.loads('{"schedule": ')
    assert err.value.field == "config"


def test_csv_without_path_is_refused():
    refused({"schedule": EXP, "data": {"name": "csv"}}, "data.path")


def test_unreadable_file_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load(tmp_path / "missing.json")
    assert err.value.field == "config file"


def test_canonical_config_survives_json_and_validates_unchanged():
    cfg = config.validate({"schedule": make("linear_warmup")})
    assert config.loads(json.dumps(cfg)) == cfg


@pytest.fixture(scope="module")
def schedules():
    import keras

    return keras.optimizers.schedules


KERAS_OBJECTS = [
    ("ExponentialDecay", (0.1, 10, 0.5), {"staircase": True}),
    ("PiecewiseConstantDecay", ([10, 20], [0.1, 0.01, 0.001]), {}),
    ("PolynomialDecay", (0.1, 100), {"end_learning_rate": 0.001, "power": 2.0, "cycle": True}),
    ("InverseTimeDecay", (0.1, 10, 0.5), {}),
    ("CosineDecay", (0.1, 100), {"alpha": 0.1, "warmup_target": 0.2, "warmup_steps": 5}),
    ("CosineDecayRestarts", (0.1, 10), {"t_mul": 1.5, "m_mul": 0.9, "alpha": 0.01}),
]


@pytest.mark.parametrize("name,args,kwargs", KERAS_OBJECTS)
def test_keras_serialized_schedule_validates_unchanged(schedules, name, args, kwargs):
    serialized = schedules.serialize(getattr(schedules, name)(*args, **kwargs))
    cfg = config.validate({"schedule": serialized})["schedule"]
    expected = {k: v for k, v in serialized["config"].items() if k != "name"}
    assert cfg == {"class_name": name, "config": expected}
    assert cfg == config.validate({"schedule": make(name, **expected)})["schedule"]


def test_plateau_on_a_val_metric_without_validation_data_is_refused():
    raw = {"schedule": make("reduce_lr_on_plateau", monitor="val_loss"), "data": {"validation_split": 0.0}}
    refused(raw, "schedule.monitor")


def test_plateau_on_accuracy_of_a_regression_is_refused():
    raw = {"schedule": make("reduce_lr_on_plateau", monitor="val_accuracy"), "data": {"name": "regression"}}
    refused(raw, "schedule.monitor")


def test_plateau_on_mae_of_a_classification_is_refused():
    raw = {"schedule": make("reduce_lr_on_plateau", monitor="val_mae"), "data": {"name": "iris"}}
    refused(raw, "schedule.monitor")


def test_a_builtin_sets_task_is_its_own_whatever_data_task_says():
    # data.task is the CSV's: moons records accuracy even with task "regression".
    raw = {"schedule": make("reduce_lr_on_plateau", monitor="val_accuracy"),
           "data": {"name": "moons", "task": "regression"}}
    assert config.validate(raw)["schedule"]["monitor"] == "val_accuracy"


def test_data_name_allows_exactly_the_declared_datasets():
    (name,) = [p for p in config.DATA.params if p.name == "name"]
    assert name.choices == tuple(data.DATASETS)  # what the page offers, too
    refused({"schedule": EXP, "data": {"name": "mnist"}}, "data.name")


def test_a_run_of_more_than_two_million_steps_is_refused():
    raw = {"schedule": make("constant"), "data": {"n_samples": 200_000}, "training": {"epochs": 1000, "batch_size": 1}}
    refused(raw, "training.epochs")
