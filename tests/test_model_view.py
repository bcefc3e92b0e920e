"""The model's view (lrviz.model_view): each epoch's predictions over a grid of the inputs,
recorded where the run is evaluated, stored with the run, drawn as an animation whose frames
are the stored predictions."""
import numpy as np
import pytest

from lrviz import config, model_view
from lrviz.schedules import make
from lrviz.store import Store


def cfg_of(name="moons", **optimizer):
    return config.validate({"schedule": make("constant", learning_rate=0.01), "optimizer": optimizer or {},
                            "data": {"name": name, "n_samples": 200}, "training": {"epochs": 3}})


def test_the_grid_covers_the_data_with_a_margin_and_has_the_playgrounds_resolution():
    x = np.array([[0.0, -1.0], [2.0, 3.0], [1.0, 1.0]])
    g = model_view.grid(x)
    assert g.extent == pytest.approx((-0.2, 2.2, -1.4, 3.4))
    assert g.points.shape == (64 * 64, 2) and g.points.dtype == np.float32
    assert g.points[1] == pytest.approx([-0.2 + 2.4 / 63, -1.4], rel=1e-6)  # row by row from (x0, y0)
    line = model_view.grid(x[:, :1])
    assert line.points.shape == (200, 1) and model_view.grid(np.ones((5, 3))) is None


def test_predictions_survive_the_store_encoding_to_float16():
    values = np.random.default_rng(0).random((4096, 1))
    extent, blob = model_view.encode((0.0, 1.0, 2.0, 3.0), values)
    back_extent, back = model_view.decode(extent, blob)
    assert back_extent == (0.0, 1.0, 2.0, 3.0) and len(blob) < 9000
    np.testing.assert_allclose(back, values, atol=5e-4)


def test_an_animation_keeps_the_first_and_last_of_many_epochs():
    picked = model_view.frame_epochs(list(range(1000)), most=200)
    assert len(picked) == 200 and picked[0] == 0 and picked[-1] == 999
    assert model_view.frame_epochs([0, 1, 2]) == [0, 1, 2]


def recorded(cfg, tmp_path):
    from lrviz import train
    from lrviz.worker import StoreSink

    store = Store(tmp_path)
    run_id = store.create_run("r", cfg, cfg["training"]["epochs"], config.steps_per_epoch(cfg))
    sink = StoreSink(store, run_id)
    assert train.run(cfg, sink).status == "done"
    sink.flush()
    return store, run_id


def keras_predictions(cfg, weights, points):
    from lrviz import data as datamod
    from lrviz import model as modelmod

    net = modelmod.network(cfg, datamod.load(cfg["data"]))
    net.set_weights(weights)
    return net.predict(points, verbose=0)


def test_the_last_epochs_view_is_what_kerass_predict_gives_on_the_grid_with_the_final_weights(tmp_path, monkeypatch):
    from lrviz import data as datamod
    from lrviz import model as modelmod

    built, build = [], modelmod.build
    monkeypatch.setattr(modelmod, "build", lambda *a, **kw: built.append(build(*a, **kw)) or built[-1])
    cfg = cfg_of()
    store, run_id = recorded(cfg, tmp_path)
    assert store.view_epochs(run_id) == [0, 1, 2]
    (_, extent, blob), = store.views(run_id, [2])
    extent, stored = model_view.decode(extent, blob)
    data = datamod.load(cfg["data"])
    grid = model_view.grid(np.concatenate([data.X_train, data.X_val]))
    assert extent == pytest.approx(grid.extent) and stored.shape == (64 * 64, 1)
    final = built[0][0].get_weights()  # the run's own model, after its last epoch
    np.testing.assert_allclose(stored, keras_predictions(cfg, final, grid.points), atol=1e-3)  # float16


def test_a_schedule_free_runs_view_is_at_its_average_x(tmp_path):
    from lrviz import data as datamod
    from lrviz import model as modelmod
    from lrviz import optimizers, train

    cfg = cfg_of(class_name="ScheduleFreeAdamW", config={"warmup_steps": 2})
    data = datamod.load(cfg["data"])
    model, _ = modelmod.build(cfg, data, cls=train.Recorder, jit_compile=False)
    model.attach(data, 32, 0, 5)
    import tensorflow as tf

    model.fit(tf.data.Dataset.from_tensors(0).repeat(), epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)
    x = [np.asarray(t) for t in optimizers.averaged_point(model.optimizer, model.trainable_variables)]
    y = [np.asarray(v) for v in model.trainable_variables]
    view = model.view()[0]
    np.testing.assert_allclose(view, keras_predictions(cfg, x, model.feed.grid.points), atol=1e-6)
    assert not np.allclose(view, keras_predictions(cfg, y, model.feed.grid.points), atol=1e-6)
    np.testing.assert_array_equal([np.asarray(v) for v in model.trainable_variables][0], y[0])  # y put back


