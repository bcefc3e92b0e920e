"""The results of each kind of experiment: the range test's curve and suggestions (one click
uses one), seeds as mean ± band, the A/B verdict, a sweep's heatmap, parallel coordinates,
chosen cell and results CSV."""
from __future__ import annotations

import json

import numpy as np
import streamlit as st

from lrviz import config as cfgmod
from lrviz import exports, figures, lessons, panels
from lrviz.experiments import ab as abmod
from lrviz.experiments import groups
from lrviz.experiments import range_test as rt
from lrviz.experiments.figures import band_figure, best, parallel_figure, range_test_figure, sweep_figure
from lrviz.experiments.sweep import label, where
from lrviz.experiments.stats import band, summary
from lrviz.params import ConfigError
from lrviz.schedules import with_peak

from . import widgets
from .resources import get_traces, home
from .view import view

CHART = {"displaylogo": False}
BANDS = {"± 1 std": "std", "min–max": "range"}
MEASURES = {"final val_loss": "final_val_loss", "best val_loss": "best_val_loss", "final loss": "final_loss"}
MEASURE_HELP = "Of each run: val_loss after its last epoch, its lowest val_loss, or its training loss at the end."


def failures(runs) -> None:
    """Why runs ended without finishing, once per reason."""
    reasons = {}
    for r in runs:
        if r["status"] in ("failed", "interrupted") and r["error"]:
            reasons.setdefault(r["error"], []).append(r["id"])
    for reason, ids in reasons.items():
        st.error(f"Run{'s' if len(ids) > 1 else ''} {', '.join(f'#{i}' for i in ids)}: {widgets.md(reason)}")


def range_test(group, runs, store) -> None:
    failures(runs)
    if not runs:
        return st.caption("This range test has no run (deleted in the Runs tab?).")
    run, ramp = runs[0], group["spec"]["ramp"]
    steps = store.steps(run["id"])
    if not len(steps["step"]):
        return st.caption("Waiting for the first steps…" if run["status"] in ("queued", "running") else
                          "The run recorded no step.")
    result = rt.analyse(_floats(steps["learning_rate"]), _floats(steps["loss"]), ramp["num_steps"],
                        ramp["stop_factor"])
    st.plotly_chart(range_test_figure(result), key="exp.rt.chart", config=CHART)
    st.caption(f"The test {result.note}.")
    if run["status"] in ("queued", "running"):
        return
    for s in result.suggestions:
        left, right = st.columns([3, 1])
        left.markdown(f"**{s.name}: {s.learning_rate:.3g}**: {s.why}.")
        right.button(f"Use {s.learning_rate:.2g} as the peak rate", key=f"exp.rt.use.{group['id']}.{s.name}",
                     on_click=use_rate, args=(s.learning_rate,),
                     help="Scale the current schedule (every rate it holds) so that its highest rate over the run "
                          "is this one; its shape stays.")
    if "exp.use" in st.session_state:
        kind, text = st.session_state.pop("exp.use")
        (st.success if kind == "ok" else st.error)(text)


def use_rate(rate: float) -> None:
    cfg = st.session_state.get("config.last")
    try:
        if cfg is None:
            raise ConfigError("schedule", None, "fix the settings first")
        spe = cfgmod.steps_per_epoch(cfg)
        sched = with_peak(cfg["schedule"], rate, cfg["training"]["epochs"], spe)
    except ConfigError as exc:
        st.session_state["exp.use"] = ("error", f"Not applied: {exc}")
        return
    widgets.load_state(panels.schedule_state(sched, "s", widgets.span("s")))
    st.session_state["exp.use"] = ("ok", f"The schedule now peaks at {rate:.3g}: see the Preview tab.")
    st.session_state["exp.rerun_app"] = True  # clicked in a fragment: the sidebar must be drawn again


def epoch_columns(store, runs) -> list[dict]:
    return [store.epochs(r["id"]) for r in runs]


def bands(per_run: list[dict], names: list[tuple[str, str]], kind: str) -> list:
    """(label, epochs completed, band) for each column that some run has values of."""
    out = []
    for name, shown in names:
        series = [_floats(e[name]) for e in per_run if name in e]
        series = [s for s in series if np.isfinite(s).any()]
        if series:
            b = band(series, kind)
            out.append((shown, np.arange(1, len(b.mean) + 1), b))
    return out


