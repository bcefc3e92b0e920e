"""Plotly figures from curves and runs, downsampled for display.

Every trace shown on the page is cut to at most MAX_POINTS points with MinMaxLTTB, so a
figure costs the same at step 100 and at step 100,000; downloads use the exact arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from tsdownsample import MinMaxLTTBDownsampler

MAX_POINTS = 2000
MAX_EPOCH_LINES = 40
COLORS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
_DOWNSAMPLER = MinMaxLTTBDownsampler()
_TEMPLATE = pio.templates["plotly_white"]  # the object: a name would need validation to resolve


def downsample(x, y, n: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most n points that keep the shape (peaks and dips) of y over a sorted x.

    Non-finite values are dropped first: Plotly cannot draw them and they break LTTB.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(y)
    if not keep.all():
        x, y = x[keep], y[keep]
    if len(x) > n:
        index = _DOWNSAMPLER.downsample(np.ascontiguousarray(x), np.ascontiguousarray(y), n_out=n)
        x, y = x[index], y[index]
    if len(x) and x[-1] < 2**31 and np.all(x == np.floor(x)):
        x = x.astype(np.int32)  # steps: half the bytes on the wire
    return x, y


def adam_step_size(step, lr, beta_1: float, beta_2: float) -> np.ndarray:
    """Adam's bias-corrected step size lr·sqrt(1−β2^t)/(1−β1^t), with t = step + 1."""
    t = np.asarray(step, dtype=np.float64) + 1.0
    with np.errstate(all="ignore"):
        return np.asarray(lr) * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)


@dataclass
class Curve:
    """One learning-rate curve to draw: per-step arrays as schedules.curve returns them."""

    label: str
    step: np.ndarray
    lr: np.ndarray
    dash: str = "solid"


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """A Figure from plain trace and layout dicts, without Plotly's per-property validation.

    Validation (and above all assigning a template by name) costs ~20 ms a figure; the live
    view redraws three figures a second per session on the server's one GIL. The dicts below
    are fixed, known-good shapes, and the template is Plotly's own object, so nothing is lost.
    """
    return go.Figure(data=traces, layout=layout, _validate=False)


def _layout(title: str, ytitle: str, log_y: bool = False, height: int = 420) -> dict:
    return dict(
        title=dict(text=title, x=0.01, font=dict(size=15)), height=height,
        margin=dict(l=60, r=20, t=70, b=80), hovermode="x unified", template=_TEMPLATE,
        legend=dict(orientation="h", yanchor="top", y=-0.22, x=0.0, xanchor="left"),
        xaxis=dict(title=dict(text="optimizer step (batches)")),
        yaxis=dict(title=dict(text=ytitle), type="log" if log_y else "linear", exponentformat="power"),
    )


