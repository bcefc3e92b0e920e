"""Every family against Keras itself: the Keras objects called step by step, and the real
callbacks inside a tiny model.fit."""
import math

import numpy as np
import pytest

from lrviz.schedules import Timeline, check_schedule, curve_on, keras_learning_rate, make
from lrviz.schedules.plateau import replay

SPE, EPOCHS = 10, 9
STEPS = SPE * EPOCHS
TIMELINE = Timeline.of(EPOCHS, SPE)


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


@pytest.fixture(scope="module")
def fit(keras):
    """Train a one-layer model with Adam(learning_rate=rate) (or the given Adam); return its History."""
    x = np.linspace(-1.0, 1.0, 16, dtype="float32").reshape(8, 2)
    y = (x[:, :1] > 0).astype("float32")

    def run(rate, callbacks, epochs, steps_per_epoch=4):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
        adam = rate if isinstance(rate, keras.optimizers.Optimizer) else keras.optimizers.Adam(rate)
        model.compile(optimizer=adam, loss="mse", metrics=["accuracy", "mae"])
        batch = math.ceil(len(x) / steps_per_epoch)
        return model.fit(x, y, batch_size=batch, epochs=epochs, callbacks=callbacks, verbose=0,
                         shuffle=False)

    return run


def keras_steps(schedule, steps=range(STEPS)):
    return np.array([float(schedule(s)) for s in steps])


KERAS_CLASSES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.3, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[0, 10, 25], values=[0.5, 0.1, 0.05, 0.01])),
    ("PiecewiseConstantDecay", dict(boundaries=[40], values=[0.01, 0.001])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30, end_learning_rate=0.001, power=2.0)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=20, end_learning_rate=0.01, power=0.5,
                             cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.3)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=2.0, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=40, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.01, decay_steps=30, alpha=0.05, warmup_target=0.2,
                         warmup_steps=20)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5,
                                 alpha=0.1)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=13, t_mul=1.0, m_mul=0.8)),
]


@pytest.mark.parametrize("name,config", KERAS_CLASSES)
def test_keras_class_equals_keras_at_every_step(keras, name, config):
    cfg = check_schedule(make(name, **config))
    reference = getattr(keras.optimizers.schedules, name)(**config)
    np.testing.assert_allclose(curve_on(cfg, TIMELINE), keras_steps(reference), rtol=1e-5)


@pytest.mark.parametrize("name,config", KERAS_CLASSES[::2])
def test_keras_class_builder_is_the_keras_class(keras, name, config):
    built, callbacks = keras_learning_rate(check_schedule(make(name, **config)), SPE, STEPS)
    cls = getattr(keras.optimizers.schedules, name)
    assert type(built) is cls and callbacks == []
    np.testing.assert_allclose(keras_steps(built), keras_steps(cls(**config)))


def test_legacy_decay_equals_inverse_time_decay_per_iteration(keras):
    cfg = check_schedule(make("legacy_adam_decay", learning_rate=0.01, decay=0.05))
    reference = keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 0.05)
    np.testing.assert_allclose(curve_on(cfg, TIMELINE), keras_steps(reference), rtol=1e-5)
    built, _ = keras_learning_rate(cfg, SPE, STEPS)
    np.testing.assert_allclose(keras_steps(built), keras_steps(reference), rtol=1e-6)


def test_adam_decay_argument_trains_at_a_constant_rate(keras, fit):
    with pytest.warns(UserWarning, match="decay"):
        adam = keras.optimizers.Adam(learning_rate=0.01, decay=0.5)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: seen.append(float(adam.learning_rate)))
    fit(adam, [record], epochs=3)
    assert int(adam.iterations) == 12
    assert seen == pytest.approx([0.01] * 12)