def _floats(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def seeds(group, runs, store) -> None:
    failures(runs)
    shown = st.radio("Band", list(BANDS), horizontal=True, key="exp.band",
                     help="± 1 sample standard deviation of the seeds, or their lowest to highest value.")
    per_run, metric = epoch_columns(store, runs), next((r["metric"] for r in runs if r["metric"]), "metric")
    loss = bands(per_run, [("loss", "loss"), ("val_loss", "val_loss")], BANDS[shown])
    if not loss:
        active = any(r["status"] in ("queued", "running") for r in runs)
        return st.caption("Waiting for the first epochs…" if active else "No run completed an epoch.")
    st.plotly_chart(band_figure(loss, "Loss per epoch over seeds", "loss", "epochs completed", band_name=shown),
                    key="exp.seeds.loss", config=CHART)
    metrics = bands(per_run, [("metric", metric), ("val_metric", f"val_{metric}")], BANDS[shown])
    if metrics:
        st.plotly_chart(band_figure(metrics, f"{metric} per epoch over seeds", metric, "epochs completed",
                                    band_name=shown), key="exp.seeds.metric", config=CHART)
    st.dataframe(summary_table(groups.results(store, group["id"])), hide_index=True)


def summary_table(cols: dict) -> list[dict]:
    """Mean ± std of each final and best value over the runs that are done."""
    rows = []
    for name in [c for c in cols if c.startswith(("final_", "best_"))]:
        s = summary(groups.finished(cols, name))
        rows.append({"measure": name, "mean": s.mean, "std": s.std, "runs": s.n,
                     "mean ± std": f"{s.mean:.4g} ± {s.std:.2g}" if s.n else "—"})
    return rows


def measured(cols: dict, shown: str) -> tuple[str, str]:
    """(column, its name) to compare: the one chosen, or the final loss where no run has
    validation data (data.validation_split 0), said once."""
    measure = MEASURES[shown]
    if measure != "final_loss" and cols["run_id"] and all(v is None for v in cols[measure]) and \
            any(s == "done" for s in cols["status"]):
        st.info("These runs have no validation data (data.validation_split is 0): comparing the final "
                "training loss instead.", icon=":material/info:")
        return "final_loss", "final loss"
    return measure, shown


def arms_figure(spec: dict, names: tuple[str, str] = ("A", "B")):
    """Both arms' learning rate over the run, A solid and B dashed, named."""
    a, b = spec["a"], spec["b"]
    fig, _ = figures.preview(a, cfgmod.steps_per_epoch(a), compare=b["schedule"])
    fig.update_layout(title_text="The two arms' learning rates (A solid, B dashed)")
    for trace, name in zip(fig.data, names):
        trace.update(name=name, hovertemplate="%{y:.4g}<extra>" + name + "</extra>")
    return fig


def ab(group, runs, store) -> None:
    failures(runs)
    lesson = lessons.by_title().get(group["name"])
    if lesson is not None:
        st.info(f"**{lesson.title}** ({lesson.paper}). What to look for: {lesson.look_for}  \n"
                "What your runs show is below: the paired difference over the seeds, not the paper's claim.",
                icon=":material/school:")
    shown = st.radio("Compare", list(MEASURES), horizontal=True, key="exp.ab.measure", help=MEASURE_HELP)
    cols = groups.results(store, group["id"])
    measure, shown = measured(cols, shown)
    values = {(arm, seed): v for arm, seed, v in zip(cols["arm"], cols["seed"], groups.finished(cols, measure))}
    st.markdown("**" + abmod.verdict(abmod.compare(values), shown, len(group["spec"]["seeds"])) + "**")
    arms = [("A", [r for r in runs if r["cell"][0] == "A"]), ("B", [r for r in runs if r["cell"][0] == "B"])]
    lines = []
    for arm, arm_runs in arms:
        lines += [(f"{arm} {what}", x, b) for what, x, b in bands(epoch_columns(store, arm_runs),
                                                                   [("val_loss", "val_loss")], "std")]
    if lines:
        st.plotly_chart(band_figure(lines, "val_loss per epoch: A against B (mean ± 1 std over seeds)", "val_loss",
                                    "epochs completed"), key="exp.ab.chart", config=CHART)
    seeds_ = sorted({s for _, s in values})
    st.dataframe([{"seed": s, "A": values.get(("A", s)), "B": values.get(("B", s)),
                   "B − A": _diff(values.get(("B", s)), values.get(("A", s)))} for s in seeds_], hide_index=True)
    with st.expander("What A and B are"):
        spec = group["spec"]
        st.json({"A.schedule": spec["a"]["schedule"], "B.schedule": spec["b"]["schedule"],
                 "A.optimizer": spec["a"]["optimizer"], "B.optimizer": spec["b"]["optimizer"]}, expanded=False)


def _diff(b, a):
    return None if a is None or b is None else b - a


def sweep(group, runs, store) -> None:
    failures(runs)
    if not runs:
        return st.caption("This sweep has no runs (deleted in the Runs tab?).")
    fields = group["spec"]["fields"]
    shown = st.radio("Measure", list(MEASURES), horizontal=True, key="exp.sweep.measure", help=MEASURE_HELP)
    cols = groups.results(store, group["id"])
    measure, shown = measured(cols, shown)
    cells = groups.cells(cols, fields, measure)
    if fields:
        st.plotly_chart(sweep_figure(fields, cells, shown), key="exp.sweep.map", config=CHART)
        top = best(cells)
        if top is not None:
            st.markdown(f"**Best: {where(fields, top['cell'])}**: {shown} {top['mean']:.4g} ± {top['std']:.2g} over {top['n']} seeds.")
        st.plotly_chart(parallel_figure(cols, fields, measure), key="exp.sweep.parallel", config=CHART)
    labels = {i: where(fields, c["cell"]) or "all runs"
              for i, c in enumerate(cells)}
    chosen = st.selectbox("Cell", list(labels), key="exp.sweep.cell", format_func=labels.get,
                          help="Overlay the runs of one cell.")
    in_cell = [r for r in runs if label(r["cell"][:-1]) == label(cells[chosen]["cell"])]
    traces = [t for t in (get_traces(str(home())).get(r["id"]) for r in in_cell) if t is not None]
    if traces:
        st.plotly_chart(figures.loss_figure(traces, view("p.log_y"), view("p.x"), view("p.smooth"),
                                            title=f"Loss: {labels[chosen]}"), key="exp.sweep.runs", config=CHART)
    st.download_button("Results (.csv)", exports.csv_text(groups.csv_columns(cols)), f"lrviz_sweep_{group['id']}.csv",
                       "text/csv", key="exp.sweep.csv", on_click="ignore",
                       help="One row per run: the grid's values, seed, run id, status, final and best losses, "
                            "metrics, start and end times and where it trained.")


def suggested_values(cfg: dict, path: str) -> str:
    """A starting grid for a setting: around its current value."""
    node = cfg
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, bool):
        return "false, true"
    if isinstance(node, float) and node > 0:
        return ", ".join(f"{node * f:.3g}" for f in (0.1, 0.3, 1, 3, 10)) if "learning_rate" in path else \
            ", ".join(f"{node * f:.3g}" for f in (0.5, 1, 2))
    if isinstance(node, int):
        return ", ".join(str(v) for v in sorted({max(1, node // 2), node, node * 2}))
    return json.dumps(node) if isinstance(node, (list, dict)) else str(node if node is not None else "")


def separator(cfg: dict, path: str) -> str:
    """';' between values of a setting that is a list or text (a formula has commas), else ','."""
    node = cfg
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return ";" if isinstance(node, (list, str)) else ","


def parse_values(text: str, by: str = ",") -> list:
    """Values separated by `by` (JSON where they parse: numbers, true, null; else text)."""
    parts = [p for p in text.split(by) if p.strip()]
    out = []
    for part in parts:
        try:
            out.append(json.loads(part, parse_constant=float))
        except ValueError:
            out.append(part.strip())
    return out
