"""CosineDecayRestarts: the preview is Keras's float32 arithmetic as training runs it, restart
by restart, and cosine_restarts_departures says where that arithmetic leaves the exact schedule.

The reference is the Keras object called with a scalar step inside a tf.function, as in a
compiled train step: there Grappler turns divisions by constants into multiplications, so an
eager call can differ (first_decay_steps 2, t_mul 10: eager calls restart at step 2, training
does not)."""
import bisect
import ctypes
import ctypes.util
from fractions import Fraction

import numpy as np
import pytest

from lrviz.schedules import Timeline
from lrviz.schedules.keras_classes import _cosine_restarts, cosine_restarts_departures

HORIZON = 1_000_000


def params(first_decay_steps, t_mul, m_mul=0.9, alpha=0.01, initial_learning_rate=0.1):
    return dict(initial_learning_rate=initial_learning_rate, first_decay_steps=first_decay_steps,
                t_mul=t_mul, m_mul=m_mul, alpha=alpha)


def preview(p, steps):
    steps = np.asarray(steps, dtype=np.float64)
    return _cosine_restarts(p, Timeline(steps, steps, 1, len(steps)))


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


@pytest.fixture(scope="module")
def keras_rates(tf):
    """Rates of the real Keras schedule, one scalar step at a time inside a tf.function."""
    import keras

    def rates(p, steps):
        schedule = keras.optimizers.schedules.CosineDecayRestarts(**p)
        scalar_calls = tf.function(lambda s: tf.map_fn(schedule, s, fn_output_signature=tf.float32))
        return scalar_calls(tf.constant(np.asarray(steps, dtype=np.int64))).numpy().astype(np.float64)

    return rates


def exact_starts(p, last):
    """First step of each cycle k >= 1 up to `last`: ceil(d0 · (1 + t + … + t^(k-1))), in fractions."""
    d0, t = p["first_decay_steps"], Fraction(p["t_mul"])
    starts, bound, power = [], Fraction(0), Fraction(1)
    while True:
        bound += d0 * power
        power *= t
        start = -(-bound.numerator // bound.denominator)
        if start > last:
            return starts
        starts.append(start)


def restarts_and_neighbours(p, last):
    return sorted({s + d for s in exact_starts(p, last) for d in (-2, -1, 0, 1, 2)} - {-2, -1})


def test_reference_is_the_rate_adam_trains_with_inside_model_fit(tf, keras_rates):
    import keras

    p = params(2, 10.0)
    seen = []

    class Probe(keras.Model):
        def train_step(self, data):
            x, y = data
            lr = self.optimizer.learning_rate  # the rate apply() uses at this iteration
            with tf.GradientTape() as tape:
                loss = keras.ops.mean((self(x) - y) ** 2)
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            return {"lr": lr}

    inputs = keras.Input((1,))
    model = Probe(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecayRestarts(**p)))
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["lr"]))
    model.fit(np.zeros((30, 1)), np.zeros((30, 1)), batch_size=1, epochs=1, shuffle=False, verbose=0,
              callbacks=[record])
    np.testing.assert_array_equal(np.float32(seen), keras_rates(p, range(30)))


GEOMETRIC = [(t, d0) for t in (1.5, 2.0, 3.0, 5.0, 10.0) for d0 in (2, 4, 5, 10, 7, 333)]
LINEAR = [(1.0, d0, HORIZON) for d0 in (997, 5000)] + [(1.0, d0, 20_000) for d0 in (2, 4, 5, 10)]


@pytest.mark.parametrize("t_mul,first", GEOMETRIC)
def test_preview_equals_keras_at_every_restart_and_its_neighbours(keras_rates, t_mul, first):
    p = params(first, t_mul)
    steps = restarts_and_neighbours(p, HORIZON)
    np.testing.assert_allclose(preview(p, steps), keras_rates(p, steps), rtol=1e-5)


@pytest.mark.parametrize("t_mul,first,horizon", LINEAR)
def test_preview_equals_keras_at_every_restart_without_growth(keras_rates, t_mul, first, horizon):
    p = params(first, t_mul, m_mul=0.999)
    steps = restarts_and_neighbours(p, horizon)
    np.testing.assert_allclose(preview(p, steps), keras_rates(p, steps), rtol=1e-5)


@pytest.mark.parametrize("first,t_mul,step", [(5, 3.0, 605), (4, 3.0, 484), (2, 10.0, 222), (7, 3.0, 847)])
def test_preview_restarts_where_a_float64_curve_misses_it(first, t_mul, step):
    p = params(first, t_mul, m_mul=1.0, alpha=0.01, initial_learning_rate=0.01)
    lr = preview(p, [step - 1, step])
    assert lr[0] == pytest.approx(1e-4, rel=0.01) and lr[1] == pytest.approx(0.01, rel=1e-6)


def test_keras_misses_the_restart_at_81910_for_first_10_t_mul_2():
    p = params(10, 2.0, m_mul=1.0, alpha=0.01, initial_learning_rate=0.01)
    np.testing.assert_allclose(preview(p, [81909, 81910, 81911]), [1e-4, 1e-4, 0.01], rtol=1e-6)


def test_training_misses_the_restarts_at_2_22_2222_and_22222_for_first_2_t_mul_10(keras_rates):
    p = params(2, 10.0, m_mul=1.0, alpha=0.01, initial_learning_rate=0.01)
    missed = [2, 22, 2222, 22222]
    np.testing.assert_allclose(preview(p, missed), [1e-4] * 4, rtol=1e-6)
    np.testing.assert_allclose(keras_rates(p, missed), [1e-4] * 4, rtol=1e-6)


