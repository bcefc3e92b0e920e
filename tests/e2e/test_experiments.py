"""The Experiments tab in a real browser: an LR range test draws loss against rate and one click
makes its suggestion the schedule's peak; a sweep draws its heatmap; both from the page alone."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tests.support import wait_idle
from pages import key, open_tab, plot, press, set_number, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def pick(page, kind: str) -> None:
    page.locator(f"{key('exp.kind')} button", has_text=kind).first.click()
    wait_idle(page)


def ended(page, timeout: float = 240_000) -> None:
    """Until the experiment's progress line says every run finished."""
    page.wait_for_function("""() => { const p = document.querySelector("[data-testid='stProgress']");
        return p && /(\\d+) of \\1 runs finished/.test(p.innerText); }""", timeout=timeout)
    wait_idle(page)


def test_a_range_test_suggests_a_rate_that_one_click_makes_the_peak(server, app_page):
    page = app_page
    page.goto(server["url"])
    wait_idle(page)
    set_number(page, "data.n_samples", 400)
    open_tab(page, "Experiments")
    set_number(page, "exp.rt.num_steps", 60)
    press(page, "exp.rt.start")
    ended(page)
    page.locator(key("exp.rt.chart")).scroll_into_view_if_needed()
    shot(page, "20-range-test")
    raw = plot(page, "exp.rt.chart", 0)
    lr = np.asarray(raw["x"], dtype=float)
    np.testing.assert_allclose(lr, 1e-7 * 1e8 ** (np.arange(len(lr)) / 60), rtol=1e-5)
    use = page.locator("button:visible", has_text=re.compile(r"^Use .* as the peak rate$")).first
    rate = float(re.search(r"Use (\S+) as", use.inner_text()).group(1))
    use.click()
    wait_idle(page)
    page.get_by_text("The schedule now peaks at").wait_for()
    open_tab(page, "Preview")
    peak = max(plot(page, "preview.chart", 0)["y"])
    assert peak == pytest.approx(rate, rel=0.05)  # the button shows two digits
    shot(page, "21-range-test-applied")


def test_a_sweep_draws_a_heatmap_with_the_best_cell_marked(server, app_page):
    page = app_page
    page.goto(server["url"])
    wait_idle(page)
    set_number(page, "data.n_samples", 300)
    set_number(page, "training.epochs", 3)
    open_tab(page, "Experiments")
    pick(page, "Sweep")
    page.locator(f"{key('exp.sweep.values0')} input").fill("0.01, 0.1")
    page.locator(f"{key('exp.sweep.values0')} input").press("Enter")
    wait_idle(page)
    box = page.locator(f"{key('exp.sweep.field1')} input[role='combobox']")
    box.click()
    box.fill("optimizer.beta_1")
    page.get_by_role("option", name="optimizer.beta_1", exact=True).click()
    wait_idle(page)
    page.locator(f"{key('exp.sweep.values1')} input").fill("0.9, 0.5")
    page.locator(f"{key('exp.sweep.values1')} input").press("Enter")
    wait_idle(page)
    assert "(8 runs)" in page.locator(f"{key('exp.sweep.start')} button:visible").first.inner_text()
    press(page, "exp.sweep.start")
    ended(page)
    heat = plot(page, "exp.sweep.map", 0)
    assert heat is not None
    page.locator(key("exp.sweep.map")).scroll_into_view_if_needed()
    page.get_by_text(re.compile(r"^Best: ")).wait_for()
    shot(page, "22-sweep")