def _epoch_lines(layout: dict, total_steps: int, steps_per_epoch: int) -> dict:
    """Dotted lines at epoch starts (at most MAX_EPOCH_LINES, evenly thinned), labelled on top."""
    epochs = -(-total_steps // max(steps_per_epoch, 1))
    if epochs <= 1:
        return layout
    every = max(1, -(-epochs // MAX_EPOCH_LINES))
    shapes, notes = [], []
    for e in range(every, epochs, every):
        x = e * steps_per_epoch  # the first step of epoch e, where a per-epoch change shows
        shapes.append(dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                           line=dict(color="rgba(100,116,139,0.35)", width=1, dash="dot")))
        notes.append(dict(x=x, y=1.0, xref="x", yref="paper", text=f"epoch {e}", showarrow=False,
                          yanchor="bottom", font=dict(size=9, color="#64748b"), textangle=-90))
    layout.update(shapes=shapes, annotations=notes if len(notes) <= 20 else notes[:: -(-len(notes) // 20)])
    return layout


def _line(x, y, name, color, dash="solid", hover="%{y:.4g}", shape="linear") -> dict:
    xs, ys = downsample(x, y)
    return dict(type="scatter", x=xs, y=ys, name=_escape(name), mode="lines",
                line=dict(color=color, dash=dash, width=2, shape=shape),
                hovertemplate=hover + "<extra>" + _escape(name) + "</extra>")


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def preview_figure(curves: list[Curve], steps_per_epoch: int, log_y: bool = False,
                   adam: tuple[float, float] | None = None, title: str = "Learning rate per optimizer step",
                   total_steps: int | None = None):
    """The instant preview: each curve per step, epoch boundaries, and optionally Adam's
    bias-corrected step size for the first curve (adam = (beta_1, beta_2))."""
    traces = []
    for i, c in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        # "hv": a rate holds for its whole step, so epoch-wise drops show as steps, not ramps.
        traces.append(_line(c.step, c.lr, c.label, color, c.dash, shape="hv"))
        if adam is not None and i == 0:
            alpha = adam_step_size(c.step, c.lr, *adam)
            traces.append(_line(c.step, alpha, "Adam step size α_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ)", color, "dot"))
    total = total_steps or max((len(c.step) for c in curves), default=0)
    return _figure(traces, _epoch_lines(_layout(title, "learning rate", log_y), total, steps_per_epoch))


def _empty() -> dict[str, np.ndarray]:
    return {}


@dataclass
class RunTrace:
    """A run's metrics as column arrays, grown by the rows the store has not sent yet.

    Kept per run in the page's session state: a live refresh asks the store only for rows
    after last_step / last_epoch and appends them.
    """

    label: str
    steps_per_epoch: int = 1
    metric: str | None = None  # accuracy or mae; None until the run has loaded its data
    steps: dict[str, np.ndarray] = field(default_factory=_empty)
    epochs: dict[str, np.ndarray] = field(default_factory=_empty)

    STEP_COLUMNS = ("step", "epoch", "learning_rate", "loss")
    EPOCH_COLUMNS = ("epoch", "learning_rate", "loss", "val_loss", "metric", "wall_time")

    @property
    def last_step(self) -> int:
        s = self.steps.get("step")
        return int(s[-1]) if s is not None and len(s) else -1

    @property
    def last_epoch(self) -> int:
        e = self.epochs.get("epoch")
        return int(e[-1]) if e is not None and len(e) else -1

    def extend_steps(self, rows) -> int:
        return _extend(self.steps, columns(rows, self.STEP_COLUMNS))

    def extend_epochs(self, rows) -> int:
        return _extend(self.epochs, columns(rows, self.EPOCH_COLUMNS))


def _extend(into: dict, new: dict) -> int:
    n = len(next(iter(new.values()))) if new else 0
    if n:
        for k, v in new.items():
            into[k] = np.concatenate([into[k], v]) if k in into else v
    return n


def columns(rows, names) -> dict[str, np.ndarray]:
    """Float column arrays from store rows: dicts, sequences in `names` order, a dict of
    lists, or a DataFrame. Missing values become NaN."""
    if rows is None:
        return {}
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a DataFrame
        rows = {c: rows[c].to_numpy() for c in rows.columns}
    if isinstance(rows, dict):
        return {k: _floats(v) for k, v in rows.items() if k in names}
    rows = list(rows)
    if not rows:
        return {}
    if isinstance(rows[0], dict) or hasattr(rows[0], "keys"):
        keys = [k for k in names if k in rows[0].keys()]
        return {k: _floats([r[k] for r in rows]) for k in keys}
    width = len(rows[0])
    return {k: _floats([r[i] for r in rows]) for i, k in enumerate(names[:width])}


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64) \
        if not isinstance(values, np.ndarray) else values.astype(np.float64)


def _epoch_end_step(trace: RunTrace) -> np.ndarray:
    # An epoch's metrics belong to its last step, so they line up with the per-step traces.
    return (trace.epochs["epoch"] + 1.0) * trace.steps_per_epoch - 1.0


def lr_figure(traces: list[RunTrace], log_y: bool = False, title: str = "Learning rate the optimizer applied"):
    lines = [_line(t.steps["step"], t.steps["learning_rate"], t.label, COLORS[i % len(COLORS)], shape="hv")
             for i, t in enumerate(traces) if "learning_rate" in t.steps]
    layout = _layout(title, "learning rate", log_y)
    if len(traces) == 1:
        _epoch_lines(layout, traces[0].last_step + 1, traces[0].steps_per_epoch)
    return _figure(lines, layout)


def loss_figure(traces: list[RunTrace], log_y: bool = False, title: str = "Loss"):
    """Per-step training loss (thin) and per-epoch validation loss (markers) on one step axis."""
    lines = []
    for i, t in enumerate(traces):
        color = COLORS[i % len(COLORS)]
        if "loss" in t.steps:
            lines.append(_line(t.steps["step"], t.steps["loss"], f"{t.label}: loss (per step)", color))
        if "val_loss" in t.epochs and np.isfinite(t.epochs["val_loss"]).any():
            x, y = downsample(_epoch_end_step(t), t.epochs["val_loss"])
            lines.append(dict(type="scatter", x=x, y=y, name=_escape(f"{t.label}: val_loss (per epoch)"),
                              mode="lines+markers", line=dict(color=color, dash="dash", width=2),
                              marker=dict(size=6), hovertemplate="%{y:.4g}<extra>val_loss</extra>"))
    return _figure(lines, _layout(title, "loss (training objective)", log_y))


METRIC_TITLES = {"accuracy": "accuracy (fraction correct)", "mae": "mean absolute error"}


def metric_figure(traces: list[RunTrace], title: str = "Metric per epoch"):
    lines = []
    names = set()
    for i, t in enumerate(traces):
        if "metric" in t.epochs and len(t.epochs["metric"]):
            names.add(t.metric or "metric")
            x, y = downsample(t.epochs["epoch"] + 1.0, t.epochs["metric"])
            lines.append(dict(type="scatter", x=x, y=y, name=_escape(f"{t.label}: {t.metric or 'metric'}"),
                              mode="lines+markers", line=dict(color=COLORS[i % len(COLORS)], width=2),
                              hovertemplate="%{y:.4g}<extra></extra>"))
    ytitle = METRIC_TITLES.get(names.pop(), "metric") if len(names) == 1 else "metric"
    layout = _layout(title, ytitle)
    layout["xaxis"] = dict(title=dict(text="epochs completed"))
    return _figure(lines, layout)


def preview(cfg: dict, steps_per_epoch: int, compare: dict | None = None, log_y: bool = False,
            adam_step: bool = False):
    """What the page's preview draws for a validated config: (figure, per-step columns).

    This is the one call app.py makes on every change (the benchmark times it too). The
    columns hold every step, exactly (config.MAX_STEPS bounds a run); the figure is downsampled.
    """
    from .schedules import FAMILIES, Timeline, curve_on, family_id

    spe = steps_per_epoch
    total = cfg["training"]["epochs"] * spe
    timeline = Timeline.of(cfg["training"]["epochs"], spe)
    step = timeline.step
    lr = curve_on(cfg["schedule"], timeline)
    label = FAMILIES[family_id(cfg["schedule"])].label
    curves = [Curve(label, step, lr)]
    columns = {"step": step.astype(np.int64), "epoch": timeline.epoch.astype(np.int64), "learning_rate": lr}
    if compare is not None:
        other = curve_on(compare, timeline)
        curves.append(Curve("compare: " + FAMILIES[family_id(compare)].label, step, other, "dash"))
        columns["compare_learning_rate"] = other
    opt = cfg["optimizer"]
    adam = (opt["beta_1"], opt["beta_2"]) if adam_step else None
    if adam:
        columns["adam_step_size"] = adam_step_size(step, lr, *adam)
    return preview_figure(curves, spe, log_y, adam, total_steps=total), columns


def epoch_starts(cfg: dict, steps_per_epoch: int) -> dict:
    """The rate at the first step of every epoch, exact for any run length."""
    from .schedules import Timeline, curve_on

    epochs = cfg["training"]["epochs"]
    step = np.arange(epochs, dtype=np.float64) * steps_per_epoch
    timeline = Timeline(step, np.arange(epochs, dtype=np.float64), steps_per_epoch, epochs * steps_per_epoch)
    return {"epoch": np.arange(epochs), "step": step.astype(np.int64),
            "learning_rate": curve_on(cfg["schedule"], timeline)}
