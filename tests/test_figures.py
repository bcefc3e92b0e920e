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


def test_run_trace_grows_by_the_stores_column_dicts():
    rows = {"step": [0, 1], "epoch": [0, 0], "learning_rate": [0.1, 0.05], "loss": [1.0, None]}
    t = figures.RunTrace("run", steps_per_epoch=2)
    assert t.last_step == -1
    assert t.extend_steps(rows) == 2
    assert t.extend_steps([]) == 0
    assert t.last_step == 1
    np.testing.assert_array_equal(t.steps["learning_rate"], [0.1, 0.05])
    assert np.isnan(t.steps["loss"][1])


def _synthetic_trace(n_steps, spe=100, label="<b>run</b>"):
    t = figures.RunTrace(label, steps_per_epoch=spe, metric="accuracy", total_steps=n_steps)
    step = np.arange(n_steps)
    t.extend_steps({"step": step, "epoch": step // spe, "learning_rate": 0.01 / (1 + step / 1e3),
                    "loss": 1 / (1 + step / 50) + 0.01 * np.sin(step), "wall_time": (step + 1) * 0.002})
    e = np.arange(max(n_steps // spe, 1))
    t.extend_epochs({"epoch": e, "learning_rate": 0.01 / (1 + e), "loss": 1 / (1 + e),
                     "val_loss": 1.1 / (1 + e), "metric": 1 - 0.5 / (1 + e), "val_metric": 0.9 - 0.5 / (1 + e),
                     "wall_time": (e + 1) * spe * 0.002})
    return t


def test_live_figures_cost_the_same_at_100_and_100k_steps():
    sizes = []
    for n in (100, 100_000):
        t = _synthetic_trace(n)
        for fig in (figures.lr_figure([t]), figures.loss_figure([t], smoothing=0.6), figures.metric_figure([t])):
            for trace in fig.data:
                assert len(trace.x) <= figures.MAX_POINTS
        sizes.append(len(figures.loss_figure([t], smoothing=0.6).to_json()))
    assert sizes[1] < 3 * sizes[0] + 200_000


def test_run_names_are_escaped_in_legends():
    fig = figures.loss_figure([_synthetic_trace(300), _synthetic_trace(300, label="b")])
    titles = [d.legendgrouptitle.text for d in fig.data]
    assert "&lt;b&gt;run&lt;/b&gt;" in titles and not any("<b>" in t for t in titles)


def test_val_loss_sits_on_the_last_step_of_its_epoch_in_its_own_colour():
    fig = figures.loss_figure([_synthetic_trace(300)])
    loss, val = (d for d in fig.data if d.name in ("loss", "val_loss"))
    assert val.x[0] == 99 and loss.line.color != val.line.color
    assert fig.layout.yaxis.title.text.startswith("loss")


def test_smoothing_draws_the_raw_loss_faint_beneath():
    fig = figures.loss_figure([_synthetic_trace(300)], smoothing=0.6)
    raw, smoothed = fig.data[0], fig.data[1]
    assert raw.name == "loss (raw)" and raw.opacity < 0.5 and raw.line.width < smoothed.line.width
    assert smoothed.name == "loss (smoothed 0.6)" and raw.line.color == smoothed.line.color
    np.testing.assert_allclose(smoothed.y, tensorboard_smoothing(raw.y, 0.6))


def tensorboard_smoothing(values, weight):
    """TensorBoard's scalar smoothing as its source writes it (vz_line_chart2), step by step:
    the independent reference for figures.smooth."""
    last, count, out = 0.0, 0, []
    constant = all(v == values[0] for v in values)
    for v in values:
        if constant or not np.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight**count) if weight != 1 else last)
    return np.array(out)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_smoothing_is_tensorboards_debiased_moving_average(weight):
    y = np.random.default_rng(1).normal(1.0, 0.3, 500)
    y[[17, 18, 250]] = [np.nan, np.inf, np.nan]
    np.testing.assert_allclose(figures.smooth(y, weight), tensorboard_smoothing(y, weight), rtol=1e-12)


def test_smoothing_leaves_a_constant_series_alone():
    assert figures.smooth(np.full(10, 0.5), 0.9).tolist() == [0.5] * 10


def test_the_metric_and_its_validation_twin_are_named_for_what_they_are():
    fig = figures.metric_figure([_synthetic_trace(300)])
    assert [d.name for d in fig.data] == ["accuracy", "val_accuracy"]
    assert fig.layout.title.text == "accuracy per epoch"
    assert fig.layout.xaxis.title.text == "epochs completed"
    assert fig.data[0].line.color != fig.data[1].line.color


@pytest.mark.parametrize("x,first,last", [("step", 0, 299), ("epoch", 0.01, 3.0), ("fraction", 1 / 300, 1.0),
                                          ("wall_time", 0.002, 0.6)])
def test_run_charts_put_steps_epochs_share_or_wall_time_on_x(x, first, last):
    fig = figures.loss_figure([_synthetic_trace(300)], x=x)
    assert fig.data[0].x[0] == pytest.approx(first) and fig.data[0].x[-1] == pytest.approx(last)
    assert fig.layout.xaxis.title.text == figures.X_AXES[x]


