"""Plotly figures from curves and runs, downsampled for display.

Every trace shown on the page is cut to at most MAX_POINTS points with MinMaxLTTB, so a
figure costs the same at step 100 and at step 100,000; downloads use the exact arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import math

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from tsdownsample import MinMaxLTTBDownsampler

from . import adam as adammath
from .experiments.stats import smooth
from .store import EPOCH_COLUMNS, STEP_COLUMNS

MAX_POINTS = 2000
MAX_EPOCH_LINES = 40
COLORS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
_DOWNSAMPLER = MinMaxLTTBDownsampler()
_TEMPLATE = pio.templates["plotly_white"]  # the object: a name would need validation to resolve


def downsample(x, y, n: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most n points that keep the shape (peaks and dips) of y over a sorted x.

    Non-finite values are dropped first: Plotly cannot draw them and they break LTTB.
    """
    index = keep_index(x, y, n)
    return _compact(np.asarray(x, dtype=np.float64)[index]), np.asarray(y, dtype=np.float64)[index]


@dataclass
class Curve:
    """One learning-rate curve to draw: per-step arrays as schedules.curve returns them."""

    label: str
    step: np.ndarray
    lr: np.ndarray
    dash: str = "solid"


def _figure(traces: list[dict], layout: dict, flat: float = 1e-3) -> go.Figure:
    """A Figure from plain trace and layout dicts, without Plotly's per-property validation.

    Validation (and above all assigning a template by name) costs ~20 ms a figure; the live
    view redraws three figures a second per session on the server's one GIL. The dicts below
    are fixed, known-good shapes, and the template is Plotly's own object, so nothing is lost.
    """
    _frame_flat(layout, traces, flat)
    _room_for_legend(layout, traces)
    return go.Figure(data=traces, layout=layout, _validate=False)


def _room_for_legend(layout: dict, traces: list[dict]) -> None:
    """Runs' legend groups sit side by side until a row is full (about 1,000 px), then below:
    each further row makes the figure taller, so the plot keeps its height."""
    titles = {t["legendgroup"]: t["legendgrouptitle"]["text"] for t in traces if "legendgrouptitle" in t}
    if len(titles) > 1 and "height" in layout:
        width = sum(40 + 7 * max(len(text), 24) for text in titles.values())  # px at the legend's font
        layout["height"] += 90 * (math.ceil(width / 1000) - 1)


# Traces whose values vary by less than this share of their size are drawn around their value.
# A rate that moves by 0.5 % is flat for what it does to training; Plotly would stretch it over
# the whole axis, a cliff. Losses keep their detail down to 0.1 %.
FLAT_RATE = 0.05


def _frame_flat(layout: dict, traces: list[dict], flat: float) -> None:
    """Plotly frames a constant trace as its value ± 1: a rate of 1e-3 is drawn on a −1…1
    axis and looks like 0. A flat or nearly flat set of traces gets an axis around its value."""
    ys = [np.asarray(t["y"], dtype=np.float64) for t in traces
          if t.get("type", "scatter") == "scatter" and t.get("y") is not None and len(t["y"])]  # a heatmap's are labels
    values = np.concatenate(ys) if ys else np.empty(0)
    values = values[np.isfinite(values)]
    if not len(values):
        return
    low, high = float(values.min()), float(values.max())
    size = max(abs(low), abs(high))
    if size == 0 or high - low > flat * size:
        return
    axis = layout.setdefault("yaxis", {})
    if axis.get("type") == "log" and low > 0:
        axis["range"] = [np.log10(low) - 0.3, np.log10(high) + 0.3]  # half a decade around it
    else:
        middle = (low + high) / 2
        axis["range"] = [middle - 0.5 * size, middle + 0.5 * size]


