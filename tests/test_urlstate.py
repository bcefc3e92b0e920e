"""The shareable URL: encode/decode round trips, and anything else falls back with a reason."""
import base64
import json

import pytest

from lrviz import config, presets, urlstate
from lrviz.schedules import FAMILIES, make


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_round_trip_every_family(family):
    cfg = config.validate({"schedule": make(family), "training": {"epochs": 7, "batch_size": 64},
                           "optimizer": {"amsgrad": True, "clipnorm": 1.5}})
    params = urlstate.encode(cfg)
    assert set(params) == {"cfg"} and all(isinstance(v, str) for v in params.values())
    back, problem = urlstate.decode(params)
    assert problem is None
    assert back == cfg


def test_presets_round_trip_and_stay_short():
    for preset in presets.available().values():
        cfg = preset.config()
        params = urlstate.encode(cfg)
        assert len(params["cfg"]) < 600, preset.name  # defaults are left out
        assert urlstate.decode(params) == (cfg, None)


def test_missing_parameter_is_not_a_problem():
    assert urlstate.decode({}) == (None, None)
    assert urlstate.decode({"cfg": ""}) == (None, None)


def _b64(obj) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("value, names", [
    ("%%%not-base64%%%", "base64"),
    (_b64("{not json"), "base64"),
    (_b64([1, 2, 3]), "config"),
    (_b64({"schedule": {"kind": "nope"}}), "schedule.kind"),
    (_b64({"schedule": {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
           "decay_steps": -5, "decay_rate": 0.5}}}), "schedule.config.decay_steps"),
    (_b64({"schedule": make("constant"), "optimizer": {"lr": 0.001}}), "optimizer.lr"),
    (_b64({"schedule": make("constant"), "optimizer": {"clipnorm": 1.0, "clipvalue": 1.0}}),
     "optimizer.clipvalue"),
    (_b64({"schedule": {"kind": "expression", "initial_learning_rate": 0.1,
                        "expression": "__import__('os').system('x')"}}), "schedule.expression"),
    ("A" * 9000, "too long"),
])
def test_bad_parameters_fall_back_with_the_reason(value, names):
    cfg, problem = urlstate.decode({"cfg": value})
    assert cfg is None
    assert names in problem and problem.startswith("URL parameter 'cfg'")


def test_list_values_take_the_last():
    cfg = config.default()
    good = urlstate.encode(cfg)["cfg"]
    assert urlstate.decode({"cfg": ["junk", good]}) == (cfg, None)


@pytest.mark.parametrize("unit", ["steps", "epochs", "% of the run"])
def test_the_unit_of_step_counts_travels_in_the_link(unit):
    assert urlstate.decode_units(urlstate.encode_units(unit)) == unit


@pytest.mark.parametrize("junk", [None, "", "parsecs", ["epochs", "x"], 5])
def test_an_unknown_unit_is_steps(junk):
    assert urlstate.decode_units({"units": junk}) == "steps"
