"""The catalogue's declarations and hand-computed values of each family (NumPy only)."""
import math

import numpy as np
import pytest

from lrviz.params import ConfigError
from lrviz.schedules import EPOCH, FAMILIES, METRIC, STEP, Timeline, check_schedule, curve, curve_on, make
from lrviz.schedules.plateau import replay


def lr_of(family, epochs=1, steps_per_epoch=100, **params):
    return curve_on(check_schedule(make(family, **params)), Timeline.of(epochs, steps_per_epoch))


def plateau(**params):
    cfg = check_schedule(make("reduce_lr_on_plateau", **params))
    return {k: v for k, v in cfg.items() if k != "kind"}


@pytest.mark.parametrize("family_id", sorted(FAMILIES))
def test_every_param_has_help_and_a_valid_default(family_id):
    fam = FAMILIES[family_id]
    assert all(p.help for p in fam.params) and fam.formula and fam.driver in (STEP, EPOCH, METRIC)
    cfg = check_schedule(make(family_id))
    assert check_schedule(cfg) == cfg


@pytest.mark.parametrize("family_id", sorted(FAMILIES))
def test_default_curve_is_finite_and_positive(family_id):
    _, _, lr = curve(check_schedule(make(family_id)), 5, 37)
    assert lr.shape == (185,) and np.isfinite(lr).all() and (lr >= 0).all()


def test_cyclical_triangular_goes_base_peak_base():
    lr = lr_of("cyclical", initial_learning_rate=0.001, maximal_learning_rate=0.01, step_size=10)
    assert lr[[0, 5, 10, 15, 20, 30]] == pytest.approx([0.001, 0.0055, 0.01, 0.0055, 0.001, 0.01])


def test_cyclical_triangular2_halves_the_height_every_cycle():
    lr = lr_of("cyclical", initial_learning_rate=0.001, maximal_learning_rate=0.009, step_size=10,
               mode="triangular2")
    assert lr[[10, 30, 50]] - 0.001 == pytest.approx([0.008, 0.004, 0.002])


def test_cyclical_exp_range_scales_the_height_by_gamma_to_the_step():
    lr = lr_of("cyclical", initial_learning_rate=0.001, maximal_learning_rate=0.01, step_size=10,
               mode="exp_range", gamma=0.9)
    assert lr[30] == pytest.approx(0.001 + 0.009 * 0.9**30)


def test_one_cycle_peaks_at_pct_start_and_ends_at_the_floor():
    lr = lr_of("one_cycle", maximal_learning_rate=0.01, pct_start=0.3, div_factor=25.0, final_div_factor=1e4)
    assert lr[0] == pytest.approx(0.0004)
    assert lr.argmax() == 29 and lr[29] == pytest.approx(0.01)
    assert lr[-1] == pytest.approx(0.0004 / 1e4)


def test_one_cycle_linear_is_halfway_in_the_middle_of_the_rise():
    lr = lr_of("one_cycle", maximal_learning_rate=0.01, pct_start=0.21, anneal_strategy="linear",
               div_factor=10.0)
    assert lr[10] == pytest.approx((0.001 + 0.01) / 2)


def test_one_cycle_three_phase_returns_to_the_start_before_the_end():
    lr = lr_of("one_cycle", maximal_learning_rate=0.01, pct_start=0.25, three_phase=True, div_factor=10.0)
    assert lr[24] == pytest.approx(0.01) and lr[48] == pytest.approx(0.001)
    assert lr[99] == pytest.approx(0.001 / 1e4)


def test_one_cycle_stretches_over_the_whole_run():
    short = lr_of("one_cycle", epochs=1, maximal_learning_rate=0.01)
    long = lr_of("one_cycle", epochs=3, maximal_learning_rate=0.01)
    assert short.argmax() == 29 and long.argmax() == 89


def test_warmup_stable_decay_phases():
    lr = lr_of("warmup_stable_decay", initial_learning_rate=0.01, warmup_steps=10, stable_steps=20,
               decay_steps=40, alpha=0.1)
    assert lr[0] == pytest.approx(0.001) and lr[5] == pytest.approx(0.0055)
    assert lr[10:30] == pytest.approx([0.01] * 20)
    assert lr[50] == pytest.approx(0.001 + 0.009 * 0.5)
    assert lr[70:] == pytest.approx([0.001] * 30)


def test_warmup_stable_decay_cosine_is_halfway_in_the_middle_of_the_decay():
    lr = lr_of("warmup_stable_decay", initial_learning_rate=0.01, warmup_steps=0, stable_steps=10,
               decay_steps=40, decay_type="cosine")
    assert lr[0] == 0.01 and lr[30] == pytest.approx(0.005) and lr[50] == pytest.approx(0.0, abs=1e-20)


def test_inverse_sqrt_peaks_after_warmup_and_halves_at_four_timescales():
    lr = lr_of("inverse_sqrt", initial_learning_rate=0.01, warmup_steps=10, timescale=20)
    assert lr[0] == 0.0 and lr[5] == pytest.approx(0.005) and lr[10] == pytest.approx(0.01)
    assert lr[10 + 3 * 20] == pytest.approx(0.005)


def test_inverse_sqrt_timescale_defaults_to_warmup_steps():
    assert lr_of("inverse_sqrt", warmup_steps=10) == pytest.approx(lr_of("inverse_sqrt", warmup_steps=10,
                                                                         timescale=10))


def test_linear_warmup_joins_the_inner_schedule_at_its_step_zero():
    inner = make("ExponentialDecay", initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)
    lr = lr_of("linear_warmup", warmup_steps=20, initial_learning_rate=0.02, schedule=inner)
    plain = curve_on(check_schedule(inner), Timeline.of(1, 100))
    assert lr[0] == pytest.approx(0.02) and lr[10] == pytest.approx(0.06)
    assert lr[20:] == pytest.approx(plain[:80])


