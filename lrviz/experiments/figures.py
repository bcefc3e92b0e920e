"""Figures of experiments: the range test's loss against rate with its suggestions, mean ± band
over seeds, a sweep's heatmap (or line, for one field) and its parallel coordinates."""
from __future__ import annotations

import numpy as np

from ..figures import COLORS, _escape, _figure, _layout, _line
from .range_test import Result
from .stats import Band
from .sweep import label, tick

SUGGESTION_COLORS = {"valley": "#059669", "steep": "#d97706", "minimum": "#7c3aed"}


def range_test_figure(result: Result, title: str = "LR range test: loss against learning rate"):
    """Raw loss faint, fastai's smoothed loss bold, on a log rate axis; a dashed line at each
    suggested rate (for minimum ÷ 10, a dot at the minimum too)."""
    lines = [_line(result.learning_rate, result.loss, "loss (raw)", COLORS[0], width=1, opacity=0.3,
                   hover="loss %{y:.4g} at rate %{x:.3g}"),
             _line(result.learning_rate, result.smoothed, "loss (smoothed 0.98)", COLORS[0],
                   hover="smoothed %{y:.4g} at rate %{x:.3g}")]
    layout = _layout(title, "loss", xtitle="learning rate (log scale)")
    layout["xaxis"].update(type="log", exponentformat="power")
    smooth = result.smoothed[np.isfinite(result.smoothed)]
    if len(smooth):  # the smoothed curve fills the frame; a raw spike is cut, as fastai plots the smoothed alone
        low, high = float(smooth.min()), float(smooth.max())
        layout["yaxis"]["range"] = [low - 0.05 * (high - low), high + 0.05 * (high - low)]
    layout["hovermode"] = "closest"
    for i, s in enumerate(result.suggestions):
        color = SUGGESTION_COLORS.get(s.name, COLORS[i + 1])
        layout.setdefault("shapes", []).append(dict(
            type="line", xref="x", yref="paper", x0=s.learning_rate, x1=s.learning_rate, y0=0, y1=1,
            line=dict(color=color, width=1.5, dash="dash")))
        layout.setdefault("annotations", []).append(dict(
            x=np.log10(s.learning_rate), y=1.0 - 0.08 * i, xref="x", yref="paper", xanchor="left",
            text=f" {s.name}: {s.learning_rate:.2g}", showarrow=False, font=dict(size=11, color=color)))
        lines.append(dict(type="scatter", x=[s.at], y=[s.loss], mode="markers", name=f"{s.name} ({s.learning_rate:.2g})",
                          marker=dict(color=color, size=9), hovertemplate=_escape(s.why) + "<extra></extra>"))
    return _figure(lines, layout)


def band_figure(groups: list[tuple[str, np.ndarray, Band]], title: str, ytitle: str, xtitle: str = "epoch",
                log_y: bool = False, band_name: str = "± 1 std"):
    """Each group's mean as a line over its band (a filled area). groups: (label, x, band)."""
    traces = []
    for i, (name, x, b) in enumerate(groups):
        color = COLORS[i % len(COLORS)]
        keep = np.isfinite(b.mean)
        xs, low, high = np.asarray(x, dtype=np.float64)[keep], b.low[keep], b.high[keep]
        r, g, bl = (int(color[j:j + 2], 16) for j in (1, 3, 5))
        traces.append(dict(type="scatter", x=np.concatenate([xs, xs[::-1]]), y=np.concatenate([high, low[::-1]]),
                           fill="toself", fillcolor=f"rgba({r},{g},{bl},0.18)", line=dict(width=0),
                           name=_escape(f"{name} {band_name}"), hoverinfo="skip", legendgroup=str(i)))
        traces.append(_line(xs, b.mean[keep], f"{name} (mean of {int(b.count.max(initial=0))})", color,
                            mode="lines+markers", marker=dict(size=5), legendgroup=str(i)))
    return _figure(traces, _layout(title, ytitle, log_y, xtitle=xtitle))


