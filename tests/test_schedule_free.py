"""Schedule-free AdamW as the "no schedule" choice: its config, its training (Keras's own
optimizer, built so that z starts at the initial weights) and its validation at the average x.
The script's side is tests/test_script_reproduces.py."""
import numpy as np
import pytest

from lrviz import config, exports, optimizers, panels, urlstate
from lrviz.executor import stack_key
from lrviz.params import ConfigError
from lrviz.schedules import make
from lrviz.store import EPOCH_COLUMNS

SF = {"class_name": "ScheduleFreeAdamW", "config": {"warmup_steps": 20}}


def sf_config(**optimizer):
    return config.validate({"schedule": make("constant", learning_rate=0.01),
                            "optimizer": {"class_name": "ScheduleFreeAdamW", "config": optimizer},
                            "data": {"n_samples": 300}, "training": {"epochs": 3}})


def test_keras_serialised_form_is_canonical_with_keras_defaults():
    section = sf_config()["optimizer"]
    assert section == {"class_name": "ScheduleFreeAdamW",
                       "config": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "warmup_steps": 0,
                                  "weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None}}


def test_adams_serialised_form_becomes_the_flat_form():
    flat = config.validate({"schedule": make("constant"), "optimizer": {"beta_2": 0.99}})["optimizer"]
    keras_form = config.validate({"schedule": make("constant"), "optimizer": {
        "module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam", "beta_2": 0.99}}})["optimizer"]
    assert keras_form == flat and flat["beta_2"] == 0.99 and "class_name" not in flat


@pytest.mark.parametrize("optimizer, field", [
    ({"class_name": "ScheduleFreeAdamW", "config": {"beta_1": 0.0}}, "optimizer.config.beta_1"),
    ({"class_name": "ScheduleFreeAdamW", "config": {"amsgrad": True}}, "optimizer.config.amsgrad"),
    ({"class_name": "ScheduleFreeAdamW", "config": {"learning_rate": 0.1}}, "optimizer.config.learning_rate"),
    ({"class_name": "ScheduleFreeAdamW", "config": {"warmup_steps": -1}}, "optimizer.config.warmup_steps"),
    ({"class_name": "ScheduleFreeAdamW", "config": {"clipnorm": 1.0, "clipvalue": 1.0}}, "optimizer.config.clipvalue"),
    ({"class_name": "SGD", "config": {}}, "optimizer.class_name"),
    ({"class_name": "Adam", "config": {}, "extra": 1}, "optimizer.extra"),
])
def test_a_bad_optimizer_section_names_its_field(optimizer, field):
    with pytest.raises(ConfigError) as err:
        config.validate({"schedule": make("constant"), "optimizer": optimizer})
    assert err.value.field == field and field in str(err.value)


def test_a_link_and_the_sidebar_keep_the_optimizer():
    cfg = sf_config(warmup_steps=20, beta_2=0.99)
    assert urlstate.decode(urlstate.encode(cfg))[0] == cfg
    state = panels.config_state(cfg)
    assert state["optimizer.class_name"] == "ScheduleFreeAdamW" and state["optimizer.warmup_steps"] == 20
    assert config.validate(panels.read_config(state.get)) == cfg


def test_the_sidebar_shows_each_optimizers_own_settings():
    panel = panels.PANELS[0]
    names = lambda kind: [p.name for p in panels.shown(panel, {"optimizer.class_name": kind}.get)]  # noqa: E731
    assert "warmup_steps" in names("ScheduleFreeAdamW") and "amsgrad" not in names("ScheduleFreeAdamW")
    assert "amsgrad" in names("Adam") and "warmup_steps" not in names("Adam")


def test_schedule_free_runs_train_alone():
    cfg = sf_config()
    assert stack_key(cfg) is None
    assert stack_key({**cfg, "optimizer": config.default()["optimizer"]}) is not None


def test_the_preview_step_size_is_the_rate_times_its_own_warmup():
    from lrviz.adam import optimizer_step_size

    label, size = optimizer_step_size(np.arange(40), np.full(40, 0.01), sf_config(warmup_steps=20)["optimizer"])
    assert "warmup" in label
    t = np.arange(40) + 1
    np.testing.assert_allclose(size, 0.01 * np.minimum(t / 20, 1.0) * np.sqrt(1 - 0.999 ** t), rtol=1e-14)


# ---- training (imports TensorFlow) ----

@pytest.fixture(scope="module")
def keras_mod():
    import keras

    return keras


def built(cfg):
    from lrviz import data as datamod
    from lrviz import model as modelmod
    from lrviz import train

    data = datamod.load(cfg["data"])
    model, _ = modelmod.build(cfg, data, cls=train.Recorder, jit_compile=False)
    model.attach(data, cfg["training"]["batch_size"], cfg["training"]["seed"], 4)
    return model, data


def values(variables):
    from keras import ops

    return [ops.convert_to_numpy(v).copy() for v in variables]


def test_lrviz_starts_z_at_the_initial_weights(keras_mod):
    model, _ = built(sf_config())
    for z, w in zip(values(model.optimizer._momentums), values(model.trainable_variables)):
        np.testing.assert_array_equal(z, w)