def test_hover_shows_the_step_and_the_epoch():
    fig = figures.loss_figure([_synthetic_trace(300)], x="wall_time")
    loss = fig.data[0]
    assert "step %{customdata[0]" in loss.hovertemplate and "epoch %{customdata[1]" in loss.hovertemplate
    assert loss.customdata[150].tolist() == [150, 1]
    val = fig.data[1]
    assert val.customdata[0].tolist() == [99, 0]


def test_each_run_is_one_legend_group_that_hides_or_shows_it():
    fig = figures.loss_figure([_synthetic_trace(300, label="a"), _synthetic_trace(300, label="b")], smoothing=0.5)
    assert {d.legendgroup for d in fig.data} == {"a", "b"}
    assert fig.layout.legend.groupclick == "toggleitem"  # a group's title hides the run, an item one line
    colors = {d.legendgroup: d.line.color for d in fig.data if d.name.startswith("loss")}
    assert colors["a"] != colors["b"]


def test_a_constant_rate_is_drawn_around_its_value():
    fig = figures.preview_figure([figures.Curve("c", np.arange(100), np.full(100, 1e-3))], 10)
    low, high = fig.layout.yaxis.range
    assert low < 1e-3 < high and low > 0 and high < 2e-3


def test_a_nearly_constant_rate_is_drawn_around_its_value_on_a_log_axis_too():
    lr = 1e-3 / (1 + 1e-6 * np.arange(1000))
    fig = figures.preview_figure([figures.Curve("c", np.arange(1000), lr)], 10, log_y=True)
    low, high = fig.layout.yaxis.range
    assert low < np.log10(lr.min()) and np.log10(lr.max()) < high and high - low < 1


def test_a_rate_that_moves_by_half_a_percent_is_not_drawn_as_a_cliff():
    lr = np.where(np.arange(100) < 50, 0.07, 0.06965)
    low, high = figures.preview_figure([figures.Curve("c", np.arange(100), lr)], 10).layout.yaxis.range
    assert high - low > 10 * (0.07 - 0.06965)


def test_a_loss_keeps_its_detail_down_to_a_tenth_of_a_percent():
    t = _synthetic_trace(300)
    t.steps["loss"] = 0.3 + 0.002 * np.sin(t.steps["step"])
    t.epochs["val_loss"] = np.full(3, 0.3)
    assert figures.loss_figure([t]).layout.yaxis.range is None


def test_a_changing_rate_keeps_plotlys_own_range():
    fig = figures.preview_figure([figures.Curve("c", np.arange(100), np.linspace(1e-3, 1e-4, 100))], 10)
    assert fig.layout.yaxis.range is None


def test_marks_are_drawn_where_the_schedule_and_the_run_disagree():
    fig = figures.preview_figure([figures.Curve("c", np.arange(100), np.ones(100))], 10,
                                 marks=[(60, "cosine ends")])
    assert any(s.x0 == 60 and s.line.dash == "dash" for s in fig.layout.shapes)
    assert any(a.text == "cosine ends" and a.x == 60 for a in fig.layout.annotations)


def test_two_runs_with_one_name_stay_two_legend_groups():
    a, b = _synthetic_trace(300, label="baseline"), _synthetic_trace(300, label="baseline")
    a.run_id, b.run_id = 1, 2
    fig = figures.loss_figure([a, b])
    assert {d.legendgroup for d in fig.data} == {"1", "2"}
    assert {d.legendgrouptitle.text for d in fig.data} == {"baseline"}


def test_runs_with_long_names_make_the_figure_taller_not_the_plot_shorter():
    short = figures.loss_figure([_synthetic_trace(300, label="a"), _synthetic_trace(300, label="b")])
    named = [_synthetic_trace(300, label=f"sweep 3: optimizer.beta_1 = 0.95, schedule = Cosine decay, seed {s}")
             for s in range(4)]
    tall = figures.loss_figure(named)
    assert short.layout.height == 420 and tall.layout.height > 420
    assert tall.layout.legend.yref == "container"  # the legend grows up from the bottom edge, under the x title


def test_the_warmup_view_draws_radams_rectification_the_untuned_warmup_and_the_schedule():
    from lrviz import adam

    step = np.arange(1000)
    lr = np.minimum(1.0, (step + 1) / 500) * 0.002  # a 500-step warmup to 2e-3
    fig = figures.warmup_figure(0.99, step, lr)
    rect, warm, own = fig.data
    assert rect.x[0] == 5 and rect.x[-1] == 399  # 4/(1-0.99) steps; none while RAdam has no adaptive step
    np.testing.assert_allclose(rect.y, adam.rectification(np.asarray(rect.x), 0.99))
    np.testing.assert_allclose(warm.y, adam.untuned_warmup(np.asarray(warm.x), 0.99))
    np.testing.assert_allclose(own.y, np.minimum(1.0, (np.asarray(own.x) + 1) / 500))  # the rate / its peak
    assert "200 steps" in warm.name