def test_linear_warmup_gives_the_inner_schedule_the_remaining_steps():
    inner = make("one_cycle", maximal_learning_rate=0.01, pct_start=0.5)
    lr = lr_of("linear_warmup", warmup_steps=20, initial_learning_rate=0.0, schedule=inner)
    assert lr.argmax() == 20 + 40 - 1


@pytest.mark.parametrize("inner,field", [
    (make("CosineDecay", decay_steps=0), "schedule.schedule.config.decay_steps"),
    ({"kind": "cyclical", "step_size": -1}, "schedule.schedule.step_size"),
    ({"kind": "expression", "expression": "__import__('os')"}, "schedule.schedule.expression"),
    ({"kind": "nope"}, "schedule.schedule.kind"),
    ("CosineDecay", "schedule.schedule"),
])
def test_linear_warmup_validates_its_inner_schedule(inner, field):
    with pytest.raises(ConfigError) as err:
        check_schedule({"kind": "linear_warmup", "schedule": inner})
    assert err.value.field == field


@pytest.mark.parametrize("inner", ["step_decay", "time_based_decay", "multi_step", "reduce_lr_on_plateau"])
def test_linear_warmup_refuses_epoch_and_metric_schedules(inner):
    with pytest.raises(ConfigError, match="per-step") as err:
        check_schedule({"kind": "linear_warmup", "schedule": make(inner)})
    assert err.value.field == "schedule.schedule.kind"


def test_linear_warmup_refuses_a_nested_warmup():
    with pytest.raises(ConfigError, match="another warmup") as err:
        check_schedule({"kind": "linear_warmup", "schedule": make("linear_warmup")})
    assert err.value.field == "schedule.schedule.kind"


def test_step_decay_drops_every_epochs_drop_epochs():
    lr = lr_of("step_decay", epochs=7, steps_per_epoch=3, initial_learning_rate=0.1, drop=0.5, epochs_drop=3)
    assert lr[::3] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])


def test_multi_step_drops_at_the_start_of_each_milestone_epoch():
    lr = lr_of("multi_step", epochs=6, steps_per_epoch=2, initial_learning_rate=1.0, milestones=[2, 4],
               gamma=0.1)
    assert lr == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])


def test_exponential_per_epoch_multiplies_by_gamma_each_epoch():
    lr = lr_of("exponential_per_epoch", epochs=4, steps_per_epoch=5, initial_learning_rate=0.1, gamma=0.5)
    assert lr[::5] == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_time_based_decay_as_written_compounds():
    lr = lr_of("time_based_decay", epochs=21, steps_per_epoch=1, initial_learning_rate=0.1, decay=0.1)
    textbook = lr_of("time_based_decay", epochs=21, steps_per_epoch=1, initial_learning_rate=0.1, decay=0.1,
                     compounding=False)
    assert lr[20] == pytest.approx(0.1 / math.prod(1 + 0.1 * k for k in range(1, 21)))
    assert textbook[20] == pytest.approx(0.1 / 3)


def test_plateau_preview_is_flat_and_its_note_says_it_reacts_to_the_metric():
    assert (lr_of("reduce_lr_on_plateau", initial_learning_rate=0.003) == 0.003).all()
    assert "metric" in FAMILIES["reduce_lr_on_plateau"].note


def test_plateau_replay_reduces_after_patience_epochs_without_improvement():
    p = plateau(initial_learning_rate=1.0, factor=0.5, patience=2, min_delta=0.0)
    assert replay(p, [3, 2, 2, 2, 2, 2, 1]).tolist() == [1, 1, 1, 1, 0.5, 0.5, 0.25]


def test_plateau_replay_waits_out_the_cooldown():
    # As in Keras, counting resumes in the epoch where the cooldown reaches 0.
    p = plateau(initial_learning_rate=1.0, factor=0.5, patience=1, cooldown=2, min_delta=0.0)
    assert replay(p, [1] * 8).tolist() == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]


def test_plateau_replay_stops_at_min_lr():
    p = plateau(initial_learning_rate=1.0, factor=0.1, patience=0, min_lr=0.05)
    assert replay(p, [1] * 5) == pytest.approx([1, 1, 0.1, 0.05, 0.05])


def test_plateau_replay_maximizes_accuracy_in_auto_mode():
    p = plateau(initial_learning_rate=1.0, factor=0.5, patience=1, monitor="val_accuracy", min_delta=0.0)
    assert replay(p, [0.5, 0.6, 0.7, 0.6, 0.8]).tolist() == [1, 1, 1, 1, 0.5]


def test_plateau_replay_ignores_improvements_smaller_than_min_delta():
    p = plateau(initial_learning_rate=1.0, factor=0.5, patience=1, min_delta=0.1)
    assert replay(p, [1.0, 0.95, 0.8]).tolist() == [1, 1, 0.5]


def test_plateau_replay_skips_epochs_without_the_metric():
    p = plateau(initial_learning_rate=1.0, factor=0.5, patience=1)
    assert replay(p, [1.0, None, None, 1.0]).tolist() == [1, 1, 1, 1]


def test_plateau_refuses_a_schedule_object_with_keras_reason():
    with pytest.raises(ConfigError, match="not settable") as err:
        check_schedule({"kind": "reduce_lr_on_plateau", "initial_learning_rate": make("ExponentialDecay")})
    assert err.value.field == "schedule.initial_learning_rate"


def test_plateau_keras_builder_declares_every_argument():
    names = [p.name for p in FAMILIES["reduce_lr_on_plateau"].params]
    assert names == ["initial_learning_rate", "monitor", "factor", "patience", "mode", "min_delta",
                     "cooldown", "min_lr"]