def _layout(title: str, ytitle: str, log_y: bool = False, height: int = 420,
            xtitle: str = "optimizer step (batches)") -> dict:
    return dict(
        title=dict(text=title, x=0.01, font=dict(size=15)), height=height,
        margin=dict(l=60, r=20, t=70, b=80), hovermode="x unified", template=_TEMPLATE,
        # Under the plot, from the figure's bottom edge: a tall legend then pushes the plot up
        # instead of covering the x axis's title.
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0.0, x=0.0, xanchor="left",
                    groupclick="toggleitem"),
        xaxis=dict(title=dict(text=xtitle)),
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


def _marks(layout: dict, marks: list[tuple[float, str]]) -> None:
    """Red dashed lines where the schedule and the run disagree (coverage notes), labelled."""
    for x, text in marks:
        layout.setdefault("shapes", []).append(dict(
            type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
            line=dict(color="rgba(220,38,38,0.8)", width=1.5, dash="dash")))
        layout.setdefault("annotations", []).append(dict(
            x=x, y=0.5, xref="x", yref="paper", text=_escape(text), showarrow=False, xanchor="right",
            textangle=-90, font=dict(size=10, color="#dc2626")))


def _line(x, y, name, color, dash="solid", hover="%{y:.4g}", shape="linear", extra=None, **style) -> dict:
    """A line, downsampled; `extra` (columns of the same length) goes to customdata for hover."""
    index = keep_index(x, y)
    xs, ys = _compact(np.asarray(x, dtype=np.float64)[index]), np.asarray(y, dtype=np.float64)[index]
    out = dict(type="scatter", x=xs, y=ys, name=_escape(name), mode=style.pop("mode", "lines"),
               line=dict(color=color, dash=dash, width=style.pop("width", 2), shape=shape),
               hovertemplate=hover + "<extra>" + _escape(name) + "</extra>", **style)
    if extra is not None:
        out["customdata"] = _compact_2d(np.column_stack([np.asarray(c, dtype=np.float64)[index] for c in extra]))
    return out


def _compact_2d(a: np.ndarray) -> np.ndarray:
    """Whole numbers (steps, epochs) as int32: half the bytes of the hover data on the wire."""
    if a.size and np.all(np.isfinite(a)) and np.all(a == np.floor(a)) and np.abs(a).max() < 2**31:
        return a.astype(np.int32)
    return a


