"""A lesson from the papers in a real browser: chosen in the A/B panel, its two arms' rates
drawn, run with one click, its note and the verdict of its own runs shown."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tests.support import wait_idle
from pages import choose, key, open_tab, plot, press, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def test_a_lesson_runs_from_the_ab_panel_and_reports_what_its_runs_showed(server, app_page):
    from lrviz import lessons

    lesson = lessons.by_id()["warmup"]
    page = app_page
    page.goto(server["url"])
    wait_idle(page)
    open_tab(page, "Experiments")
    page.locator(f"{key('exp.kind')} button", has_text="A/B").first.click()
    wait_idle(page)
    choose(page, "exp.ab.lesson", lesson.title)
    page.get_by_text("What to look for:").first.wait_for()
    a, b = plot(page, "exp.ab.lesson_chart", 0), plot(page, "exp.ab.lesson_chart", 1)
    assert (a["name"], b["name"]) == (lesson.a.name, lesson.b.name)
    assert a["y"][0] == pytest.approx(1e-2) and b["y"][:2] == [0.0, pytest.approx(1e-2 / 200, rel=1e-6)]
    assert b["x"][int(np.argmax(np.asarray(b["y"]) >= 1e-2 * (1 - 1e-6)))] == 200  # the warmup's end
    press(page, "exp.ab.lesson_start")
    page.wait_for_function("""() => { const p = document.querySelector("[data-testid='stProgress']");
        return p && /10 of 10 runs finished/.test(p.innerText); }""", timeout=240_000)
    wait_idle(page)
    body = page.locator("[data-testid='stMain']").inner_text()
    assert lesson.title in body and "not the paper's claim" in body
    assert re.search(r"B's final val_loss is \S+ (lower|higher) than A's \(95 % interval of B − A: .* over 5 paired "
                     r"seeds\)", body), body[-2000:]
    page.locator(key("exp.ab.chart")).scroll_into_view_if_needed()
    shot(page, "40-lesson-warmup")
