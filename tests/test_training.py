"""Real training: the recorded per-step rate is the catalogue's curve, rows follow the store's
columns, runs are reproducible, divergence and Stop end a run cleanly."""
import math

import numpy as np
import pytest

from lrviz import config, train
from lrviz.data import epoch_order
from lrviz.schedules import curve, make
from lrviz.store import EPOCH_COLUMNS, STEP_COLUMNS

pytestmark = pytest.mark.timeout(180)


def cfg_for(schedule, epochs=4, **sections):
    return config.validate({"schedule": schedule, "training": {"epochs": epochs},
                            "data": {"n_samples": 200, **sections.pop("data", {})}, **sections})


def collect(cfg, stop=None):
    steps, epochs = [], []
    outcome = train.run(cfg, lambda s, e: (steps.extend(s), epochs.extend(e)), stop)
    return outcome, steps, epochs


SCHEDULES = {
    "ExponentialDecay": make("ExponentialDecay", initial_learning_rate=0.05, decay_steps=3, decay_rate=0.8),
    "constant": make("constant", learning_rate=0.003),
    "time_based_decay": make("time_based_decay", initial_learning_rate=0.1, decay=0.3, compounding=True),
}


@pytest.mark.parametrize("family", sorted(SCHEDULES))
def test_recorded_rate_is_the_catalogue_curve(family):
    cfg = cfg_for(SCHEDULES[family], epochs=5)
    outcome, steps, epochs = collect(cfg)
    spe = config.steps_per_epoch(cfg)
    step, epoch, lr = curve(cfg["schedule"], 5, spe)
    assert outcome == train.Outcome("done", None, 5 * spe, 5)
    assert [s[0] for s in steps] == step.tolist() and [s[1] for s in steps] == epoch.tolist()
    np.testing.assert_allclose([s[2] for s in steps], lr, rtol=1e-5)
    np.testing.assert_allclose([e[1] for e in epochs], lr[::spe], rtol=1e-5)


def test_compounding_time_based_decay_really_compounds():
    cfg = cfg_for(SCHEDULES["time_based_decay"], epochs=4)
    _, _, epochs = collect(cfg)
    expected = [0.1 / math.prod(1 + 0.3 * k for k in range(1, e + 1)) for e in range(4)]
    np.testing.assert_allclose([e[1] for e in epochs], expected, rtol=1e-5)


def test_chunks_smaller_than_an_epoch_record_every_step(monkeypatch):
    monkeypatch.setattr(train, "chunk_size", lambda *args: 2)  # 5 steps: chunks 2, 2, 1
    cfg = cfg_for(SCHEDULES["ExponentialDecay"], epochs=3)
    outcome, steps, epochs = collect(cfg)
    _, _, lr = curve(cfg["schedule"], 3, 5)
    assert outcome.status == "done" and [s[0] for s in steps] == list(range(15)) and len(epochs) == 3
    np.testing.assert_allclose([s[2] for s in steps], lr, rtol=1e-5)


def without_wall_time(rows):
    columns = STEP_COLUMNS if rows and len(rows[0]) == len(STEP_COLUMNS) else EPOCH_COLUMNS
    i = columns.index("wall_time")
    return [row[:i] + row[i + 1:] for row in rows]


def test_same_config_same_curves():
    cfg = cfg_for(SCHEDULES["ExponentialDecay"], epochs=3)
    first = collect(cfg)
    train.forget()  # two new models (a kept one's rerun: the tests below)
    second = collect(cfg)
    for kind in (1, 2):  # a value not measured is NaN (steps) or None (epochs): both the same again
        np.testing.assert_array_equal(np.array(without_wall_time(first[kind]), dtype=float),
                                      np.array(without_wall_time(second[kind]), dtype=float))
    other = collect(cfg_for(SCHEDULES["ExponentialDecay"], epochs=3, training={"epochs": 3, "seed": 1}))
    assert [s[3] for s in other[1]] != [s[3] for s in first[1]]