def keep_index(x, y, n: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most n points that keep the shape of y over a sorted x (finite only)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    index = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(index) > n:
        picked = _DOWNSAMPLER.downsample(np.ascontiguousarray(x[index]), np.ascontiguousarray(y[index]), n_out=n)
        index = index[picked]
    return index


def _compact(x: np.ndarray) -> np.ndarray:
    if len(x) and x[-1] < 2**31 and np.all(x == np.floor(x)):
        return x.astype(np.int32)  # steps: half the bytes on the wire
    return x


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def preview_figure(curves: list[Curve], steps_per_epoch: int, log_y: bool = False,
                   adam: tuple[str, np.ndarray] | None = None, title: str = "Learning rate per optimizer step",
                   total_steps: int | None = None, marks: list[tuple[float, str]] = ()):
    """The instant preview: each curve per step, epoch boundaries, and optionally the
    optimizer's step size at the first curve's steps (adam = (label, values): adam.optimizer_step_size);
    `marks` are (step, label) where the schedule and the run disagree."""
    traces = []
    for i, c in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        epoch = np.floor(np.asarray(c.step, dtype=np.float64) / steps_per_epoch)
        # "hv": a rate holds for its whole step, so epoch-wise drops show as steps, not ramps.
        traces.append(_line(c.step, c.lr, c.label, color, c.dash, shape="hv", extra=[epoch],
                            hover="%{y:.4g} (epoch %{customdata[0]})"))
        if adam is not None and i == 0:
            traces.append(_line(c.step, adam[1], adam[0], color, "dot"))
    total = total_steps or max((len(c.step) for c in curves), default=0)
    layout = _epoch_lines(_layout(title, "learning rate", log_y), total, steps_per_epoch)
    _marks(layout, list(marks))
    return _figure(traces, layout, FLAT_RATE)


WARMUP_VIEW_MAX = 200_000  # steps: a β₂ within 2e-5 of 1 warms up longer than this view


def warmup_figure(beta_2: float, step, lr):
    """Why warmup helps Adam early on: RAdam's rectification r_t and Ma & Yarats's untuned
    linear warmup over 2/(1−β₂) steps, for this β₂, beside the schedule's own rate ÷ its peak,
    over the first 4/(1−β₂) steps (where r_t has reached ~0.95) or the run if shorter."""
    lr = np.asarray(lr, dtype=np.float64)
    n = min(math.ceil(4.0 / (1.0 - beta_2)), WARMUP_VIEW_MAX)
    axis = np.arange(n)
    peak = lr.max() if len(lr) and lr.max() > 0 else 1.0
    x, rect = downsample(axis, adammath.rectification(axis, beta_2))
    wx, warm = downsample(axis, adammath.untuned_warmup(axis, beta_2))
    sx, own = downsample(np.asarray(step)[:n], lr[:n] / peak)
    traces = [_line(x, rect, "RAdam's rectification r_t (none while RAdam takes no adaptive step)", COLORS[0]),
              _line(wx, warm, f"linear warmup over 2/(1−β₂) = {2 / (1 - beta_2):,.0f} steps", COLORS[1], "dash"),
              _line(sx, own, "your schedule ÷ its peak", COLORS[2], "dot", shape="hv")]
    layout = _layout(f"Adam's first {n:,} steps with β₂ = {beta_2:g}: how far to trust its adaptive step",
                     "factor on the rate")
    layout["yaxis"]["range"] = [0.0, 1.05]
    return _figure(traces, layout)


def _empty() -> dict[str, np.ndarray]:
    return {}


@dataclass
class RunTrace:
    """A run's metrics as column arrays.

    steps holds every step while width is 1; a longer run is read from its summary (lrviz.traces):
    steps then holds each bucket of `width` steps as two points, its lowest and highest value at
    its first and last step, and means its mean loss at its middle step.
    """

    label: str
    steps_per_epoch: int = 1
    metric: str | None = None  # accuracy or mae; None until the run has loaded its data
    steps: dict[str, np.ndarray] = field(default_factory=_empty)
    epochs: dict[str, np.ndarray] = field(default_factory=_empty)
    total_steps: int | None = None  # planned; None when unknown
    run_id: int | None = None
    width: int = 1  # steps per point pair in `steps`
    means: dict[str, np.ndarray] = field(default_factory=_empty)  # step, epoch, wall_time, loss
    inside: dict[str, np.ndarray] = field(default_factory=_empty)  # store.INSIDE_READ: the optimizer's measures

    @property
    def last_step(self) -> int:
        s = self.steps.get("step")
        return int(s[-1]) if s is not None and len(s) else -1

    @property
    def last_epoch(self) -> int:
        e = self.epochs.get("epoch")
        return int(e[-1]) if e is not None and len(e) else -1

    @property
    def metric_name(self) -> str:
        return self.metric or "metric"

    def extend_steps(self, rows) -> int:
        return _extend(self.steps, columns(rows, STEP_COLUMNS))

    def extend_epochs(self, rows) -> int:
        return _extend(self.epochs, columns(rows, EPOCH_COLUMNS))


def _extend(into: dict, new: dict) -> int:
    n = len(next(iter(new.values()))) if new else 0
    if n:
        for k, v in new.items():
            into[k] = np.concatenate([into[k], v]) if k in into else v
    return n


def columns(rows: dict, names) -> dict[str, np.ndarray]:
    """Float column arrays from the store's column dicts ({name: list}), only those in `names`.
    Missing values (None) become NaN."""
    return {k: _floats(v) for k, v in (rows or {}).items() if k in names}


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64) \
        if not isinstance(values, np.ndarray) else values.astype(np.float64)


# ---- what the run charts put on x -----------------------------------------------------------
X_AXES = {"step": "optimizer step (batches)", "epoch": "epochs completed",
          "fraction": "fraction of training", "wall_time": "wall time (s since training began)"}


