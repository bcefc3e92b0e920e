"""Exercise links: a stored setup whose chosen controls are fixed; the server refuses a run
that changes them, and the exercise's runs are found together."""
import pytest

from lrviz import config, exercises, executor
from lrviz.exercises import CONTROLS, control_of
from lrviz.params import ConfigError
from lrviz.schedules import make
from lrviz.store import Store
from lrviz.visitors import Visitor

SETUP = config.validate({"schedule": make("constant", learning_rate=0.01), "data": {"n_samples": 200},
                         "training": {"epochs": 3}})


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path)


def test_an_exercise_is_stored_with_its_setup_and_fixed_controls(store):
    made = exercises.make(store, "Warmup or not", SETUP, ["model.hidden_units"], ["training.epochs"], "teacher")
    found = exercises.get(store, made.id)
    assert found == made and found.config == SETUP and found.fixed == ("model.hidden_units", "training.epochs")
    assert found.name == "Warmup or not" and found.visitor == "teacher"


def test_a_control_both_hidden_and_locked_is_hidden(store):
    made = exercises.make(store, "x", SETUP, ["schedule"], ["schedule", "training.epochs"])
    assert made.hidden == ("schedule",) and made.locked == ("training.epochs",)


@pytest.mark.parametrize("field,hidden,locked", [("hide", ["training.nonsense"], []), ("lock", [], ["cfg"])])
def test_an_unknown_control_is_refused_by_name(store, field, hidden, locked):
    with pytest.raises(ConfigError) as refused:
        exercises.make(store, "x", SETUP, hidden, locked)
    assert refused.value.field == field and "training.epochs" in refused.value.allowed


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_an_exercise_needs_a_name(store, name):
    with pytest.raises(ConfigError, match="exercise name"):
        exercises.make(store, name, SETUP, [], [])


@pytest.mark.parametrize("junk", [None, "", "nope", "x" * 200, 5])
def test_a_link_naming_no_exercise_finds_none(store, junk):
    assert exercises.get(store, junk) is None


@pytest.mark.parametrize("control,changed", [
    ("training.epochs", {"training": {"epochs": 4}}),
    ("schedule", {"schedule": make("constant", learning_rate=0.02)}),
    ("optimizer.beta_2", {"optimizer": {"beta_2": 0.99}}),
    ("optimizer.class_name", {"optimizer": {"class_name": "ScheduleFreeAdamW", "config": {}}}),
    ("data.name", {"data": {"name": "circles", "n_samples": 200}}),
])
def test_a_run_that_changes_a_fixed_control_is_refused_naming_it(store, control, changed):
    made = exercises.make(store, "x", SETUP, [], [control])
    cfg = config.validate({**SETUP, **changed})
    with pytest.raises(ConfigError) as refused:
        made.check(cfg)
    assert refused.value.field == control and "the exercise “x” fixes it" in refused.value.allowed


def test_a_run_may_change_what_the_exercise_leaves_free(store):
    made = exercises.make(store, "x", SETUP, ["model.hidden_units"], ["training.epochs"])
    made.check(config.validate({**SETUP, "schedule": make("CosineDecay", initial_learning_rate=0.01,
                                                          decay_steps=15)}))


def test_the_server_refuses_a_run_in_an_exercise_that_does_not_exist(store):
    with pytest.raises(ConfigError) as refused:
        executor.check_config(SETUP, store, Visitor("v", exercise="forged"))
    assert refused.value.field == "exercise"


def test_every_widget_key_of_the_sidebar_belongs_to_a_control():
    from lrviz import panels

    keys = panels.config_state(SETUP)
    assert {control_of(k) for k in keys} <= set(CONTROLS)
    assert control_of("s.constant.learning_rate") == "schedule" and control_of("data.path") == "data.name"
    assert control_of("training.seed.on") == "training.seed"


@pytest.mark.parametrize("path,control", [("schedule", "schedule"), ("schedule.decay_steps", "schedule"),
                                          ("optimizer.config.beta_1", "optimizer.beta_1"),
                                          ("training.epochs", "training.epochs"), ("data.path", "data.name")])
def test_a_sweeps_field_belongs_to_a_control(path, control):
    assert exercises.control_of_path(path) == control


def test_a_run_made_in_an_exercise_is_found_with_the_exercise(store):
    made = exercises.make(store, "x", SETUP, [], ["training.epochs"])
    inside = executor.create_run(store, executor.check_config(SETUP, store, Visitor("v", exercise=made.id)), None,
                                 by=Visitor("v", exercise=made.id))
    executor.create_run(store, SETUP, None, by=Visitor("v"))
    assert [r["id"] for r in store.runs(exercise=made.id)] == [inside]
    assert store.run(inside)["visitor"] == "v"
