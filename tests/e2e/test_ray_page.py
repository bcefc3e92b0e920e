"""The page with LRVIZ_RAY_ADDRESS set, in a real browser: a run, an LR range test and a sweep
train on the Ray cluster (a head and a second node on this machine), live, and the page says
where they trained."""
from __future__ import annotations

import re
import sqlite3
import time

import pytest

from tests.ray_support import ray_workers
from tests.support import lrviz_processes, start_server, stop_server, wait_healthy, wait_idle
from pages import key, open_tab, plot, plot_y, press, set_number, shot
from test_experiments import ended, pick

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def ray_server(ray_cluster, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("ray-page")
    proc, url = start_server(tmp_path, env={"LRVIZ_RAY_ADDRESS": ray_cluster.address})
    try:
        wait_healthy(url, proc)
        yield {"url": url, "home": tmp_path}
    finally:
        stop_server(proc)
    deadline = time.monotonic() + 10  # the server's processes, and its actors on the cluster's nodes
    while (lrviz_processes(tmp_path) or ray_workers("Trainer")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not lrviz_processes(tmp_path), "the server left processes behind"
    assert not ray_workers("Trainer"), "the server's Ray workers outlived it"


def test_a_run_trains_on_the_cluster_live_stops_and_says_where(ray_server, app_page):
    page = app_page
    page.goto(ray_server["url"])
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    set_number(page, "data.n_samples", 200)
    set_number(page, "training.epochs", 5000)  # long enough to be seen running, then stopped
    open_tab(page, "Train")
    page.get_by_text(re.compile(r"Runs train on the Ray cluster at \S+ \(\d+ workers? ready")).first.wait_for()
    page.get_by_role("button", name="Train", exact=True).click()
    # Live: the chart grows while the run trains on a node.
    page.get_by_text(re.compile(r"Running — epoch")).wait_for(timeout=120_000)
    page.get_by_text(re.compile(r"Training on ray node [0-9a-f]{8}")).wait_for()
    grows = f"""() => {{ const g = document.querySelector('{key('live.loss')} .js-plotly-plot');
        return g && g._fullData && g._fullData.length && (g._fullData[0].y || []).length > %d; }}"""
    page.wait_for_function(grows % 0, timeout=60_000)
    seen = len(plot_y(page, "live.loss"))
    page.wait_for_function(grows % seen, timeout=60_000)  # more points since: streamed as it trains
    shot(page, "ray-training-live")
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text(re.compile(r"Stopped at epoch")).wait_for(timeout=30_000)
    wait_idle(page)
    where = page.get_by_text(re.compile(r"Trained on ray node [0-9a-f]{8}")).inner_text()
    shot(page, "ray-stopped")
    with sqlite3.connect(ray_server["home"] / "lrviz.sqlite3") as db:
        (status, node), = db.execute("SELECT status, node FROM runs").fetchall()
    assert status == "stopped" and node.startswith("ray node ") and node in where


def nodes(home) -> list[str]:
    with sqlite3.connect(home / "lrviz.sqlite3") as db:
        return [node for (node,) in db.execute("SELECT node FROM runs WHERE group_id IS NOT NULL ORDER BY id")]


def test_a_range_test_and_a_sweep_train_on_the_cluster(ray_server, app_page):
    page = app_page
    page.goto(ray_server["url"])
    wait_idle(page)
    set_number(page, "data.n_samples", 300)
    set_number(page, "training.epochs", 3)
    open_tab(page, "Experiments")
    set_number(page, "exp.rt.num_steps", 60)
    press(page, "exp.rt.start")
    ended(page)
    assert len(plot(page, "exp.rt.chart", 0)["x"]) > 10
    shot(page, "ray-range-test")
    (ramp,) = nodes(ray_server["home"])
    pick(page, "Sweep")
    page.locator(f"{key('exp.sweep.values0')} input").fill("0.003, 0.01, 0.03, 0.1")
    page.locator(f"{key('exp.sweep.values0')} input").press("Enter")
    wait_idle(page)
    press(page, "exp.sweep.start")
    ended(page)
    page.get_by_text(re.compile(r"^Best: ")).wait_for()
    page.locator(key("exp.sweep.map")).scroll_into_view_if_needed()
    shot(page, "ray-sweep")
    swept = nodes(ray_server["home"])[1:]
    assert ramp.startswith("ray node ") and len(swept) == 8 and all(n.startswith("ray node ") for n in swept)