REUSED = {  # each kind of state a kept model must start again from
    "Adam and a Keras schedule": {"schedule": SCHEDULES["ExponentialDecay"]},
    "schedule-free AdamW": {"schedule": SCHEDULES["constant"],
                            "optimizer": {"class_name": "ScheduleFreeAdamW", "config": {"warmup_steps": 3}}},
    "a rate a callback halves": {"schedule": make("reduce_lr_on_plateau", initial_learning_rate=0.01, factor=0.5,
                                                  patience=1, min_delta=100.0)},
}


@pytest.mark.parametrize("sections", REUSED.values(), ids=list(REUSED))
def test_a_run_that_differs_only_by_its_seed_trains_the_last_model_again_as_a_new_one_would(sections, monkeypatch):
    from lrviz import model as modelmod

    built, build = [], modelmod.build
    monkeypatch.setattr(modelmod, "build", lambda *a, **kw: built.append(a[0]) or build(*a, **kw))
    seeded = [cfg_for(epochs=3, training={"epochs": 3, "seed": seed}, **sections) for seed in (1, 0)]
    new, _, again = collect(seeded[0]), collect(seeded[1]), collect(seeded[0])
    assert len(built) == 1  # the later runs trained the first one's model (its graph traced once)
    assert new[0].status == again[0].status == "done"
    for kind in (1, 2):
        np.testing.assert_array_equal(np.array(without_wall_time(new[kind]), dtype=float),
                                      np.array(without_wall_time(again[kind]), dtype=float))


def test_a_run_leaves_tensorflows_cache_of_instantiated_graphs_alone(monkeypatch):
    # Setting TensorFlow's seed empties it: a kept model's next call would optimise its graph anew.
    import tensorflow as tf

    seeds = []
    monkeypatch.setattr(tf.random, "set_seed", seeds.append)
    collect(cfg_for(SCHEDULES["constant"], epochs=2))
    assert seeds == []


def test_a_run_with_another_schedule_builds_its_own_model(monkeypatch):
    from lrviz import model as modelmod

    built, build = [], modelmod.build
    monkeypatch.setattr(modelmod, "build", lambda *a, **kw: built.append(a[0]) or build(*a, **kw))
    collect(cfg_for(SCHEDULES["constant"], epochs=2))
    collect(cfg_for(make("constant", learning_rate=0.004), epochs=2))
    assert len(built) == 2


def test_rows_have_the_stores_columns():
    _, steps, epochs = collect(cfg_for(SCHEDULES["constant"], epochs=2))
    assert {len(s) for s in steps} == {len(STEP_COLUMNS)} and {len(e) for e in epochs} == {len(EPOCH_COLUMNS)}


def test_epoch_rows_carry_loss_val_loss_metric_and_val_metric():
    outcome, steps, epochs = collect(cfg_for(SCHEDULES["constant"], epochs=3))
    for epoch, (e, lr, loss, val, metric, val_metric, wall, val_at_y, val_metric_at_y) in enumerate(epochs):
        batch_losses = [s[3] for s in steps if s[1] == epoch]
        assert e == epoch and lr == pytest.approx(0.003)
        assert loss == pytest.approx(np.mean(batch_losses), rel=1e-4)  # 5 full batches
        assert val > 0 and 0 <= metric <= 1 and 0 <= val_metric <= 1 and wall > 0
        assert val_at_y is None and val_metric_at_y is None  # Adam's weights are where it is evaluated
    assert len({e[5] for e in epochs}) > 1  # measured each epoch, not a constant


def test_without_validation_data_val_loss_and_val_metric_are_none():
    _, _, epochs = collect(cfg_for(SCHEDULES["constant"], epochs=1, data={"validation_split": 0.0}))
    assert epochs[0][3] is None and epochs[0][5] is None


def test_regression_records_mae_for_training_and_validation():
    _, _, epochs = collect(cfg_for(SCHEDULES["constant"], epochs=2, data={"name": "regression"}))
    assert all(e[4] > 0 and e[5] > 0 for e in epochs)


