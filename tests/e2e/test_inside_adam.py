"""Inside Adam and the model in a real browser: schedule-free AdamW chosen in the sidebar
trains, its validation at x and at y both drawn; the optimizer's measures drawn live are the
stored ones, and the run's steps CSV carries them; the model's view animates its epochs and
downloads as a standalone HTML."""
from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from tests.support import wait_idle
from pages import choose, download, key, open_tab, plot, selectbox, set_number, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def names(page, chart: str) -> list[str]:
    return page.evaluate("""(sel) => Array.from(document.querySelector(sel + ' .js-plotly-plot')._fullData,
                             d => d.name)""", key(chart))


def test_schedule_free_trains_from_the_sidebar_and_the_optimizers_insides_are_drawn(server, app_page, tmp_path):
    page = app_page
    page.goto(server["url"])
    wait_idle(page)
    set_number(page, "data.n_samples", 200)
    set_number(page, "training.epochs", 3)
    choose(page, "optimizer.class_name", "ScheduleFreeAdamW")
    page.locator(key("optimizer.warmup_steps")).wait_for()
    assert not page.locator(key("optimizer.amsgrad")).is_visible()
    choose(page, "s.family", "Constant")
    open_tab(page, "Train")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Done in")).wait_for(timeout=120_000)
    page.wait_for_function(f"""() => {{ const g = document.querySelector("{key('live.inside')} .js-plotly-plot");
                                return g && g._fullData && g._fullData.length && g._fullData[0].x.length == 15; }}""", timeout=30_000)
    wait_idle(page)
    assert {"val_loss at the average x", "val_loss at the training weights y"} <= set(names(page, "live.loss"))
    drawn = {n: plot(page, "live.inside", i) for i, n in enumerate(names(page, "live.inside"))}
    assert {"layer 1", "layer 2", "layer 3 (output)", "gradient norm", "bias correction on the rate"} <= set(drawn)
    page.locator(key("live.inside")).scroll_into_view_if_needed()
    shot(page, "30-inside-the-optimizer")

    # The model's view: one frame per epoch, the last one shown, its grid the stored predictions' shape.
    page.locator(key("live.view")).scroll_into_view_if_needed()
    view = page.evaluate("""(sel) => { const g = document.querySelector(sel + ' .js-plotly-plot');
        return {steps: g._fullLayout.sliders[0].steps.map(s => s.label), active: g._fullLayout.sliders[0].active,
                z: g._fullData[0].z.length, type: g._fullData[0].type}; }""", key("live.view"))
    assert view == {"steps": ["1", "2", "3"], "active": 2, "z": 64, "type": "heatmap"}
    shot(page, "31-the-models-view")
    run_id = re.search(r"\(#(\d+)\)", selectbox(page, "live.pick").input_value()).group(1)
    open_tab(page, "Downloads")
    rows = list(csv.DictReader(download(page, f"dl.run{run_id}.steps", tmp_path).open()))
    assert len(rows) == 15 and "update_ratio_4" not in rows[0]  # a 16-16 MLP has three Dense layers
    for column, name in (("grad_norm", "gradient norm"), ("update_ratio_1", "layer 1"),
                         ("bias_correction", "bias correction on the rate")):
        np.testing.assert_allclose(drawn[name]["y"], [float(r[column]) for r in rows], rtol=1e-6, err_msg=column)
    t = np.arange(1, 16)
    np.testing.assert_allclose([float(r["bias_correction"]) for r in rows], np.sqrt(1 - 0.999 ** t), rtol=1e-12)
    epochs = list(csv.DictReader(download(page, f"dl.run{run_id}.epochs", tmp_path).open()))
    assert all(r["val_loss"] and r["val_loss_at_y"] and r["val_loss"] != r["val_loss_at_y"] for r in epochs)
    html = download(page, f"dl.run{run_id}.view", tmp_path).read_text()
    assert "after epoch " in html and "play" in html and "P(class 1)" in html