def test_an_eager_keras_call_restarts_at_step_2_where_training_does_not(keras_rates):
    import keras

    p = params(2, 10.0, m_mul=1.0, alpha=0.01, initial_learning_rate=0.01)
    eager = float(keras.optimizers.schedules.CosineDecayRestarts(**p)(2))
    assert eager == pytest.approx(0.01, rel=1e-6) and keras_rates(p, [2])[0] == pytest.approx(1e-4, rel=1e-6)


def test_preview_takes_the_restart_from_the_c_librarys_logf(keras_rates):
    # At step 136,221 of (19, 1.1) glibc's logf and the correctly rounded log floor differently.
    p = params(19, 1.1, m_mul=0.9, alpha=0.01, initial_learning_rate=1.0)
    steps = [136_220, 136_221, 136_222]
    np.testing.assert_allclose(preview(p, steps), keras_rates(p, steps), rtol=1e-6)
    assert preview(p, steps)[1] == pytest.approx(0.01, rel=1e-6)


@pytest.mark.parametrize("first,t_mul", [(19, 1.1), (7, 1.1), (3, 1.25)])
def test_preview_equals_keras_at_every_restart_for_inexact_t_mul(keras_rates, first, t_mul):
    p = params(first, t_mul)
    steps = restarts_and_neighbours(p, HORIZON)
    np.testing.assert_allclose(preview(p, steps), keras_rates(p, steps), rtol=1e-5)


@pytest.mark.parametrize("first,t_mul", [(10, 0.5), (10, 0.9), (7, 0.75), (5, 0.3)])
def test_preview_is_nan_like_keras_once_shrinking_periods_end(keras_rates, first, t_mul):
    p = params(first, t_mul)
    end = int(np.ceil(first / (1 - t_mul)))
    steps = range(end + 20)
    expected = keras_rates(p, steps)
    assert np.isnan(expected[end:]).all() and not np.isnan(expected[:end - 1]).any()
    np.testing.assert_allclose(preview(p, steps), expected, rtol=1e-5)


def test_preview_at_one_hundred_thousand_steps_equals_keras_everywhere(keras_rates):
    p = params(7, 1.5)
    lr = _cosine_restarts(p, Timeline.of(1000, 100))
    np.testing.assert_allclose(lr, keras_rates(p, range(100_000)), rtol=1e-5)


def brute_keras_cycles(p, last):
    """Keras's cycle at every step, the C library's logf called on each of them."""
    logf = ctypes.CDLL(ctypes.util.find_library("m")).logf
    logf.restype, logf.argtypes = ctypes.c_float, [ctypes.c_float]
    one, t = np.float32(1), np.float32(p["t_mul"])
    cf = np.arange(last + 1, dtype=np.float32) * (one / np.float32(p["first_decay_steps"]))
    if t == one:
        return np.floor(cf)
    x = one - cf * (one - t)
    with np.errstate(all="ignore"):
        return np.floor(np.float32([logf(v) for v in x.tolist()]) * (one / np.float32(logf(float(t)))))


def brute_departures(p, total):
    last = total - 1
    if p["t_mul"] < 1:
        end = p["first_decay_steps"] / (1 - Fraction(p["t_mul"]))
        last = min(last, -(-end.numerator // end.denominator) - 1)
    starts, keras = exact_starts(p, last), brute_keras_cycles(p, last)
    exact = [bisect.bisect_right(starts, s) for s in range(last + 1)]
    return [(s, int(keras[s]), exact[s]) for s in range(last + 1)
            if np.isfinite(keras[s]) and keras[s] != exact[s]]


DEPARTURE_CASES = [(10, 2.0, 100_000), (5, 3.0, 100_000), (4, 3.0, 100_000), (2, 10.0, 100_000),
                   (2, 1.5, 100_000), (7, 1.1, 100_000), (19, 1.1, 100_000), (3, 1.25, 100_000),
                   (13, 1.0, 100_000), (10, 0.9, 1000), (10, 0.5, 1000),
                   (1, 1.0 + 2**-52, 300)]  # float32 makes it 1 for Keras; exactly, cycles grow


@pytest.mark.parametrize("first,t_mul,total", DEPARTURE_CASES)
def test_departures_equal_a_brute_force_over_every_step(first, t_mul, total):
    p = params(first, t_mul)
    assert cosine_restarts_departures(p, total) == brute_departures(p, total)


def test_departures_report_81910_for_first_10_t_mul_2():
    assert (81_910, 12, 13) in cosine_restarts_departures(params(10, 2.0), 100_000)


def test_departures_report_the_restarts_training_misses_for_first_2_t_mul_10():
    assert [s for s, _, _ in cosine_restarts_departures(params(2, 10.0), 100_000)] == [2, 22, 2222, 22222]


@pytest.mark.parametrize("first,t_mul,step", [(5, 3.0, 605), (4, 3.0, 484), (2, 10.0, 222)])
def test_departures_leave_out_restarts_where_keras_and_the_exact_schedule_agree(first, t_mul, step):
    assert step not in [s for s, _, _ in cosine_restarts_departures(params(first, t_mul), 100_000)]


def test_departures_stop_where_shrinking_periods_end():
    # first 10, t_mul 0.5: the exact schedule ends at step 20, Keras's rate is NaN from there.
    assert all(s < 20 for s, _, _ in cosine_restarts_departures(params(10, 0.5), 1000))
