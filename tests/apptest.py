"""Helpers for driving the page under Streamlit's AppTest (shared by several test files)."""
from __future__ import annotations

TABS_KEY = "main.tab"


def open_tab(at, name: str):
    """Click the tab whose label ends with `name` and rerun: only the open tab is drawn."""
    at.session_state[TABS_KEY] = next(t.label for t in at.tabs if t.label.endswith(name))
    return at.run()


def open_panels(at):
    """Open every sidebar panel and rerun: a closed panel's widgets are not drawn."""
    from lrviz.panels import PANELS

    for panel in PANELS:
        at.session_state[f"panel.{panel.section}"] = True
    return at.run()