FORMULAS = [
    ("constant", dict(learning_rate=0.003)),
    ("lr_range", dict(min_learning_rate=1e-7, max_learning_rate=10.0, num_steps=90)),
    ("cyclical", dict(initial_learning_rate=0.001, maximal_learning_rate=0.01, step_size=10)),
    ("cyclical", dict(initial_learning_rate=0.001, maximal_learning_rate=0.01, step_size=7,
                      mode="triangular2")),
    ("cyclical", dict(initial_learning_rate=0.001, maximal_learning_rate=0.01, step_size=5,
                      mode="exp_range", gamma=0.97)),
    ("one_cycle", dict(maximal_learning_rate=0.01)),
    ("one_cycle", dict(maximal_learning_rate=0.02, pct_start=0.25, anneal_strategy="linear",
                       div_factor=10.0, final_div_factor=100.0)),
    ("one_cycle", dict(maximal_learning_rate=0.01, pct_start=0.2, three_phase=True)),
    ("warmup_stable_decay", dict(initial_learning_rate=0.01, warmup_steps=10, stable_steps=20,
                                 decay_steps=30, alpha=0.1)),
    ("warmup_stable_decay", dict(initial_learning_rate=0.01, warmup_steps=0, stable_steps=15,
                                 decay_steps=40, decay_type="cosine")),
    ("inverse_sqrt", dict(initial_learning_rate=0.01, warmup_steps=10)),
    ("inverse_sqrt", dict(initial_learning_rate=0.01, warmup_steps=10, timescale=25)),
    ("inverse_sqrt", dict(initial_learning_rate=0.01, warmup_steps=0)),
    ("linear_warmup", dict(warmup_steps=15, initial_learning_rate=0.001,
                           schedule=make("CosineDecay", initial_learning_rate=0.05, decay_steps=40,
                                         alpha=0.1))),
    ("linear_warmup", dict(warmup_steps=10, initial_learning_rate=0.002,
                           schedule=make("CosineDecay", initial_learning_rate=0.01, decay_steps=30,
                                         warmup_target=0.1, warmup_steps=10))),
    ("linear_warmup", dict(warmup_steps=12, initial_learning_rate=0.001,
                           schedule=make("ExponentialDecay", initial_learning_rate=0.1, decay_steps=7,
                                         decay_rate=0.5, staircase=True))),
    ("linear_warmup", dict(warmup_steps=5, initial_learning_rate=0.02,
                           schedule=make("PiecewiseConstantDecay", boundaries=[10, 30],
                                         values=[0.1, 0.01, 0.001]))),
    ("linear_warmup", dict(warmup_steps=10, initial_learning_rate=0.0005,
                           schedule=make("cyclical", initial_learning_rate=0.001,
                                         maximal_learning_rate=0.01, step_size=8, mode="triangular2"))),
    ("linear_warmup", dict(warmup_steps=0, initial_learning_rate=0.0,
                           schedule=make("one_cycle", maximal_learning_rate=0.01))),
    ("linear_warmup", dict(warmup_steps=20, initial_learning_rate=0.0001,
                           schedule=make("expression", initial_learning_rate=0.01,
                                         expression="lr0 * 0.5 ** floor(epoch / 2)"))),
    ("cyclical", dict(initial_learning_rate=0.001, maximal_learning_rate=0.01, step_size=4, step_size_down=11,
                      mode="triangular2")),
    ("warmup_stable_decay", dict(initial_learning_rate=0.01, warmup_steps=5, stable_steps=10,
                                 decay_steps=40, alpha=0.05, decay_type="1-sqrt")),
    ("linear_warmup", dict(warmup_steps=15, initial_learning_rate=0.001, warmup_shape="cosine",
                           schedule=make("CosineDecay", initial_learning_rate=0.05, decay_steps=40, alpha=0.1))),
    ("linear_warmup", dict(warmup_steps=15, initial_learning_rate=0.0, warmup_shape="1-sqrt",
                           schedule=make("constant", learning_rate=0.01))),
    ("linear_warmup", dict(warmup_steps=20, initial_learning_rate=0.0001, warmup_shape="polynomial", power=0.5,
                           schedule=make("linear_to_zero", initial_learning_rate=0.01))),
    ("exponential_end", dict(initial_learning_rate=0.01, decay_steps=7, decay_rate=0.5, end_learning_rate=0.001)),
    ("exponential_end", dict(initial_learning_rate=0.01, decay_steps=7, decay_rate=0.5, staircase=True,
                             end_learning_rate=None, transition_begin=12)),
    ("linear_to_zero", dict(initial_learning_rate=0.01, warmup_steps=10)),
    ("linear_to_zero", dict(initial_learning_rate=0.01, warmup_steps=0, decay_steps=30)),
    ("expression", dict(initial_learning_rate=0.01, expression="lr0 * 0.5 ** floor(epoch / 3)")),
    ("expression", dict(initial_learning_rate=0.01, expression="lr0 if step < 20 else lr0 / 10")),
    ("expression", dict(initial_learning_rate=0.01,
                        expression="max(lr0 * (1 - step / total_steps), 1e-4) + (step % 7 == 0) * 1e-3")),
    ("expression", dict(initial_learning_rate=0.01,
                        expression="where(epoch >= 4, lr0 * exp(-step / 50),"
                                   " clip(step / 30, 0.1, 1) * lr0)")),
    ("expression", dict(initial_learning_rate=0.02,
                        expression="lr0 * (1 + cos(pi * (step % steps_per_epoch) / steps_per_epoch)) / 2")),
    ("expression", dict(initial_learning_rate=0.01,  # every operator and function through keras.ops
                        expression="lr0 * (step // 10 % 2 + 1) * (1 + ceil(sqrt(step)) + tanh(sin(step))"
                                   " - min(step, 3) / 10) + abs(-lr0) * (step <= 4) * (step > 1)"
                                   " * (step >= 2) * (step < 9) + (step != 3) * 1e-3 + log(1 + step) * 1e-4"
                                   " + +lr0")),
]


