"""Helpers for driving the page under Streamlit's AppTest (shared by several test files)."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TABS_KEY = "main.tab"


def open_tab(at, name: str):
    """Click the tab whose label ends with `name` and rerun: only the open tab is drawn."""
    at.session_state[TABS_KEY] = next(t.label for t in at.tabs if t.label.endswith(name))
    return at.run()


def as_host(at):
    """The session as the host (lrviz.visitors: admin) looking at everyone's runs: what it takes
    to rename or delete runs made outside the page."""
    at.session_state["visitor.admin"] = True
    at.session_state["runs.whose"] = "Everyone's"
    return at.run()


def open_panels(at):
    """Open every sidebar panel and rerun: a closed panel's widgets are not drawn."""
    from lrviz.panels import PANELS

    for panel in PANELS:
        at.session_state[f"panel.{panel.section}"] = True
    return at.run()


def app(query: dict | None = None) -> AppTest:
    """The page as a new visitor gets it, with every sidebar panel then opened."""
    at = AppTest.from_file(APP, default_timeout=30)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return open_panels(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def spec(at: AppTest, key: str = "preview.chart") -> dict:
    for chart in at.get("plotly_chart"):
        if chart.proto.id.endswith(key) or key in chart.proto.id:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart {key}: {[c.proto.id for c in at.get('plotly_chart')]}")


def ys(fig: dict, i: int = 0, axis: str = "y") -> np.ndarray:
    data = fig["data"][i][axis]
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).astype(float)
    return np.asarray(data, dtype=float)


def errors(at):
    """The page's errors as plain text (user text in them is Markdown-escaped)."""
    return " ".join(e.value for e in at.error).replace("\\", "")