def _step_x(t: RunTrace, x: str, rows: dict | None = None) -> np.ndarray:
    """x of per-step rows (t.steps unless given, e.g. t.means)."""
    rows = t.steps if rows is None else rows
    step = rows["step"]
    if x == "epoch":
        return (step + 1.0) / t.steps_per_epoch
    if x == "fraction":
        return (step + 1.0) / (t.total_steps or max(t.last_step + 1, 1))
    if x == "wall_time":
        return rows.get("wall_time", np.full(len(step), np.nan))
    return step


def _epoch_x(t: RunTrace, x: str) -> np.ndarray:
    done = t.epochs["epoch"] + 1.0  # an epoch's metrics belong to its end
    if x == "epoch":
        return done
    if x == "fraction":
        return done * t.steps_per_epoch / (t.total_steps or max(t.last_step + 1, 1))
    if x == "wall_time":
        return t.epochs.get("wall_time", np.full(len(done), np.nan))
    return done * t.steps_per_epoch - 1.0  # the epoch's last step


STEP_HOVER = "%{y:.4g}<br>step %{customdata[0]:,}, epoch %{customdata[1]}"


def _step_extra(t: RunTrace, rows: dict | None = None) -> list:
    rows = t.steps if rows is None else rows
    return [rows["step"], rows.get("epoch", np.floor(rows["step"] / t.steps_per_epoch))]


def _epoch_extra(t: RunTrace) -> list:
    return [(t.epochs["epoch"] + 1.0) * t.steps_per_epoch - 1.0, t.epochs["epoch"]]


def _group(t: RunTrace) -> dict:
    """Each run is one legend group titled with its name: the title hides or shows the whole
    run, an item one line. Grouped by id: two runs may share a name."""
    return dict(legendgroup=str(t.run_id if t.run_id is not None else _escape(t.label)),
                legendgrouptitle=dict(text=_escape(t.label)))


def _darker(color: str, by: float = 0.45) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{int(c * (1 - by)):02x}" for c in (r, g, b))


VAL_COLOR = "#ea580c"  # validation in its own colour: orange beside the run's blue


def _colors(i: int, several: bool) -> tuple[str, str]:
    """(training, validation) colours of run i: for one run two hues, for several the run's
    hue and a darker shade of it, so that runs stay apart."""
    color = COLORS[i % len(COLORS)]
    return color, (_darker(color) if several else VAL_COLOR)


def lr_figure(traces: list[RunTrace], log_y: bool = False, x: str = "step",
              title: str = "Learning rate the optimizer applied"):
    lines = [_line(_step_x(t, x), t.steps["learning_rate"],
                   "learning_rate" + (f" (lowest and highest of each {t.width:,} steps)" if t.width > 1 else ""),
                   COLORS[i % len(COLORS)], shape="hv",
                   extra=_step_extra(t), hover=STEP_HOVER, **_group(t))
             for i, t in enumerate(traces) if "learning_rate" in t.steps]
    layout = _layout(title, "learning rate", log_y, xtitle=X_AXES[x])
    if len(traces) == 1 and x == "step":
        _epoch_lines(layout, traces[0].last_step + 1, traces[0].steps_per_epoch)
    return _figure(lines, layout, FLAT_RATE)