@pytest.mark.parametrize("name,config", FORMULAS)
def test_formula_schedule_equals_preview_at_every_step(keras, name, config):
    cfg = check_schedule(make(name, **config))
    built, callbacks = keras_learning_rate(cfg, SPE, STEPS)
    assert isinstance(built, keras.optimizers.schedules.LearningRateSchedule) and callbacks == []
    np.testing.assert_allclose(curve_on(cfg, TIMELINE), keras_steps(built), rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("name,config", [FORMULAS[6], FORMULAS[16], FORMULAS[20]])
def test_formula_schedule_drives_adam_inside_model_fit(keras, fit, name, config):
    cfg = check_schedule(make(name, **config))
    epochs, spe = 5, 4
    built, _ = keras_learning_rate(cfg, spe, epochs * spe)
    seen = []
    record = keras.callbacks.LambdaCallback(  # reading the rate evaluates the schedule at `iterations`
        on_train_batch_begin=lambda batch, logs: seen.append(float(record.model.optimizer.learning_rate)))
    fit(built, [record], epochs=epochs, steps_per_epoch=spe)
    expected = curve_on(cfg, Timeline.of(epochs, spe))
    np.testing.assert_allclose(seen, expected, rtol=1e-5)


def first_step_of_each_epoch(cfg, epochs, spe):
    return curve_on(cfg, Timeline.of(epochs, spe))[::spe]


EPOCH_FAMILIES = [
    ("time_based_decay", dict(initial_learning_rate=0.1, decay=0.1, compounding=True)),
    ("time_based_decay", dict(initial_learning_rate=0.1, decay=0.1, compounding=False)),
    ("step_decay", dict(initial_learning_rate=0.1, drop=0.5, epochs_drop=2)),
    ("multi_step", dict(initial_learning_rate=0.1, milestones=[1, 3, 4], gamma=0.2)),
    ("exponential_per_epoch", dict(initial_learning_rate=0.1, gamma=0.7)),
]


@pytest.mark.parametrize("name,config", EPOCH_FAMILIES)
def test_epoch_callback_in_model_fit_equals_curve(keras, fit, name, config):
    cfg = check_schedule(make(name, **config))
    epochs, spe = 6, 4
    start, callbacks = keras_learning_rate(cfg, spe, epochs * spe)
    history = fit(start, callbacks, epochs=epochs, steps_per_epoch=spe)
    np.testing.assert_allclose(history.history["learning_rate"], first_step_of_each_epoch(cfg, epochs, spe),
                               rtol=1e-5)


def test_epoch_curve_is_constant_within_each_epoch():
    cfg = check_schedule(make("step_decay", epochs_drop=1))
    lr = curve_on(cfg, TIMELINE).reshape(EPOCHS, SPE)
    assert (lr == lr[:, :1]).all() and len(set(lr[:, 0])) == EPOCHS


def scripted(keras, monitor, values):
    """A callback that writes a scripted metric into the epoch logs; placed before
    ReduceLROnPlateau, it decides what the real callback sees."""
    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.__setitem__(monitor, float(values[epoch])))


