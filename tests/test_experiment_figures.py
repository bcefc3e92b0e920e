"""What the experiments' charts draw, against the data they are given."""
import numpy as np

from lrviz.experiments import figures
from lrviz.experiments.range_test import analyse
from lrviz.experiments.stats import band
from lrviz.schedules import make

A, B = make("CosineDecay", alpha=0.0), make("CosineDecay", alpha=0.1)  # one family, one peak: one label


def cell(values, mean, n=2, status="done"):
    return {"cell": values, "mean": mean, "std": 0.01, "n": n, "runs": 2, "status": status}


def test_a_heatmap_puts_each_cell_at_its_values_and_outlines_the_best():
    cells = [cell([A, 0.9], 0.3), cell([A, 0.5], 0.25), cell([B, 0.9], 0.2), cell([B, 0.5], float("nan"), 0, "2 diverged")]
    heat = figures.sweep_figure(["schedule", "optimizer.beta_1"], cells, "final val_loss")
    z = np.asarray(heat.data[0].z, dtype=float)
    assert z[0].tolist() == [0.3, 0.25] and z[1, 0] == 0.2 and np.isnan(z[1, 1])
    assert heat.data[0].text[1][1] == "2 diverged"
    assert heat.data[0].y == ("Cosine decay (with warmup) (peak 0.01) #1", "Cosine decay (with warmup) (peak 0.01) #2")
    outline = heat.layout.shapes[0]
    assert (outline.x0, outline.y0) == (-0.5, 0.5)  # column 0.9, row B


def test_one_field_is_a_line_with_its_best_point_starred():
    cells = [cell([1e-3], 0.3), cell([1e-2], 0.1), cell([1e-1], 0.5)]
    line = figures.sweep_figure(["schedule.learning_rate"], cells, "final val_loss")
    assert list(line.data[0].y) == [0.3, 0.1, 0.5] and line.data[1].x == ("0.01",) and line.data[1].y == (0.1,)


def test_the_range_test_chart_draws_the_reading_and_a_line_at_each_suggestion():
    lr = 1e-7 * 1e8 ** (np.arange(100) / 100)
    loss = 1.0 - 0.5 * np.tanh(np.log10(lr) + 3) + np.where(lr > 1, 50 * (lr - 1), 0.0)
    result = analyse(lr, loss, 100)
    fig = figures.range_test_figure(result)
    np.testing.assert_allclose(np.asarray(fig.data[1].y, dtype=float), result.smoothed)
    assert sorted(s.x0 for s in fig.layout.shapes) == sorted(s.learning_rate for s in result.suggestions)


def test_a_band_is_drawn_around_its_mean():
    b = band([np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    fig = figures.band_figure([("loss", np.array([1, 2]), b)], "t", "loss")
    area, mean = fig.data
    assert list(mean.y) == [2.0, 3.0]
    np.testing.assert_allclose(area.y, [2 + np.sqrt(2), 3 + np.sqrt(2), 3 - np.sqrt(2), 2 - np.sqrt(2)])


def test_parallel_coordinates_draw_each_run_through_its_grid_values_seed_and_measure():
    cols = {"schedule.learning_rate": [1e-3, 1e-3, 1e-1, 1e-1, 1e-2, 1e-2], "schedule": [A, A, B, B, A, A],
            "seed": [0, 1, 0, 1, 0, 1], "final_val_loss": [0.3, 0.31, None, 0.5, 0.1, 0.12]}
    fig = figures.parallel_figure(cols, ["schedule.learning_rate", "schedule"], "final_val_loss")
    rate, schedule, seed, measure = fig.data[0].dimensions
    for run in range(6):  # each line crosses each axis at the tick that names its own value
        assert rate.ticktext[rate.values[run]] == f"{cols['schedule.learning_rate'][run]:g}"
        assert schedule.ticktext[schedule.values[run]].endswith("#1" if cols["schedule"][run] is A else "#2")
        assert seed.ticktext[seed.values[run]] == str(cols["seed"][run])
    assert list(rate.values) == [0, 0, 1, 1, 2, 2]  # the grid's order, evenly
    np.testing.assert_array_equal(measure.values, [0.3, 0.31, np.nan, 0.5, 0.1, 0.12])
    assert list(fig.data[0].line.color) == [0.3, 0.31, 0.5, 0.5, 0.1, 0.12]  # a failed run in the worst colour
