"""Figures: downsampling keeps the shape and bounds the payload; the preview draws the exact
curve's extremes; live traces grow from store rows of any shape."""
import json

import numpy as np
import pytest

from lrviz import config, figures
from lrviz.schedules import curve, make


def test_downsample_bounds_points_and_keeps_extremes():
    x = np.arange(100_000, dtype=float)
    y = np.sin(x / 500.0)
    y[12_345] = 5.0  # a spike the display must not lose
    xs, ys = figures.downsample(x, y)
    assert len(xs) <= figures.MAX_POINTS
    assert ys.max() == 5.0 and ys.min() == pytest.approx(y.min(), abs=1e-6)
    assert xs[0] == 0 and xs[-1] == x[-1]  # the ends always stay
    assert np.all(np.diff(xs) > 0)


def test_downsample_small_and_non_finite():
    xs, ys = figures.downsample([0, 1, 2, 3], [1.0, np.nan, np.inf, 2.0])
    assert xs.tolist() == [0.0, 3.0] and ys.tolist() == [1.0, 2.0]


def test_adam_step_size_matches_the_formula():
    step = np.arange(5)
    got = figures.adam_step_size(step, np.full(5, 0.01), 0.9, 0.999)
    t = step + 1.0
    np.testing.assert_allclose(got, 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t))
    assert got[0] == pytest.approx(0.01 * np.sqrt(0.001) / 0.1)


def _trace_values(spec, i, axis="y"):
    data = spec["data"][i][axis]
    if isinstance(data, dict):  # plotly's typed-array encoding
        import base64

        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data, dtype=float)


def test_preview_of_100k_steps_is_small_and_exact_at_the_ends():
    # 1,250 samples, 20 % held out, batch 10: 100 steps per epoch, 1,000 epochs.
    cfg = config.validate({"schedule": make("CosineDecay", decay_steps=100_000),
                           "training": {"epochs": 1000, "batch_size": 10}, "data": {"n_samples": 1250}})
    spe = config.steps_per_epoch(cfg)
    assert spe * 1000 == 100_000
    fig, cols = figures.preview(cfg, spe, compare=make("constant"), log_y=True, adam_step=True)
    spec = json.loads(fig.to_json())
    assert [d["name"] for d in spec["data"]][0].startswith("Cosine")
    assert len(spec["data"]) == 3  # curve, Adam step size, comparison
    for i in range(3):
        assert len(_trace_values(spec, i)) <= figures.MAX_POINTS
    _, _, lr = curve(cfg["schedule"], 1000, spe)
    np.testing.assert_array_equal(cols["learning_rate"], lr)  # downloads stay exact
    shown = _trace_values(spec, 0)
    assert shown.max() == lr.max() and shown.min() == lr.min()
    assert spec["layout"]["yaxis"]["type"] == "log"
    assert spec["layout"]["xaxis"]["title"]["text"].startswith("optimizer step")
    assert len(spec["layout"]["shapes"]) <= figures.MAX_EPOCH_LINES
    assert len(fig.to_json()) < 200_000


def test_epoch_lines_sit_between_epochs():
    fig = figures.preview_figure([figures.Curve("a", np.arange(30), np.ones(30))], steps_per_epoch=10)
    xs = [s["x0"] for s in fig.layout.shapes]
    assert xs == [10, 20]


@pytest.mark.parametrize("rows", [
    [{"step": 0, "epoch": 0, "learning_rate": 0.1, "loss": 1.0},
     {"step": 1, "epoch": 0, "learning_rate": 0.05, "loss": None}],
    [(0, 0, 0.1, 1.0), (1, 0, 0.05, None)],
    {"step": [0, 1], "epoch": [0, 0], "learning_rate": [0.1, 0.05], "loss": [1.0, None]},
])
def test_run_trace_grows_from_any_row_shape(rows):
    t = figures.RunTrace("run", steps_per_epoch=2)
    assert t.last_step == -1
    assert t.extend_steps(rows) == 2
    assert t.extend_steps([]) == 0
    assert t.last_step == 1
    np.testing.assert_array_equal(t.steps["learning_rate"], [0.1, 0.05])
    assert np.isnan(t.steps["loss"][1])


def _synthetic_trace(n_steps, spe=100):
    t = figures.RunTrace("<b>run</b>", steps_per_epoch=spe)
    step = np.arange(n_steps)
    t.extend_steps({"step": step, "epoch": step // spe, "learning_rate": 0.01 / (1 + step / 1e3),
                    "loss": 1 / (1 + step / 50) + 0.01 * np.sin(step)})
    e = np.arange(max(n_steps // spe, 1))
    t.extend_epochs({"epoch": e, "learning_rate": 0.01 / (1 + e), "loss": 1 / (1 + e),
                     "val_loss": 1.1 / (1 + e), "metric": 1 - 0.5 / (1 + e), "wall_time": e * 0.1})
    return t


def test_live_figures_cost_the_same_at_100_and_100k_steps():
    sizes = []
    for n in (100, 100_000):
        t = _synthetic_trace(n)
        for fig in (figures.lr_figure([t]), figures.loss_figure([t]), figures.metric_figure([t])):
            for trace in fig.data:
                assert len(trace.x) <= figures.MAX_POINTS
        sizes.append(len(figures.loss_figure([t]).to_json()))
    assert sizes[1] < 3 * sizes[0] + 100_000


def test_names_are_escaped_and_axes_titled():
    t = _synthetic_trace(300)
    fig = figures.loss_figure([t])
    assert "<b>" not in fig.data[0].name and "&lt;b&gt;" in fig.data[0].name
    assert fig.layout.yaxis.title.text.startswith("loss")
    assert figures.metric_figure([t]).layout.xaxis.title.text == "epochs completed"
    # val_loss sits on the last step of its epoch
    assert fig.data[1].x[0] == 99.0