PLATEAU_PATHS = [
    (dict(patience=2), [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7]),
    (dict(patience=1, min_delta=1e-3, cooldown=2), [1.0, 0.9995, 0.999, 0.99, 0.9899, 0.98, 0.98, 0.98,
                                                   0.98, 0.97, 0.97]),
    (dict(monitor="val_accuracy", factor=0.5, patience=1), [0.5, 0.6, 0.6, 0.55, 0.6, 0.7, 0.7, 0.7, 0.7]),
    (dict(initial_learning_rate=0.01, factor=0.1, patience=0, min_lr=1e-4), [1.0] * 8),
    (dict(patience=1, min_delta=0.0), [1.0, 1.0 - 1e-9, 1.0 - 2e-9, 1.0 - 3e-9, 1.0 - 4e-9, 0.5, 0.5]),
    (dict(patience=2, cooldown=3, factor=0.5), [1.0] * 12),
    (dict(monitor="mae", patience=1, mode="auto", factor=0.3), [0.5, 0.4, 0.45, 0.41, 0.3, 0.3, 0.31]),
    (dict(monitor="loss", mode="max", patience=1), [0.5, 0.4, 0.45, 0.41, 0.6, 0.6]),
    (dict(patience=1), [1.0, float("nan"), 0.5, 0.5, float("nan"), 0.4]),
]


@pytest.mark.parametrize("config,values", PLATEAU_PATHS)
def test_plateau_replay_equals_keras_callback_in_model_fit(keras, fit, config, values):
    cfg = check_schedule(make("reduce_lr_on_plateau", **{"initial_learning_rate": 0.1, **config}))
    params = {k: v for k, v in cfg.items() if k != "kind"}
    start, callbacks = keras_learning_rate(cfg, 1, len(values))
    assert isinstance(callbacks[0], keras.callbacks.ReduceLROnPlateau)
    history = fit(start, [scripted(keras, params["monitor"], values), *callbacks], epochs=len(values),
                  steps_per_epoch=1)
    np.testing.assert_allclose(history.history["learning_rate"], replay(params, values), rtol=1e-7)


def test_plateau_with_a_schedule_object_fails_in_keras_when_the_first_reduction_fires(keras, fit):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    plateau = keras.callbacks.ReduceLROnPlateau(patience=1)
    with pytest.raises(TypeError, match="not settable"):
        fit(schedule, [scripted(keras, "val_loss", [1.0, 1.0, 1.0]), plateau], epochs=3)


def test_plateau_factor_of_one_is_refused_by_keras_too(keras):
    with pytest.raises(ValueError, match="factor"):
        keras.callbacks.ReduceLROnPlateau(factor=1.0)