def loss_figure(traces: list[RunTrace], log_y: bool = False, x: str = "step", smoothing: float = 0.0,
                title: str = "Loss"):
    """Per-step training loss, smoothed as TensorBoard does with the raw values faint beneath,
    and per-epoch val_loss in its own colour, on one x axis."""
    several = len(traces) > 1
    lines = []
    for i, t in enumerate(traces):
        color, val_color = _colors(i, several)
        group = _group(t)
        if t.width > 1 and "loss" in t.means and len(t.means["loss"]):
            lines += _summarised_loss(t, x, smoothing, color, group)
        elif "loss" in t.steps and len(t.steps["loss"]):
            sx, extra = _step_x(t, x), _step_extra(t)
            if smoothing > 0:  # its hover shows the raw value; the smoothed line's, step and epoch
                lines.append(_line(sx, t.steps["loss"], "loss (raw)", color, width=1, opacity=0.25, **group))
            name = f"loss (smoothed {smoothing:g})" if smoothing > 0 else "loss"
            lines.append(_line(sx, smooth(t.steps["loss"], smoothing), name, color, extra=extra,
                               hover=STEP_HOVER, **group))
        at_y = _has(t.epochs, "val_loss_at_y")
        for column, name, dash in (("val_loss", "val_loss at the average x" if at_y else "val_loss", "solid"),
                                   ("val_loss_at_y", "val_loss at the training weights y", "dot")):
            if _has(t.epochs, column):
                lines.append(_line(_epoch_x(t, x), t.epochs[column], name, val_color, dash,
                                   extra=_epoch_extra(t), hover=STEP_HOVER, mode="lines+markers",
                                   marker=dict(size=6), **group))
    return _figure(lines, _layout(title, "loss (training objective)", log_y, xtitle=X_AXES[x]))


def _has(columns: dict, name: str) -> bool:
    return name in columns and np.isfinite(columns[name]).any()


def _summarised_loss(t: RunTrace, x: str, smoothing: float, color: str, group: dict) -> list[dict]:
    """A long run's loss from its summary: each bucket's range faint, its mean bold. Smoothing
    by w per step is w**width per bucket: the EMA of the bucket means, as the exact one would
    weigh a bucket-long stretch of steps."""
    w = t.width
    name = f"loss (mean of each {w:,} steps" + (f", smoothed {smoothing:g})" if smoothing > 0 else ")")
    return [_line(_step_x(t, x), t.steps["loss"], f"loss (lowest and highest of each {w:,} steps)", color,
                  width=1, opacity=0.25, **group),
            _line(_step_x(t, x, t.means), smooth(t.means["loss"], smoothing ** w), name, color,
                  extra=_step_extra(t, t.means), hover=STEP_HOVER, **group)]


METRIC_TITLES = {"accuracy": "accuracy (fraction correct)", "mae": "mean absolute error"}


def metric_figure(traces: list[RunTrace], x: str = "epoch", title: str | None = None):
    """The training metric and its validation twin per epoch, each named for what it is."""
    several = len(traces) > 1
    lines, names = [], set()
    for i, t in enumerate(traces):
        color, val_color = _colors(i, several)
        name = t.metric_name
        names.add(name)
        at_y = _has(t.epochs, "val_metric_at_y")
        for column, shown, c, dash in (("metric", name, color, "solid"),
                                       ("val_metric", f"val_{name}" + (" at the average x" if at_y else ""),
                                        val_color, "solid"),
                                       ("val_metric_at_y", f"val_{name} at the training weights y", val_color, "dot")):
            if _has(t.epochs, column):
                lines.append(_line(_epoch_x(t, x), t.epochs[column], shown, c, dash, extra=_epoch_extra(t),
                                   hover=STEP_HOVER, mode="lines+markers", marker=dict(size=6), **_group(t)))
    one = names.pop() if len(names) == 1 else None
    layout = _layout(title or f"{one or 'metric'} per epoch", METRIC_TITLES.get(one, "metric"),
                     xtitle=X_AXES[x])
    return _figure(lines, layout)


INSIDE_ROWS = (  # the inside figure's rows, top to bottom: (y axis title, log scale)
    ("‖Δθ‖ / ‖θ‖ per layer", True), ("step |Δθ| per parameter", True), ("gradient norm", True),
    ("bias correction", False))
