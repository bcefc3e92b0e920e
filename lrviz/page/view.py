"""How the charts are drawn (the sidebar's Charts panel): not part of the experiment."""
from __future__ import annotations

import math

import streamlit as st

from lrviz import figures

VIEW = {"p.log_y": False, "p.adam": False, "p.smooth": 0.6, "p.x": "step"}  # chart options, their defaults


def view(name: str):
    """A chart option. Its widget, bound to the URL, is drawn in the sidebar after the main area:
    on a link's first run the main area reads the link's value here, as the widget will."""
    if name in st.session_state:
        return st.session_state[name]
    default, text = VIEW[name], st.query_params.get(name)
    if text is None:
        return default
    if isinstance(default, bool):
        return {"true": True, "false": False}.get(text, default)
    if isinstance(default, float):
        try:
            value = float(text)
        except ValueError:
            return default
        return min(max(value, 0.0), 0.99) if math.isfinite(value) else default
    return text if text in figures.X_AXES else default


def run_figures(traces) -> tuple:
    """The four run charts drawn as the Charts panel says: rate, loss, metric, inside the optimizer."""
    log_y, x, smoothing = view("p.log_y"), view("p.x"), view("p.smooth")
    return (figures.lr_figure(traces, log_y, x), figures.loss_figure(traces, log_y, x, smoothing),
            figures.metric_figure(traces, x if x != "step" else "epoch"), figures.inside_figure(traces, x))
