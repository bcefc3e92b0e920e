"""ReduceLROnPlateau's cooldown as Keras 3 runs it: at each epoch end the counter drops before it
is tested, so a cooldown of c stops the counting for c − 1 epochs and 1 is the same as 0.
The real callback is driven epoch end by epoch end, and replay() must give the same rates."""
import numpy as np
import pytest

from lrviz.schedules import make
from lrviz.schedules.plateau import replay

COOLDOWNS, PATIENCES = (0, 1, 2, 3, 5), (0, 1, 2)


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


def plateau(**config):
    p = make("reduce_lr_on_plateau", **{"initial_learning_rate": 0.1, "factor": 0.5, **config})
    return {k: v for k, v in p.items() if k != "kind"}


def keras_rates(keras, p, values):
    """The rate of each epoch under the real callback, given the val_loss logged at its end."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(p["initial_learning_rate"]), loss="mse")
    callback = keras.callbacks.ReduceLROnPlateau(
        monitor=p["monitor"], factor=p["factor"], patience=p["patience"], mode=p["mode"],
        min_delta=p["min_delta"], cooldown=p["cooldown"], min_lr=p["min_lr"])
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        rates.append(float(model.optimizer.learning_rate))
        callback.on_epoch_end(epoch, {"val_loss": float(value)})
    return np.asarray(rates)


def random_series(seed, n=40):
    """Plateaus broken by occasional improvements, some smaller than min_delta, or a noisy walk."""
    rng = np.random.default_rng(seed)
    if seed % 2:
        return 1.0 + np.cumsum(rng.normal(0.0, 0.01, n))
    steps = np.where(rng.random(n) < 0.3, rng.choice([5e-5, 1e-3, 0.02], n), 0.0)
    return 1.0 - np.cumsum(steps)


HAND_MADE = [
    [1.0] * 20,                                           # never improves
    [1.0, 0.9] + [0.9] * 4 + [0.5] + [0.5] * 8,           # improves during a cooldown
    [1.0, 1.0, 1.0, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7],
    [1.0, 0.99995, 0.9999, 0.9998, 0.9998, 0.9998, 0.9, 0.9, 0.9, 0.9],  # steps around min_delta
]
SERIES = [random_series(seed) for seed in range(12)] + HAND_MADE


@pytest.mark.parametrize("patience", PATIENCES)
@pytest.mark.parametrize("cooldown", COOLDOWNS)
def test_replay_gives_the_rates_of_keras_reduce_lr_on_plateau(keras, cooldown, patience):
    p = plateau(cooldown=cooldown, patience=patience)
    for values in SERIES:
        np.testing.assert_allclose(replay(p, values), keras_rates(keras, p, values), rtol=1e-7,
                                   err_msg=f"metric series {list(values)}")


@pytest.mark.parametrize("min_lr", [0.0, 0.02])
def test_replay_gives_the_rates_of_keras_down_to_min_lr(keras, min_lr):
    p = plateau(cooldown=2, patience=1, min_lr=min_lr)
    np.testing.assert_allclose(replay(p, HAND_MADE[0]), keras_rates(keras, p, HAND_MADE[0]), rtol=1e-7)


@pytest.mark.parametrize("patience", PATIENCES)
def test_cooldown_one_behaves_as_no_cooldown_in_keras(keras, patience):
    for values in SERIES:
        np.testing.assert_array_equal(keras_rates(keras, plateau(cooldown=1, patience=patience), values),
                                      keras_rates(keras, plateau(cooldown=0, patience=patience), values))


@pytest.mark.parametrize("cooldown", COOLDOWNS)
def test_on_a_flat_metric_with_patience_0_keras_reduces_every_max_cooldown_1_epochs(keras, cooldown):
    p = plateau(cooldown=cooldown, patience=0)
    rates = keras_rates(keras, p, [1.0] * 16)
    reductions = np.flatnonzero(rates[1:] < rates[:-1]) + 1
    assert np.diff(reductions).tolist() == [max(cooldown, 1)] * (len(reductions) - 1)
    assert reductions[0] == 2  # the first epoch sets the best, the second reduces at its end