STEP_PARTS = (("step_median", "median"), ("step_p90", "90th percentile"), ("step_max", "largest"))
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def inside_figure(traces: list[RunTrace], x: str = "step", title: str = "Inside the optimizer, step by step"):
    """What the optimizer did at every step (lrviz.inside, read as Store.inside gives it): each
    layer's update-to-weight ratio, the median, 90th percentile and largest per-parameter step,
    the gradient's norm and the bias correction on the rate, in four rows over one x axis. One
    run: a colour per line; several: a colour per run, a dash per line."""
    several, lines = len(traces) > 1, []
    for i, t in enumerate(traces):
        rows = t.inside
        if not len(rows.get("step", ())):
            continue
        sx, group = _step_x(t, x, rows), _group(t)
        layers = [c for c in rows if c.startswith("update_ratio_") and np.isfinite(rows[c]).any()]
        parts = [(c, f"layer {c.rsplit('_', 1)[1]}" + (" (output)" if c == layers[-1] else ""), 1)
                 for c in layers] + [(c, f"step |Δθ|: {name}", 2) for c, name in STEP_PARTS] + \
                [("grad_norm", "gradient norm", 3), ("bias_correction", "bias correction on the rate", 4)]
        row_count = {}
        for column, name, row in parts:
            j = row_count[row] = row_count.get(row, -1) + 1
            color, dash = (COLORS[i % len(COLORS)], DASHES[j % len(DASHES)]) if several else \
                (COLORS[j % len(COLORS)], "solid")
            lines.append(_line(sx, rows[column], name, color, dash, yaxis=f"y{'' if row == 1 else row}",
                               width=1.5, **group))
    layout = _layout(title, INSIDE_ROWS[0][0], INSIDE_ROWS[0][1], height=900, xtitle=X_AXES[x])
    gap, share = 0.04, 1.0 / len(INSIDE_ROWS)
    for r, (name, log) in enumerate(INSIDE_ROWS):
        axis = layout["yaxis"] if r == 0 else {}
        axis.update(title=dict(text=name), type="log" if log else "linear", exponentformat="power",
                    domain=[1 - (r + 1) * share + gap / 2, 1 - r * share - gap / 2])
        if r:
            axis["anchor"] = "x"
            layout[f"yaxis{r + 1}"] = axis
    layout["xaxis"]["anchor"] = f"y{len(INSIDE_ROWS)}"
    return _figure(lines, layout)


CLASS_COLORS = ("#f59322", "#0877bd")  # TensorFlow Playground's: class 0 orange, class 1 blue
CLASS_SCALE = [[0.0, CLASS_COLORS[0]], [0.5, "#e8eaeb"], [1.0, CLASS_COLORS[1]]]


