"""Driving lrviz's page in a real browser: find widgets by key, read what charts draw, press
tabs and download buttons (as Streamlit's e2e_playwright/shared/ helpers do for its own app)."""
from __future__ import annotations

import re
from pathlib import Path

from tests.support import ARTIFACTS, wait_idle

PLOT = """([sel, i]) => { const g = document.querySelector(sel + ' .js-plotly-plot');
  if (!g || !g._fullData || g._fullData.length <= i) return null;
  const d = g._fullData[i]; return {name: d.name, x: Array.from(d.x || []), y: Array.from(d.y || []),
  color: d.line && d.line.color, range: g._fullLayout.yaxis.range, type: g._fullLayout.yaxis.type,
  title: g._fullLayout.title.text}; }"""


def key(name: str) -> str:
    """The CSS selector of the element Streamlit draws for a widget key."""
    return ".st-key-" + name.replace(".", "-")


def plot(page, name: str, i: int = 0) -> dict | None:
    """What the chart with this key draws as its i-th trace, as Plotly resolved it."""
    return page.evaluate(PLOT, [key(name), i])


def plot_y(page, name: str):
    found = plot(page, name)
    return found and found["y"]


def set_number(page, name: str, value) -> None:
    box = page.locator(f"{key(name)} input")
    if not box.is_visible():  # in a closed sidebar panel, which draws its widgets once opened
        page.locator(f"{key('panel.' + name.split('.')[0])} summary").click()
        box.wait_for()
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def choose(page, name: str, option: str) -> None:
    """Pick an option of a selectbox by its label (typed first: a long list draws only the
    options in view)."""
    box = selectbox(page, name)
    box.click()
    box.fill(option[:12])
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def selectbox(page, name: str):
    """The box a selectbox shows its value in (expect(...).to_have_value waits for it)."""
    return page.locator(f"{key(name)} input[role='combobox']")


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=re.compile(name)).click()
    wait_idle(page)


def download(page, name: str, into: Path, timeout: float = 120_000) -> Path:
    """Click the download button with this key; the file it sent."""
    with page.expect_download(timeout=timeout) as info:
        page.locator(f"{key(name)} button:visible").first.click()
    path = into / info.value.suggested_filename
    info.value.save_as(path)
    return path


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def press(page, name: str) -> None:
    """Click the button with this key (the visible one: a rerun may briefly draw two)."""
    page.locator(f"{key(name)} button:visible").first.click()
    wait_idle(page)
