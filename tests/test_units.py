"""Step counts shown in steps, epochs or % of the run: the config always holds steps, and the
page's values convert both ways without drift."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrviz import config, panels, presets
from lrviz.schedules import make


@pytest.mark.parametrize("unit,value,steps", [("steps", 250, 250), ("epochs", 2.5, 125), ("% of the run", 10, 100)])
def test_a_count_in_any_unit_becomes_steps_of_this_run(unit, value, steps):
    assert panels.Span(unit, 50, 1000).to_steps(value) == steps


@given(st.sampled_from(panels.UNITS[1:]), st.integers(1, 5000), st.integers(1, 400), st.integers(0, 10**6))
def test_steps_shown_in_a_unit_give_back_the_same_steps(unit, spe, epochs, steps):
    span = panels.Span(unit, spe, spe * epochs)
    assert span.to_steps(span.from_steps(steps)) == steps


def test_a_share_of_the_run_is_shown_as_the_short_number_that_made_it():
    span = panels.Span("% of the run", 8, 165 * 8)
    assert span.from_steps(span.to_steps(65)) == 65


def test_widgets_in_percent_read_back_as_the_same_config():
    cfg = presets.available()["Warmup, stable, decay (WSD)"].config()
    state = panels.config_state(cfg, "% of the run")
    assert state["s.warmup_stable_decay.stable_steps"] == 65 and state["s.units"] == "% of the run"
    assert config.validate(panels.read_config(state.get)) == cfg


def test_a_share_of_the_run_follows_the_epochs():
    cfg = presets.available()["Cosine decay with linear warmup"].config()
    state = panels.config_state(cfg, "% of the run")
    state["training.epochs"] = 40
    sched = config.validate(panels.read_config(state.get))["schedule"]["config"]
    assert (sched["warmup_steps"], sched["decay_steps"]) == (200, 1800)


def test_counts_in_epochs_follow_the_batch_size():
    cfg = config.validate({"schedule": make("CosineDecayRestarts", first_decay_steps=100)})
    state = panels.config_state(cfg, "epochs")
    assert state["s.CosineDecayRestarts.first_decay_steps"] == 2
    state["training.batch_size"] = 16  # 100 steps per epoch
    assert config.validate(panels.read_config(state.get))["schedule"]["config"]["first_decay_steps"] == 200


def test_boundaries_convert_one_by_one():
    cfg = config.validate({"schedule": make("PiecewiseConstantDecay", boundaries=[100, 500])})
    state = panels.config_state(cfg, "epochs")
    assert state["s.PiecewiseConstantDecay.boundaries"] == "2, 10"
    assert config.validate(panels.read_config(state.get))["schedule"] == cfg["schedule"]


def test_changing_the_unit_converts_every_familys_counts_not_only_the_shown_one():
    state = {**panels.config_state(config.default(make("CosineDecay", decay_steps=1000))),
             **panels.schedule_state(make("PolynomialDecay", decay_steps=500))}
    span = (50, 1000)
    new = panels.convert_units("s", state.get, panels.Span("steps", *span), panels.Span("% of the run", *span))
    assert new["s.CosineDecay.decay_steps"] == 100 and new["s.PolynomialDecay.decay_steps"] == 50


def test_a_nested_schedules_counts_convert_with_its_warmup():
    warm = make("linear_warmup", warmup_steps=100, schedule=make("CosineDecay", decay_steps=900))
    state = panels.config_state(config.default(warm), "% of the run")
    assert state["s.linear_warmup.warmup_steps"] == 10
    assert state["s.linear_warmup.schedule.CosineDecay.decay_steps"] == 90


def test_large_step_lists_read_back_exactly_in_any_unit():
    cfg = config.validate({"schedule": make("PiecewiseConstantDecay", boundaries=[1234567, 1999999],
                                            values=[0.01, 0.001, 0.0001]), "training": {"batch_size": 800}})
    for unit in panels.UNITS:
        state = panels.config_state(cfg, unit)
        assert config.validate(panels.read_config(state.get))["schedule"] == cfg["schedule"], unit


def test_a_positive_count_never_rounds_to_no_steps():
    assert panels.Span("epochs", 2, 20).to_steps(0.1) == 1
    assert panels.Span("epochs", 2, 20).to_steps(0) == 0


@pytest.mark.parametrize("text", ["100, x", "inf", "1e400, 5", "nan"])
def test_a_list_that_is_not_finite_numbers_is_refused_naming_its_field(text):
    state = panels.config_state(config.default(make("PiecewiseConstantDecay", boundaries=[100, 200])))
    state["s.PiecewiseConstantDecay.boundaries"] = text
    with pytest.raises(panels.ConfigError, match="finite numbers") as err:
        panels.read_config(state.get)
    assert err.value.field.endswith("boundaries")


def test_changing_the_unit_leaves_text_that_does_not_parse_as_typed():
    state = panels.config_state(config.default(make("PiecewiseConstantDecay", boundaries=[100, 200])))
    state["s.PiecewiseConstantDecay.boundaries"] = "100, x"
    new = panels.convert_units("s", state.get, panels.Span("steps", 50, 1000), panels.Span("epochs", 50, 1000))
    assert "s.PiecewiseConstantDecay.boundaries" not in new