def sweep_figure(fields: list[str], cells: list[dict], measure: str):
    """A heatmap of the measure's mean over seeds for two fields, a line with ± std bars for one;
    the best cell outlined; a cell whose runs all diverged or failed shows its status."""
    if len(fields) == 1:
        return _sweep_line(fields[0], cells, measure)
    xs, ys = _axis([c["cell"][1] for c in cells]), _axis([c["cell"][0] for c in cells])
    z = np.full((len(ys), len(xs)), np.nan)
    text = [["" for _ in xs] for _ in ys]
    for c in cells:
        i, j = ys[label(c["cell"][0])], xs[label(c["cell"][1])]
        z[i, j] = c["mean"]
        text[i][j] = f"{c['mean']:.4g} ± {c['std']:.2g}" if c["n"] else c["status"]
    heat = dict(type="heatmap", x=_labels([c["cell"][1] for c in cells]), y=_labels([c["cell"][0] for c in cells]), z=z,
                text=text, texttemplate="%{text}", colorscale="Viridis", colorbar=dict(title=dict(text=measure)),
                hovertemplate=f"{_escape(fields[1])} = %{{x}}<br>{_escape(fields[0])} = %{{y}}<br>"
                              f"{measure} %{{text}}<extra></extra>")
    layout = _layout(f"{measure}, mean over seeds", _escape(fields[0]), xtitle=_escape(fields[1]))
    layout["hovermode"] = "closest"
    layout["xaxis"]["type"] = layout["yaxis"]["type"] = "category"
    top = best(cells)
    if top is not None:
        i, j = ys[label(top["cell"][0])], xs[label(top["cell"][1])]
        layout["shapes"] = [dict(type="rect", xref="x", yref="y", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                                 line=dict(color="#dc2626", width=3))]
        layout["annotations"] = [dict(text="best", x=j, y=i + 0.5, xref="x", yref="y", showarrow=False, yanchor="bottom",
                                      font=dict(color="#dc2626", size=12))]
    return _figure([heat], layout)


def _sweep_line(field: str, cells: list[dict], measure: str):
    xs = _labels([c["cell"][0] for c in cells])
    mean = np.array([c["mean"] for c in cells], dtype=np.float64)
    std = np.array([c["std"] for c in cells], dtype=np.float64)
    line = dict(type="scatter", x=xs, y=mean, mode="lines+markers", name=f"{measure} (mean ± std over seeds)",
                line=dict(color=COLORS[0]), error_y=dict(type="data", array=std, visible=True),
                text=[c["status"] for c in cells], hovertemplate="%{x}: %{y:.4g} (%{text})<extra></extra>")
    layout = _layout(f"{measure} against {_escape(field)}, mean over seeds", measure, xtitle=_escape(field))
    layout["xaxis"]["type"] = "category"
    layout["hovermode"] = "closest"
    traces = [line]
    top = best(cells)
    if top is not None:
        traces.append(dict(type="scatter", x=[xs[cells.index(top)]], y=[top["mean"]], mode="markers",
                           name="best", marker=dict(color="#dc2626", size=14, symbol="star")))
    return _figure(traces, layout)


def parallel_figure(cols: dict, fields: list[str], measure: str):
    """Every run as one line through its grid values, seed and measure, coloured by the measure.
    Grid values sit evenly in the grid's order, as on the heatmap (a grid of rates is geometric)."""
    dims = []
    for name in [*fields, "seed"]:
        values, ticks = cols[name], _labels(cols[name], width=28)
        place = _axis(values)
        dims.append(dict(label=_escape(name), values=[place[label(v)] for v in values],
                         tickvals=list(range(len(ticks))), ticktext=ticks))
    y = np.asarray([np.nan if v is None else v for v in cols[measure]], dtype=np.float64)
    dims.append(dict(label=measure, values=y))
    trace = dict(type="parcoords", dimensions=dims,
                 line=dict(color=np.nan_to_num(y, nan=np.nanmax(y) if np.isfinite(y).any() else 0.0),
                           colorscale="Viridis", showscale=True, colorbar=dict(title=dict(text=measure))))
    layout = _layout(f"Every run: settings, seed and {measure}", "")
    layout["margin"] = dict(l=160, r=60, t=90, b=40)  # category labels sit left of the first axis
    return _figure([trace], layout)


def _axis(values) -> dict[str, int]:
    """Each distinct value's place on an axis, in the grid's order (by value, never by label)."""
    return {k: i for i, k in enumerate(dict.fromkeys(label(v) for v in values))}


def _labels(values, width: int | None = None) -> list[str]:
    """Tick text of each distinct value, in the grid's order; labels that would coincide (two
    schedules of a family with one peak) are numbered; longer than width, the middle is cut
    (the end says which peak, which number)."""
    distinct = list({label(v): v for v in values}.values())
    labels = [tick(v) for v in distinct]
    labels = [t if labels.count(t) == 1 else f"{t} #{labels[:i].count(t) + 1}" for i, t in enumerate(labels)]
    if width:
        half = (width - 1) // 2
        labels = [t if len(t) <= width else t[:half] + "…" + t[-half:] for t in labels]
    return [_escape(t) for t in labels]


def best(cells: list[dict]) -> dict | None:
    """The cell with the lowest mean among those with a value."""
    done = [c for c in cells if c["n"] and np.isfinite(c["mean"])]
    return min(done, key=lambda c: c["mean"]) if done else None
