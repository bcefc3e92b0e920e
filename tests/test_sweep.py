"""A sweep is checked cell by cell before anything runs: every refusal names the field, the
value and the cell, and a good sweep expands into its runs in a fixed order."""
import pytest

from lrviz.experiments import ab, sweep
from lrviz.params import ConfigError
from lrviz.schedules import make

BASE = {"schedule": make("constant"), "data": {"n_samples": 200}, "training": {"epochs": 2}}


def refusal(raw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        sweep.check(raw)
    return info.value


def test_a_grid_expands_cell_by_cell_with_seeds_inside():
    plan = sweep.check({"base": BASE, "grid": {"optimizer.beta_1": [0.9, 0.8], "training.batch_size": [16, 32]},
                        "seeds": [3, 4]})
    assert [(r.cell, r.seed) for r in plan.runs][:3] == [((0.9, 16), 3), ((0.9, 16), 4), ((0.9, 32), 3)]
    assert len(plan.runs) == 8 and plan.cells[-1] == (0.8, 32)
    first = plan.runs[0].config
    assert (first["optimizer"]["beta_1"], first["training"]["batch_size"], first["training"]["seed"]) == (0.9, 16, 3)


def test_a_schedule_grid_takes_whole_sections():
    plan = sweep.check({"base": BASE, "grid": {"schedule": [make("constant", learning_rate=0.01),
                                                            make("CosineDecay", decay_steps=10)]}, "seeds": [0]})
    assert [r.config["schedule"].get("class_name", "constant") for r in plan.runs] == ["constant", "CosineDecay"]


def test_a_schedule_argument_is_a_field_by_its_path():
    plan = sweep.check({"base": {**BASE, "schedule": make("CosineDecay")},
                        "grid": {"schedule.config.initial_learning_rate": [0.1, 0.01]}})
    assert [r.config["schedule"]["config"]["initial_learning_rate"] for r in plan.runs] == [0.1, 0.01]


def test_no_grid_is_seed_replicates_of_the_base():
    plan = sweep.check({"base": BASE, "seeds": [0, 1, 2]})
    assert [r.seed for r in plan.runs] == [0, 1, 2] and plan.fields == ()


def test_a_field_that_does_not_exist_is_named_with_examples():
    exc = refusal({"base": BASE, "grid": {"optimizer.beta1": [0.9]}})
    assert exc.field == "grid.optimizer.beta1" and "optimizer.beta_1" in str(exc)


def test_a_section_is_not_a_field():
    assert "a section, not a field" in str(refusal({"base": BASE, "grid": {"optimizer": [0.9]}}))


def test_a_value_out_of_range_names_its_place_in_the_grid():
    exc = refusal({"base": BASE, "grid": {"optimizer.beta_1": [0.9, 1.5]}})
    assert exc.field == "grid.optimizer.beta_1[1]: optimizer.beta_1" and exc.value == 1.5


def test_a_non_finite_value_is_refused():
    exc = refusal({"base": BASE, "grid": {"optimizer.epsilon": [float("nan")]}})
    assert exc.field == "grid.optimizer.epsilon[0]: optimizer.epsilon"


def test_a_bad_schedule_section_names_its_place_and_its_field():
    exc = refusal({"base": BASE, "grid": {"schedule": [make("constant"), {"kind": "constant", "learning_rate": -1}]}})
    assert exc.field == "grid.schedule[1]: schedule.learning_rate"


def test_a_cell_that_only_fails_in_combination_is_named_as_the_cell():
    exc = refusal({"base": BASE, "grid": {"optimizer.clipnorm": [1.0], "optimizer.clipvalue": [0.5]}})
    assert exc.field.startswith("the cell optimizer.clipnorm = 1.0, optimizer.clipvalue = 0.5: optimizer.")


def test_more_runs_than_the_limit_are_refused_before_anything_runs():
    grid = {"optimizer.beta_1": [0.5 + i / 100 for i in range(30)], "optimizer.beta_2": [0.9 + i / 1000 for i in range(20)]}
    exc = refusal({"base": BASE, "grid": grid, "seeds": [0]})
    assert "600 runs" in str(exc) and "at most 500" in str(exc)


def test_the_seed_is_not_a_grid_field():
    exc = refusal({"base": BASE, "grid": {"training.seed": [1, 2]}})
    assert exc.field == "grid.training.seed" and "seeds" in str(exc)


def test_whole_schedules_and_a_schedule_field_are_not_swept_together():
    exc = refusal({"base": BASE, "grid": {"schedule": [make("constant")], "schedule.learning_rate": [0.1]}})
    assert exc.field == "grid.schedule.learning_rate"


def test_a_value_given_twice_is_refused():
    exc = refusal({"base": BASE, "grid": {"optimizer.beta_1": [0.9, 0.8, 0.9]}})
    assert exc.field == "grid.optimizer.beta_1" and exc.value == 0.9 and "twice" in str(exc)


def test_a_bad_base_is_named_as_the_base():
    assert refusal({"base": {**BASE, "training": {"epochs": 0}}}).field == "base.training.epochs"


def test_three_fields_are_refused():
    grid = {"optimizer.beta_1": [0.9], "optimizer.beta_2": [0.99], "training.batch_size": [8]}
    assert refusal({"base": BASE, "grid": grid}).field == "grid"


@pytest.mark.parametrize("seeds", [[], [1, 1], [-1], [0.5], list(range(11)), "0,1"])
def test_bad_seeds_are_refused(seeds):
    assert refusal({"base": BASE, "seeds": seeds}).field == "seeds"


def test_an_unknown_key_is_refused():
    assert refusal({"base": BASE, "grids": {}}).field == "sweep.grids"


def test_an_ab_test_pairs_the_two_arms_on_the_same_seeds():
    plan = ab.check({"a": BASE, "b": {**BASE, "schedule": make("CosineDecay")}, "seeds": [0, 1]})
    assert [(r.cell, r.seed) for r in plan.runs] == [(("A",), 0), (("A",), 1), (("B",), 0), (("B",), 1)]


def test_a_bad_arm_is_named():
    with pytest.raises(ConfigError) as info:
        ab.check({"a": BASE, "b": {**BASE, "training": {"epochs": 0}}})
    assert info.value.field == "b.training.epochs"
