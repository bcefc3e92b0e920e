"""The app in a real browser: headless Chromium against `streamlit run app.py`.

Change a slider and see the preview change, train a tiny run and watch its live chart,
download the CSV, and check that the server process never loaded TensorFlow.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.support import ROOT, wait_idle
from pages import choose, key, plot_y, set_number, shot

pytestmark = pytest.mark.browser

PLOT_Y = """sel => { const g = document.querySelector(sel + ' .js-plotly-plot');
  if (!g || !g._fullData || !g._fullData.length) return null;
  return Array.from(g._fullData[0].y || []); }"""


def tensorflow_loaded(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "libtensorflow" in maps or "_pywrap_tensorflow" in maps


def child_pids(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_preview_train_download_without_tensorflow_in_the_server(server, app_page, tmp_path):
    page = app_page
    page.goto(server["url"])
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    shot(page, "01-first-page")
    before = plot_y(page, "preview.chart")
    assert before and before[0] == pytest.approx(0.1)

    # A log-scale slider: one step left on the grid lowers the start of the curve.
    thumb = page.locator(f"{key('s.time_based_decay.initial_learning_rate')} input[type='range']")
    thumb.focus()
    thumb.press("ArrowLeft")
    wait_idle(page)
    page.wait_for_function(f"() => ({PLOT_Y})('{key('preview.chart')}')[0] < 0.1")
    after = plot_y(page, "preview.chart")
    assert after[0] == pytest.approx(0.07) and len(after) == len(before)
    assert "cfg=" in page.url  # the settings went into the shareable link
    shot(page, "02-slider-moved")

    # A tiny run: 200 samples (5 steps per epoch), 2 epochs.
    set_number(page, "data.n_samples", 200)
    set_number(page, "training.epochs", 2)
    page.get_by_role("tab", name=re.compile("Train")).click()
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Done in")).wait_for(timeout=120_000)
    page.wait_for_function(f"() => {{ const y = ({PLOT_Y})('{key('live.lr')}'); return y && y.length == 10; }}",
                           timeout=30_000)
    wait_idle(page)
    applied = plot_y(page, "live.lr")
    assert applied[0] == pytest.approx(0.07, rel=1e-6) and applied[-1] < applied[0]
    assert len(plot_y(page, "live.loss")) == 10
    shot(page, "03-trained")

    # The CSV of the plotted curve, exact and complete.
    page.get_by_role("tab", name=re.compile("Downloads")).click()
    with page.expect_download() as info:
        page.locator(f"{key('dl.curve')} button:visible").first.click()
    path = tmp_path / "curve.csv"
    info.value.save_as(path)
    rows = list(csv.DictReader(path.open()))
    assert [int(r["step"]) for r in rows] == list(range(10))
    assert [int(r["epoch"]) for r in rows] == [0] * 5 + [1] * 5
    assert float(rows[0]["learning_rate"]) == pytest.approx(0.07)
    shot(page, "04-downloads")
    # PNG through kaleido and Debian's Chromium, rendered only on this click.
    with page.expect_download(timeout=120_000) as info:
        page.locator(f"{key('dl.curve_img.png')} button:visible").first.click()
    png = tmp_path / "curve.png"
    info.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # TensorFlow lives in the workers only.
    pid = server["proc"].pid
    assert not tensorflow_loaded(pid), "the Streamlit server process loaded TensorFlow"
    assert "_raylet" not in Path(f"/proc/{pid}/maps").read_text(), "Ray was loaded without LRVIZ_RAY_ADDRESS"
    workers = [c for c in child_pids(pid) if Path(f"/proc/{c}/maps").exists()]
    assert any(tensorflow_loaded(c) for c in workers), "no worker has TensorFlow: the check proves nothing"


def test_a_bad_link_falls_back_with_a_warning(server, app_page):
    page = app_page
    page.goto(server["url"] + "/?cfg=bm90IGpzb24")
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    warning = page.get_by_test_id("stAlert").filter(has_text="link")
    assert "not URL-safe base64 of JSON" in warning.first.inner_text()
    assert page.get_by_test_id("stException").count() == 0


def test_screenshot_for_the_readme(server, app_page):
    """The README's picture: a modern preset against the article's recipe, with Adam's step size."""
    page = app_page
    from lrviz import presets, urlstate

    cfg = presets.available()["Cosine decay with linear warmup"].config()
    page.goto(server["url"] + "/?cfg=" + urlstate.encode(cfg)["cfg"] + "&units=percent")
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    for name in ("p.adam", "c.on"):
        page.locator(f"{key(name)} label").click()
        wait_idle(page)
    choose(page, "c.family", "One-cycle")
    page.locator("[data-testid='stSidebarContent']").evaluate("e => e.scrollTo(0, 0)")
    page.wait_for_timeout(800)
    names = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData.map(d => d.name)")
    assert len(names) == 3 and names[2].startswith("compare: One-cycle")
    path = shot(page, "05-readme")
    if os.environ.get("LRVIZ_UPDATE_SCREENSHOT"):
        shutil.copy(path, ROOT / "assets" / "screenshot.png")
