"""The Experiments tab under AppTest with a real engine: each kind starts real runs, and what it
draws is checked against the store and an independent computation."""
from __future__ import annotations

import csv
import io
import time

import numpy as np
import pytest

from lrviz import config
from lrviz.experiments import ab as abmod
from lrviz.experiments import groups, range_test
from lrviz.store import Store
from tests.apptest import app, errors, ok, open_tab, spec, ys

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module", autouse=True)
def home(page_home):
    return page_home


def tiny(at, samples=200, epochs=2):
    at.number_input(key="data.n_samples").set_value(samples)
    at.number_input(key="training.epochs").set_value(epochs).run()
    return ok(at)


def experiment(at, kind: str):
    at.session_state["exp.kind"] = kind
    return ok(open_tab(at, "Experiments"))


def finished(at, home, kind: str, timeout: float = 300):
    """Rerun (timers do not fire under AppTest) until the newest group of this kind has ended."""
    store = Store(home)
    deadline = time.time() + timeout
    while time.time() < deadline:
        group = store.groups(kind)[-1]
        runs = store.group_runs(group["id"])
        if runs and all(r["status"] not in ("queued", "running") for r in runs):
            return ok(at.run()), group, runs
        time.sleep(0.3)
    raise AssertionError(f"{kind} did not finish")


def test_the_range_test_draws_loss_against_rate_and_one_click_sets_the_peak(home):
    at = experiment(tiny(app()), "LR range test")
    at.number_input(key="exp.rt.num_steps").set_value(30).run()
    at.button(key="exp.rt.start").click().run()
    at, group, runs = finished(ok(at), home, "range_test")
    steps = Store(home).steps(runs[0]["id"])
    fig = spec(at, "exp.rt.chart")
    result = range_test.analyse(steps["learning_rate"], steps["loss"], 30, 4.0)
    np.testing.assert_allclose(ys(fig, 0, "x"), result.learning_rate, rtol=1e-12)
    np.testing.assert_allclose(ys(fig, 1), range_test.smoothed_loss(result.loss), rtol=1e-12)
    np.testing.assert_allclose(result.learning_rate, 1e-7 * 1e8 ** (np.arange(len(steps["step"])) / 30),
                               rtol=1e-5)  # the rate Adam applied: the ramp in float32 arithmetic
    valley = result.suggestions[0]
    at.button(key=f"exp.rt.use.{group['id']}.valley").click().run()
    ok(at)
    at.run()
    cfg = at.session_state["config.last"]
    assert config.validate(cfg)["schedule"]["initial_learning_rate"] == pytest.approx(valley.learning_rate, rel=1e-12)


def test_seeds_draw_the_mean_and_band_of_their_runs(home):
    at = experiment(tiny(app()), "Seeds")
    at.slider(key="exp.seeds.k").set_value(3).run()
    at.button(key="exp.seeds.start").click().run()
    at, group, runs = finished(ok(at), home, "seeds")
    assert [r["cell"][-1] for r in runs] == [0, 1, 2]
    loss = np.array([Store(home).epochs(r["id"])["loss"] for r in runs])
    fig = spec(at, "exp.seeds.loss")
    np.testing.assert_allclose(ys(fig, 1), loss.mean(axis=0), rtol=1e-12)  # trace 0 is the band
    high = ys(fig, 0)[:loss.shape[1]]
    np.testing.assert_allclose(high, loss.mean(axis=0) + loss.std(axis=0, ddof=1), rtol=1e-12)


def test_ab_gives_the_paired_verdict_of_its_runs(home):
    at = experiment(tiny(app()), "A/B")
    at.selectbox(key="exp.ab.b").set_value("One-cycle")
    at.slider(key="exp.ab.k").set_value(3).run()
    at.button(key="exp.ab.start").click().run()
    at, group, runs = finished(ok(at), home, "ab")
    cols = groups.results(Store(home), group["id"])
    values = {(a, s): v for a, s, v in zip(cols["arm"], cols["seed"], cols["final_val_loss"])}
    sentence = abmod.verdict(abmod.compare(values), "final val_loss", 3)
    assert sentence in " ".join(m.value for m in at.markdown)
    assert runs[3]["config"]["schedule"]["kind"] == "one_cycle" and runs[0]["config"]["training"]["seed"] == \
        runs[3]["config"]["training"]["seed"]


def test_a_sweep_draws_its_heatmap_marks_the_best_and_downloads_its_results(home, downloads):
    at = experiment(tiny(app()), "Sweep")
    at.selectbox(key="exp.sweep.field0").set_value("optimizer.beta_1")
    at.run()
    at.text_input(key="exp.sweep.values0").set_value("0.9, 0.7")
    at.selectbox(key="exp.sweep.field1").set_value("training.batch_size")
    at.run()
    at.text_input(key="exp.sweep.values1").set_value("16, 32")
    at.slider(key="exp.sweep.k").set_value(1).run()
    assert at.button(key="exp.sweep.start").label == "Run the sweep (4 runs)"
    at.button(key="exp.sweep.start").click().run()
    at, group, runs = finished(ok(at), home, "sweep")
    cols = groups.results(Store(home), group["id"])
    heat = spec(at, "exp.sweep.map")["data"][0]
    z = np.array(heat["z"] if isinstance(heat["z"], list) else ys({"data": [heat]}, 0, "z"), dtype=float).reshape(2, 2)
    np.testing.assert_allclose(z.ravel(), cols["final_val_loss"], rtol=1e-12)
    best = int(np.argmin(cols["final_val_loss"]))
    assert f"Best: optimizer.beta_1 = {cols['optimizer.beta_1'][best]:g}, training.batch_size = " \
           f"{cols['training.batch_size'][best]}" in " ".join(m.value for m in at.markdown)
    rows = list(csv.DictReader(io.StringIO(downloads(f"lrviz_sweep_{group['id']}.csv").decode())))
    assert [float(r["final_val_loss"]) for r in rows] == cols["final_val_loss"]


def test_a_bad_sweep_value_is_named_before_anything_runs(home):
    at = experiment(tiny(app()), "Sweep")
    at.selectbox(key="exp.sweep.field0").set_value("optimizer.beta_1")
    at.run()
    at.text_input(key="exp.sweep.values0").set_value("0.9, 1.5").run()
    text = errors(ok(at))
    assert "grid.optimizer.beta_1[1]: optimizer.beta_1: allowed: a number >= 0 and < 1 (got 1.5)" in text
    assert at.button(key="exp.sweep.start").disabled