def view_figure(frames: list[tuple[int, np.ndarray]], extent: tuple, x: np.ndarray, y: np.ndarray, task: str,
                title: str = "The model's view, epoch by epoch"):
    """What the model predicted over its inputs after each epoch, with the data points: for two
    features a map over the plane (the probability of class 1; the most likely class, for more
    classes; the predicted value, for regression), for one feature a curve along it; an epoch
    slider and a play button, as TensorFlow Playground shows it. frames: (epoch, predictions
    [grid points, outputs]) in epoch order, on model_view's grid of `extent`."""
    from . import model_view

    axes = model_view.Grid(tuple(extent), np.empty((0, 1))).axes
    regression = task == "regression"
    span = (float(np.min(y)), float(np.max(y))) if regression and len(y) else (0.0, 1.0)

    def drawn(values: np.ndarray) -> dict:
        if len(axes) == 1:
            several = values.shape[1] > 1
            name = "the model's fitted curve" if regression else "predicted class" if several else "P(class 1)"
            return dict(type="scatter", x=axes[0], y=values.argmax(axis=1) if several else values[:, 0],
                        mode="lines", name=name, line=dict(color=COLORS[0], width=3),
                        hovertemplate="x %{x:.3g}: %{y:.4g}<extra></extra>")
        shape = (len(axes[1]), len(axes[0]))
        if regression:
            z, name, scale, low, high = values[:, 0], "prediction", "Viridis", *span
        elif values.shape[1] == 1:
            z, name, scale, low, high = values[:, 0], "P(class 1)", CLASS_SCALE, 0.0, 1.0
        else:
            z, name, scale, low, high = values.argmax(axis=1), "predicted class", "Turbo", 0, values.shape[1] - 1
        return dict(type="heatmap", x=axes[0], y=axes[1], z=z.reshape(shape), zmin=low, zmax=high, colorscale=scale,
                    opacity=0.6, colorbar=dict(title=dict(text=name)), name=name,
                    hovertemplate="(%{x:.3g}, %{y:.3g}): " + name + " %{z:.3g}<extra></extra>")

    if len(axes) == 1:
        points = dict(type="scatter", x=x[:, 0], y=y, mode="markers", name="data", marker=dict(
            size=4, color="#64748b", opacity=0.5), hoverinfo="skip")
    else:
        if regression:
            marker = dict(color=y, colorscale="Viridis", cmin=span[0], cmax=span[1])
        elif len(y) and np.max(y) <= 1:
            marker = dict(color=[CLASS_COLORS[int(c)] for c in y])
        else:
            marker = dict(color=y, colorscale="Turbo")
        points = dict(type="scatter", x=x[:, 0], y=x[:, 1], mode="markers", name="data (training rows)",
                      marker=dict(size=5, line=dict(color="white", width=0.6), **marker), hoverinfo="skip")
    names = [str(epoch + 1) for epoch, _ in frames]
    layout = _layout(title, "prediction" if len(axes) == 1 else "feature 2", height=560, xtitle="feature 1")
    layout["hovermode"] = "closest"
    if frames:
        step = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
        # Plotly's own animation layout: the buttons left of the slider, both under the plot.
        layout["sliders"] = [dict(active=len(frames) - 1, currentvalue=dict(prefix="after epoch "),
                                  x=0.14, len=0.86, y=0.0, xanchor="left", yanchor="top", pad=dict(t=60),
                                  steps=[dict(label=n, method="animate", args=[[n], step]) for n in names])]
        layout["updatemenus"] = [dict(type="buttons", direction="left", x=0.13, y=0.0, xanchor="right",
                                      yanchor="top", pad=dict(t=95, r=10), showactive=False, buttons=[
            dict(label="▶ play", method="animate", args=[None, dict(frame=dict(duration=120, redraw=True),
                                                                     fromcurrent=True, transition=dict(duration=0))]),
            dict(label="❚❚ pause", method="animate", args=[[None], step])])]
        layout["margin"]["b"] = 170
    data = [drawn(frames[-1][1]) if frames else {}, points]
    fig = go.Figure(data=[d for d in data if d], layout=layout, _validate=False)
    fig.frames = [go.Frame(name=n, data=[drawn(v)], traces=[0]) for n, (_, v) in zip(names, frames)]
    return fig


def preview(cfg: dict, steps_per_epoch: int, compare: dict | None = None, log_y: bool = False,
            adam_step: bool = False, marks: list[tuple[float, str]] = ()):
    """What the page's preview draws for a validated config: (figure, per-step columns).

    This is the one call app.py makes on every change (the benchmark times it too). The
    columns hold every step, exactly (config.MAX_STEPS bounds a run); the figure is downsampled.
    marks: (step, label) of the schedule's coverage notes.
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
    adam = adammath.optimizer_step_size(step, lr, cfg["optimizer"]) if adam_step else None
    if adam:
        columns["adam_step_size"] = adam[1]
    return preview_figure(curves, spe, log_y, adam, total_steps=total, marks=marks), columns


def epoch_starts(cfg: dict, steps_per_epoch: int) -> dict:
    """The rate at the first step of every epoch, exact for any run length."""
    from .schedules import Timeline, curve_on

    epochs = cfg["training"]["epochs"]
    step = np.arange(epochs, dtype=np.float64) * steps_per_epoch
    timeline = Timeline(step, np.arange(epochs, dtype=np.float64), steps_per_epoch, epochs * steps_per_epoch)
    return {"epoch": np.arange(epochs), "step": step.astype(np.int64),
            "learning_rate": curve_on(cfg["schedule"], timeline)}