def test_the_animation_draws_the_stored_frames_and_the_training_points(tmp_path):
    from lrviz import data as datamod

    cfg = cfg_of()
    store, run_id = recorded(cfg, tmp_path)
    fig = model_view.figure(store, run_id)
    frames = [model_view.decode(extent, blob)[1] for _, extent, blob in store.views(run_id, [0, 1, 2])]
    assert [f.name for f in fig.frames] == ["1", "2", "3"]
    for frame, values in zip(fig.frames, frames):
        np.testing.assert_array_equal(np.asarray(frame.data[0].z).ravel(), values[:, 0])
    data = datamod.load(cfg["data"])
    np.testing.assert_array_equal(fig.data[1].x, data.X_train[:, 0])
    assert fig.layout.sliders[0].active == 2 and fig.layout.updatemenus[0].buttons[0].label == "▶ play"


def test_the_regression_view_is_the_fitted_curve(tmp_path):
    store, run_id = recorded(cfg_of("regression"), tmp_path)
    fig = model_view.figure(store, run_id)
    assert fig.data[0].type == "scatter" and len(fig.data[0].x) == 200 and fig.data[0].name == "the model's fitted curve"


def test_data_of_more_than_two_features_records_no_view(tmp_path):
    store, run_id = recorded(cfg_of("iris"), tmp_path)
    assert store.view_epochs(run_id) == [] and model_view.figure(store, run_id) is None


def test_deleting_a_run_deletes_its_views(tmp_path):
    store, run_id = recorded(cfg_of(), tmp_path)
    store.delete(run_id)
    assert store.views(run_id, [0, 1, 2]) == []


class Kept:
    """A sink that keeps the model's views it is handed."""

    def __init__(self):
        self.seen = []

    def __call__(self, steps, epochs):
        pass

    def views(self, rows):
        self.seen += rows


def test_a_replica_side_by_side_records_the_view_its_run_alone_records():
    from lrviz import stacked, train

    cfgs = [config.validate({**cfg_of(), "training": {"epochs": 2, "seed": s}}) for s in (0, 1)]
    sinks = [Kept() for _ in cfgs]
    stacked.run(cfgs, sinks, [None, None])
    for cfg, side in zip(cfgs, sinks):
        alone = Kept()
        train.run(cfg, alone)
        assert [e for e, *_ in side.seen] == [e for e, *_ in alone.seen] == [0, 1]
        for (_, extent, blob), (_, extent_alone, blob_alone) in zip(side.seen, alone.seen):
            assert extent == extent_alone
            np.testing.assert_allclose(model_view.decode(extent, blob)[1],
                                       model_view.decode(extent_alone, blob_alone)[1], atol=2e-3)


def test_a_regression_over_two_features_is_drawn_as_its_predicted_values_coloured_like_its_targets():
    from lrviz import figures

    g = model_view.grid(np.array([[0.0, 0.0], [1.0, 1.0]]))
    values = np.linspace(-5.0, 1e6, len(g.points))[:, None]
    extent, blob = model_view.encode(g.extent, values)
    frame = model_view.decode(extent, blob)[1]
    np.testing.assert_allclose(frame, values, rtol=1e-6)  # float32: a regression's values do not fit float16
    fig = figures.view_figure([(0, frame)], g.extent, np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([-5.0, 7.5]),
                              "regression")
    heat, points = fig.data
    assert heat.name == "prediction" and (heat.zmin, heat.zmax) == (-5.0, 7.5)
    assert list(points.marker.color) == [-5.0, 7.5] and (points.marker.cmin, points.marker.cmax) == (-5.0, 7.5)


def test_several_classes_over_two_features_are_drawn_as_the_most_likely_class():
    from lrviz import figures

    g = model_view.grid(np.array([[0.0, 0.0], [1.0, 1.0]]))
    probs = np.tile([0.2, 0.5, 0.3], (len(g.points), 1))
    fig = figures.view_figure([(0, probs)], g.extent, np.array([[0.0, 0.0]]), np.array([2]), "multiclass")
    assert fig.data[0].name == "predicted class" and np.all(np.asarray(fig.data[0].z) == 1)