def test_step_wall_time_grows_and_ends_before_its_epoch_row():
    _, steps, epochs = collect(cfg_for(SCHEDULES["constant"], epochs=3))
    wall = np.array([s[4] for s in steps])
    assert wall[0] > 0 and np.all(np.diff(wall) > 0)
    last_of_epoch = wall[4::5]  # 5 steps an epoch
    assert np.all(last_of_epoch <= [e[6] for e in epochs])  # the epoch row adds its validation


def test_a_chunk_spreads_its_time_evenly_over_its_batches(monkeypatch):
    monkeypatch.setattr(train, "chunk_size", lambda *args: 5)  # one chunk an epoch
    _, steps, _ = collect(cfg_for(SCHEDULES["constant"], epochs=2))
    gaps = np.diff([s[4] for s in steps[:5]])
    np.testing.assert_allclose(gaps, gaps[0], rtol=1e-9)


def test_each_epoch_visits_the_rows_in_epoch_order(monkeypatch):
    # The order the graph loop reads at the last epoch is the shared NumPy definition's.
    seen = {}
    monkeypatch.setattr(train.Recorder, "attach", _keeping(train.Recorder.attach, seen))
    cfg = cfg_for(SCHEDULES["constant"], epochs=3, training={"epochs": 3, "seed": 5})
    collect(cfg)
    np.testing.assert_array_equal(seen["model"].feed.order.numpy(), epoch_order(5, 2, 160))


def _keeping(attach, seen):
    def keep(model, *args):
        seen["model"] = model
        return attach(model, *args)
    return keep


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_reduce_lr_on_plateau_sees_validation_logs(monitor):
    # min_delta so large that only epoch 0 improves (on inf): from epoch 1 on, Keras halves the
    # rate at every epoch end (patience 1, no cooldown).
    schedule = make("reduce_lr_on_plateau", initial_learning_rate=0.01, monitor=monitor, factor=0.5,
                    patience=1, min_delta=100.0)
    outcome, steps, epochs = collect(cfg_for(schedule, epochs=5))
    assert outcome.status == "done"
    np.testing.assert_allclose([e[1] for e in epochs], [0.01, 0.01, 0.005, 0.0025, 0.00125], rtol=1e-6)
    per_epoch = {(s[1], s[2]) for s in steps}
    assert len(per_epoch) == 5  # one rate per epoch: the callback changes it between epochs


@pytest.mark.parametrize("name", ["iris", "regression"])
def test_multiclass_and_regression_train(name):
    outcome, steps, epochs = collect(cfg_for(SCHEDULES["constant"], epochs=2, data={"name": name}))
    assert outcome.status == "done" and len(epochs) == 2 and all(math.isfinite(s[3]) for s in steps)


def test_divergence_ends_the_run_at_the_step_where_loss_became_non_finite():
    cfg = cfg_for(make("constant", learning_rate=10.0), epochs=20, data={"name": "regression"},
                  model={"hidden_units": [32] * 8})
    outcome, steps, epochs = collect(cfg)
    assert outcome.status == "diverged"
    assert outcome.steps == len(steps) and [s[0] for s in steps] == list(range(len(steps)))
    assert f"at step {len(steps)} " in outcome.error and "loss became" in outcome.error
    assert all(math.isfinite(s[3]) for s in steps)


def test_stop_flag_ends_the_run_as_stopped():
    class StopAfterFirstRows:
        def __init__(self):
            self.rows = 0

        def is_set(self):
            return self.rows > 0

    stop = StopAfterFirstRows()
    steps = []

    def sink(s, e):
        steps.extend(s)
        stop.rows += len(s)

    outcome = train.run(cfg_for(SCHEDULES["constant"], epochs=50), sink, stop)
    assert outcome.status == "stopped" and 0 < len(steps) < 250 and outcome.steps == len(steps)

