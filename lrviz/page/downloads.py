"""The Downloads tab: the current settings (config, script, preview) and the runs' metrics and
charts, each generated when its button is clicked."""
from __future__ import annotations

import streamlit as st

from lrviz import exports, figures, model_view, uploads
from lrviz.data import reads_file

from . import widgets
from .identity import may_read, visitor
from .preview import preview_data
from .resources import get_traces, home
from .view import run_figures


def download_runs(store) -> list:
    """[(id, trace, config)] of the runs overlaid in the Runs tab, else of the run being watched."""
    if store is None:
        return []
    ids = st.session_state.get("runs.pick") or [st.session_state.get("live.pick")]
    runs = [(i, store.run(i)) for i in ids if i is not None]
    traces = get_traces(str(home()))
    found = [(i, traces.get(i, run), None if private(run) else run.get("config")) for i, run in runs if run]
    return [(i, t, run_cfg) for i, t, run_cfg in found if t is not None]  # not deleted meanwhile


def private(run: dict) -> bool:
    """Another visitor's run on a CSV this visitor may not read: its metrics can be downloaded,
    not its config or script (they name the file and its columns) nor its model's view (it draws
    the file's rows)."""
    path = run["config"]["data"].get("path")
    return reads_file(run["config"]["data"]["name"]) and not (visitor().manages(run) or (path and may_read(path)))


def image_buttons(fig, what: str, stem: str, key: str) -> None:
    reason = exports.image_support()
    if reason:
        st.info(f"{reason} Use the camera button at the top right of any chart to save it as PNG.")
        return
    a, b = st.columns(2)
    a.download_button(f"{what} (PNG)", lambda: exports.image(fig, "png"), f"{stem}.png", "image/png",
                      key=f"{key}.png", on_click="ignore",
                      help="Rendered when you click (the first export starts a browser, about 4 s).")
    b.download_button(f"{what} (SVG)", lambda: exports.image(fig, "svg"), f"{stem}.svg", "image/svg+xml",
                      key=f"{key}.svg", on_click="ignore", help="Vector image, rendered when you click.")


def download(where, label: str, make, file_name: str, mime: str, key: str, help: str) -> None:
    """One download button; `make` is called only when it is clicked (and is bound here, not
    in a loop variable that a later line could rebind)."""
    where.download_button(label, make, file_name, mime, key=key, on_click="ignore", help=help)


def downloads_tab(cfg, spe, store) -> None:
    st.markdown("##### The current settings and their preview")
    if cfg is None:
        st.info("Fix the setting named above (or upload the CSV) to download the settings.")
    else:
        curve_fig, columns = preview_data(cfg, spe, show_errors=False)
        c = st.columns(3)
        download(c[0], "Config (JSON)", exports.config_json(cfg), "lrviz-config.json", "application/json",
                 "dl.config", "Load it back in the sidebar, or run `python -m lrviz train lrviz-config.json`.")
        download(c[1], "Keras script (.py)", exports.keras_script(cfg), "lrviz_keras.py", "text/x-python",
                 "dl.script", "Plain Keras 3 code that trains this run: the same weights, batches and rates "
                              "(--history-csv and --lr-csv write what it recorded).")
        download(c[2], "Preview chart (HTML)", lambda: exports.html(curve_fig), "lrviz-curve.html", "text/html",
                 "dl.curve_html", "The learning-rate preview, interactive, works offline.")
        c = st.columns(3)
        download(c[0], "Preview per step (CSV)", lambda: exports.csv_text(columns), "lrviz-curve.csv", "text/csv",
                 "dl.curve", "Every step, exact: step, epoch, learning_rate (and what else is drawn).")
        download(c[1], "Preview per epoch (CSV)", lambda: exports.csv_text(figures.epoch_starts(cfg, spe)),
                 "lrviz-curve-epochs.csv", "text/csv", "dl.curve_epochs", "The rate at the first step of each epoch.")
        with c[2]:
            image_buttons(curve_fig, "Preview chart", "lrviz-curve", "dl.curve_img")
    st.markdown("##### Runs: those overlaid in the Runs tab, else the one being watched")
    runs = download_runs(store)
    if not runs:
        st.caption("Train a run, or pick runs to overlay in the Runs tab, to download their metrics and charts.")
        return
    for run_id, t, run_cfg in runs:
        run_downloads(store, run_id, t, run_cfg)
    traces = [t for _, t, _ in runs]
    lr_fig, loss_fig, metric_fig, inside_fig = run_figures(traces)
    c = st.columns(4)
    for col, (what, name, fig) in zip(c, (("Learning-rate", "lr", lr_fig), ("Loss", "loss", loss_fig),
                                           ("Metric", "metric", metric_fig), ("Inside", "inside", inside_fig))):
        download(col, f"{what} chart (HTML)", lambda fig=fig: exports.html(fig), f"lrviz-runs-{name}.html",
                 "text/html", f"dl.runs_{name}_html",
                 f"The runs' {what.lower()} chart as the Runs tab draws it, interactive, works offline.")
    image_buttons(loss_fig, "Loss chart", "lrviz-runs-loss", "dl.runs_img")


def run_downloads(store, run_id, t, run_cfg) -> None:
    c = st.columns(4)
    name, metric = widgets.md(t.label), t.metric_name

    def table(kind: str):  # exact rows, read from the store when clicked
        return lambda: exports.run_csv(store, run_id, kind, t.metric)

    download(c[0], f"{name}: per step (CSV)", table("steps"), f"run-{run_id}-steps.csv", "text/csv",
             f"dl.run{run_id}.steps", "step, epoch, learning_rate, loss, wall_time of every step, exact, and "
             "what the optimizer did: grad_norm, bias_correction, step_median, step_p90, step_max and "
             "update_ratio_<layer>.")
    download(c[1], f"{name}: per epoch (CSV)", table("epochs"), f"run-{run_id}-epochs.csv", "text/csv",
             f"dl.run{run_id}.epochs", f"epoch, learning_rate, loss, val_loss, {metric}, val_{metric}, wall_time.")
    if run_cfg:
        run_cfg = uploads.portable(run_cfg, home())  # a run stored before uploads were named by file
        download(c[2], f"{name}: config (JSON)", exports.config_json(run_cfg), f"run-{run_id}-config.json",
                 "application/json", f"dl.run{run_id}.config",
                 "The run's exact settings: load them back or train again from the CLI.")
        download(c[3], f"{name}: Keras script (.py)", lambda: exports.keras_script(run_cfg),
                 f"run-{run_id}-keras.py", "text/x-python", f"dl.run{run_id}.script",
                 "Plain Keras 3 code that trains this run again.")
    if run_cfg and store.view_epochs(run_id):
        download(st, f"{name}: the model's view, animated (HTML)",
                 lambda: exports.html(model_view.figure(store, run_id)), f"run-{run_id}-view.html", "text/html",
                 f"dl.run{run_id}.view", "What the model predicted over its inputs after each epoch, with an "
                 "epoch slider and a play button; works offline.")