def test_keras_fit_alone_starts_z_at_zero_which_is_why_lrviz_and_its_script_build_it_first(keras_mod):
    """Keras 3.15's pitfall, kept visible: should Keras fix it, this fails and the note can go."""
    keras = keras_mod
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    opt = keras.optimizers.ScheduleFreeAdamW(learning_rate=0.0)
    net.compile(optimizer=opt, loss="mse")
    net.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert all(not z.any() for z in values(opt._momentums))


def trained(cfg):
    from lrviz import train

    steps, epochs = [], []
    outcome = train.run(cfg, lambda s, e: (steps.extend(s), epochs.extend(e)))
    assert outcome.status == "done", outcome
    return steps, epochs


def test_validation_at_x_leaves_the_training_weights_y_as_they_were(keras_mod):
    model, data = built(sf_config())
    model.fit(_ticks(), epochs=1, steps_per_epoch=5, shuffle=False, verbose=0)
    before = values(model.trainable_variables)
    model.validate()
    for after, was in zip(values(model.trainable_variables), before):
        np.testing.assert_array_equal(after, was)


def _ticks():
    import tensorflow as tf

    return tf.data.Dataset.from_tensors(0).repeat()


def test_val_loss_is_kerass_evaluate_at_the_average_and_at_y_at_the_weights(keras_mod):
    """x computed in NumPy from the formula, evaluated by Keras's own evaluate on a fresh copy."""
    model, data = built(sf_config(warmup_steps=5))
    model.fit(_ticks(), epochs=1, steps_per_epoch=10, shuffle=False, verbose=0)
    val, val_metric, val_y, val_metric_y = model.validate()
    b1 = model.optimizer.beta_1
    y, z = values(model.trainable_variables), values(model.optimizer._momentums)
    x = [(yi - (1 - b1) * zi) / b1 for yi, zi in zip(y, z)]
    keras = keras_mod
    check = keras.Sequential([keras.Input((data.X_val.shape[1],)), *[keras.layers.Dense(
        layer.units, activation=layer.activation) for layer in model.layers]])
    check.compile(loss="binary_crossentropy", metrics=["accuracy"])
    for weights, want in ((x, (val, val_metric)), (y, (val_y, val_metric_y))):
        check.set_weights(weights)
        got = check.evaluate(data.X_val, data.y_val, batch_size=len(data.X_val), verbose=0)
        np.testing.assert_allclose(got, [float(w) for w in want], rtol=1e-5)
    assert float(val) != float(val_y)


def test_a_schedule_free_run_records_both_points_and_its_csv_names_them(keras_mod):
    _, epochs = trained(sf_config(warmup_steps=20))
    cols = exports.run_columns(epochs, "epochs", "accuracy")
    assert list(cols)[-2:] == ["val_loss_at_y", "val_accuracy_at_y"]
    assert np.isfinite(cols["val_loss_at_y"]).all() and (cols["val_loss_at_y"] != cols["val_loss"]).all()


def test_an_adam_runs_csv_has_no_y_columns(keras_mod):
    cfg = {**sf_config(), "optimizer": config.default()["optimizer"]}
    _, epochs = trained(cfg)
    assert "val_loss_at_y" not in exports.run_columns(epochs, "epochs", "accuracy")


def test_the_optimizer_heading_names_it():
    assert optimizers.title(sf_config()["optimizer"]).startswith("Schedule-free AdamW β₁=0.9")


def test_the_charts_draw_validation_at_x_solid_and_at_y_dotted_from_the_rows():
    from lrviz import figures

    rows = [(e, 0.01, 0.5, 0.4 - e / 100, 0.8, 0.82, 1.0 + e, 0.45 - e / 100, 0.8) for e in range(3)]
    trace = figures.RunTrace("sf", 10, "accuracy")
    trace.extend_epochs({c: [r[i] for r in rows] for i, c in enumerate(EPOCH_COLUMNS)})
    lines = {t.name: t for t in figures.loss_figure([trace], x="epoch").data}
    np.testing.assert_array_equal(lines["val_loss at the average x"].y, [r[3] for r in rows])
    np.testing.assert_array_equal(lines["val_loss at the training weights y"].y, [r[7] for r in rows])
    assert lines["val_loss at the training weights y"].line.dash == "dot"
    names = [t.name for t in figures.metric_figure([trace]).data]
    assert names == ["accuracy", "val_accuracy at the average x", "val_accuracy at the training weights y"]


def test_switching_class_gives_a_setting_still_at_its_default_the_new_classs_default():
    adam = panels.config_state(config.default())
    assert panels.class_switch(adam.get, "Adam", "ScheduleFreeAdamW") == {"optimizer.epsilon": 1e-8}
    assert panels.class_switch({**adam, "optimizer.epsilon": 1e-5}.get, "Adam", "ScheduleFreeAdamW") == {}
    back = panels.config_state(sf_config())
    assert panels.class_switch(back.get, "ScheduleFreeAdamW", "Adam") == {"optimizer.epsilon": 1e-7}


def test_each_optimizer_shows_its_own_declaration_of_a_shared_setting():
    panel = panels.PANELS[0]
    beta_1 = {kind: next(p for p in panels.shown(panel, {"optimizer.class_name": kind}.get) if p.name == "beta_1")
              for kind in optimizers.CLASSES}
    assert beta_1["Adam"].low_open is False and beta_1["ScheduleFreeAdamW"].low_open is True
