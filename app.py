"""lrviz, the page: widgets -> one config -> library calls -> figures.

Run with `streamlit run app.py`. This process never imports TensorFlow: training happens in
the engine's spawned workers, and the page reads their rows from the store.
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import streamlit as st

import ui
from lrviz import config as cfgmod
from lrviz import exports, figures, panels, presets, urlstate
from lrviz.params import ConfigError
from lrviz.schedules import FAMILIES, family_id

HOME = Path(os.environ.get("LRVIZ_HOME") or Path(__file__).parent / "runs")
LIVE_EVERY = 1.0  # seconds between live refreshes while a run of this session is active
# One server process serves every session under one GIL, next to the training workers. With
# Python's default 5 ms switch interval, a thread answering /_stcore/health waits behind every
# script run's bytecode in 5 ms slices; 1 ms lets it in sooner (server-wide, harmless elsewhere).
sys.setswitchinterval(0.001)
ACTIVE = ("queued", "running")
START = presets.PRESETS[0]  # the article's recipe greets a new visitor
TABS = (":material/show_chart: Preview", ":material/model_training: Train", ":material/table_rows: Runs",
        ":material/download: Downloads")
KEPT = ("train.name", "live.pick", "runs.pick")  # widgets in tabs that are not always drawn
KEPT_PREFIXES = tuple(f"{panel.section}." for panel in panels.PANELS)  # and in closed panels
UNSETTABLE = ("data.upload",)  # Streamlit refuses to set a file uploader's value
# The workers' TensorFlow import slows the browser on a small machine: they start when the user
# opens the Train tab, or this many seconds after the first page, or on Train, whichever is first.
WARM_AFTER = 10.0

st.set_page_config(page_title="lrviz: learning-rate decay for Adam", page_icon=":material/trending_down:", layout="wide")


# ---- one engine and one store per server ----------------------------------------------
@st.cache_resource(show_spinner=False)
def get_engine(home: str):
    from lrviz.engine import Engine

    return Engine(home, warm_after=WARM_AFTER)  # its own atexit hook shuts the workers down


@st.cache_resource(show_spinner=False)
def get_store(home: str):
    from lrviz.store import Store, StoreError

    store = Store(home)  # one SQLite connection per thread, made on first use
    try:
        store.recover()  # what a crashed server left 'running' shows 'interrupted' on the first page
    except StoreError:
        pass  # a full disk: its runs can still be read, and the engine names the problem
    return store


def get_store_or_none():
    try:
        return get_store(str(HOME))
    except Exception as exc:  # noqa: BLE001 - a broken store must not take the preview down
        ui.show_error(exc, "The run store could not be opened")
    return None


def get_engine_or_none(quiet: bool = False):
    """The engine, or None with the reason shown (unless quiet)."""
    try:
        return get_engine(str(HOME))
    except ImportError as exc:
        if not quiet:
            st.info(f"Training is not available in this installation ({ui.md(exc)}).")
    except Exception as exc:  # noqa: BLE001 - the reason, not a traceback
        if not quiet:
            ui.show_error(exc, "The training engine could not start")
    return None


# ---- state: URL, presets and uploaded JSON all load through panels.config_state -------------
def start_session() -> None:
    if st.session_state.get("started"):
        return
    st.session_state["started"] = True
    cfg, problem = urlstate.decode(st.query_params)
    if problem:
        st.session_state["notice"] = f"The link's settings were not used: {ui.md(problem)}. Showing the defaults."
    if cfg:
        cfg, problem = ui.trusted_path(cfg, HOME)
        if problem:
            st.session_state["notice"] = f"From the link: {problem}."
    ui.load_state(panels.config_state(cfg or START.config()))


def keep() -> None:
    """Streamlit forgets the value of a widget that a run does not draw, and closed tabs and
    panels are not drawn: assigning each value to itself keeps it (Streamlit's documented way)."""
    for key in list(st.session_state):
        if key in KEPT or (key.startswith(KEPT_PREFIXES) and key not in UNSETTABLE):
            st.session_state[key] = st.session_state[key]


def apply_preset() -> None:
    preset = presets.available().get(st.session_state.get("preset"))
    if preset:
        cfg = preset.config()
        state = panels.config_state(cfg)
        keep = ("data.", "model.")  # a preset sets the schedule, Adam and epochs, not your data
        ui.load_state({k: v for k, v in state.items() if not k.startswith(keep)})


def apply_upload() -> None:
    upload = st.session_state.get("config_upload")
    if upload is None:
        return
    try:
        cfg = cfgmod.loads(upload.getvalue().decode("utf-8", errors="replace"))
    except ConfigError as exc:
        st.session_state["upload_error"] = exc
        return
    st.session_state.pop("upload_error", None)
    cfg, problem = ui.trusted_path(cfg, HOME)
    if problem:
        st.session_state["notice"] = f"From the uploaded config: {problem}."
        st.session_state.pop("notice.config", None)
    ui.load_state(panels.config_state(cfg))


# ---- sidebar -------------------------------------------------------------------------------
def sidebar() -> None:
    st.title("lrviz")
    st.caption("Learning-rate decay for Adam in Keras 3: see it, train it, take the code home.")
    names = ["(choose a preset)"] + list(presets.available())
    st.selectbox("Preset", names, key="preset", on_change=apply_preset,
                 help="Load a ready-made schedule, Adam settings and epochs. The article's two recipes "
                      "come first; your data and model stay as they are.")
    st.file_uploader("Load a config (JSON)", type=["json"], key="config_upload", on_change=apply_upload,
                     help="A config downloaded from this page or written for `python -m lrviz train`.")
    if "upload_error" in st.session_state:
        ui.show_error(st.session_state["upload_error"], "Uploaded config refused")
    st.subheader("Schedule")
    ui.schedule_widgets("s", "schedule")
    defaults = cfgmod.default()
    for panel in panels.PANELS:
        ui.ensure_state(panels.param_state(panel.params, panel.section, defaults[panel.section]))
        box = st.expander(panel.title, expanded=panel.section == "optimizer", key=f"panel.{panel.section}",
                          on_change="rerun")
        if box.open:  # a closed panel's widgets are not drawn (a sooner first page); keep() holds their values
            with box:
                ui.params_widgets(panel.params, panel.section, panel.section)
                if panel.section == "data":
                    csv_upload()
    with st.expander("Preview options", expanded=True):
        st.toggle("log-scale y axis", key="p.log_y", help="Decays over orders of magnitude read better on a log axis.")
        st.toggle("show Adam's step size α_t", key="p.adam",
                  help="Adam's bias correction: α_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ) with t = step + 1 — the step "
                       "Adam really takes differs from lr early in training.")
        if st.toggle("compare with a second schedule", key=panels.COMPARE_ON,
                     help="Overlay another schedule on the same steps (preview only)."):
            ui.schedule_widgets("c", "comparison schedule")


def take_csv_upload() -> None:
    """The CSV uploader's on_change: saved and checked before the page reads the config."""
    upload = st.session_state.get("data.upload")
    if upload is None:
        return  # the file was removed from the widget: the saved copy stays in use
    from lrviz import data

    refused = f"CSV {ui.md(upload.name)} refused"
    try:
        path = ui.save_upload(upload, HOME)
    except OSError as exc:  # a read-only or full store folder: say so, keep the page
        from lrviz.store import StoreError

        note_csv(error=(StoreError(HOME, f"the upload cannot be saved ({exc.strerror or exc})"), refused))
        return
    try:
        rows = data.csv_rows(str(path))
    except ConfigError as exc:
        st.session_state["data.path"] = None
        note_csv(error=(exc, refused))
        return
    st.session_state["data.path"] = str(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    shown = ", ".join(ui.md(c) for c in header[:12]) + (", …" if len(header) > 12 else "")
    note_csv(caption=f"{ui.md(upload.name)}: {rows:,} rows; columns: {shown}")


def note_csv(error=None, caption=None) -> None:
    # Tied to the data.path it describes: a preset, link or config that sets another path
    # must not show this upload's caption or error.
    st.session_state["csv.note"] = (st.session_state.get("data.path"), error, caption)


def csv_upload() -> None:
    if st.session_state.get("data.name") != "csv":
        return
    st.file_uploader("CSV file", type=["csv"], key="data.upload", on_change=take_csv_upload,
                     help="A header row and numeric columns; the target is the last column "
                          "unless you set one. At most 200,000 rows.")
    path = st.session_state.get("data.path")
    about, error, caption = st.session_state.get("csv.note") or (None, None, None)
    if about != path:
        error = caption = None
    if error:
        ui.show_error(*error)
    elif path:
        st.caption(caption or f"Using {ui.md(Path(path).name)}")


def show_notice(cfg) -> None:
    """What a link or an uploaded config could not set, shown until the user changes a setting."""
    if "notice" not in st.session_state:
        return
    if st.session_state.setdefault("notice.config", cfg) == cfg:
        st.warning(st.session_state["notice"], icon=":material/link_off:")
    else:
        del st.session_state["notice"], st.session_state["notice.config"]


def current_config():
    """(config, steps per epoch) from the widgets, or (None, None) with the reason shown."""
    try:
        cfg = cfgmod.validate(panels.read_config(st.session_state.get))
        return cfg, cfgmod.steps_per_epoch(cfg)
    except ConfigError as exc:
        ui.show_error(exc)
    return None, None


def sync_url(cfg: dict) -> None:
    encoded = urlstate.encode(cfg)[urlstate.PARAM]
    if st.query_params.get(urlstate.PARAM) != encoded:
        st.query_params[urlstate.PARAM] = encoded


# ---- tabs ----------------------------------------------------------------------------------
def preview_data(cfg, spe, show_errors: bool = True):
    """(figure, exact columns) of the preview, with the comparison schedule if it is valid."""
    options = panels.read_preview(st.session_state.get)
    compare = None
    if options.compare is not None:
        try:
            compare = cfgmod.validate({**cfg, "schedule": options.compare})["schedule"]
        except ConfigError as exc:
            if show_errors:
                ui.show_error(exc, "Comparison schedule refused")
    return figures.preview(cfg, spe, compare, options.log_y, options.adam_step)


def preview_tab(cfg, spe) -> None:
    if cfg is None:
        st.info("Fix the setting named above to see the curve.")
        return
    fig, columns = preview_data(cfg, spe)
    st.latex(FAMILIES[family_id(cfg["schedule"])].formula)
    st.plotly_chart(fig, key="preview.chart", config={"displaylogo": False})
    lr = columns["learning_rate"]
    cols = st.columns(4)
    cols[0].metric("steps per epoch", f"{spe:,}", help="ceil(training rows / batch size)")
    cols[1].metric("total steps", f"{cfg['training']['epochs'] * spe:,}")
    cols[2].metric("first → last lr", f"{lr[0]:.3g} → {lr[-1]:.3g}" if len(lr) else "–")
    cols[3].metric("peak lr", f"{lr.max():.3g}" if len(lr) else "–")
    for i, pit in enumerate(presets.pitfalls(cfg, cfg["training"]["epochs"], spe)):
        st.warning(f"**{pit.title}.** {pit.text}", icon=":material/warning:")
        if pit.curves:
            curves = [figures.Curve(label, s, v, "solid" if j == 0 else "dash")
                      for j, (label, s, v) in enumerate(pit.curves)]
            st.plotly_chart(figures.preview_figure(curves, spe, True, title=pit.title + " (log scale)"),
                            key=f"pitfall.chart.{i}", config={"displaylogo": False})
        if pit.code:
            st.code(pit.code, language="python")


def live_figures(store, run_id) -> tuple:
    """The live view's three figures, rebuilt only when the store sent new rows (or the scale
    changed) since the last refresh; otherwise the session's cached figures are sent again."""
    trace = ui.trace_for(store, run_id)
    log_y = st.session_state.get("p.log_y", False)
    key = (run_id, trace.last_step, trace.last_epoch, log_y, trace.metric, trace.label)
    cached = st.session_state.get("live.figures")
    if cached is None or cached[0] != key:
        cached = st.session_state["live.figures"] = (key, (
            figures.lr_figure([trace], log_y), figures.loss_figure([trace], log_y), figures.metric_figure([trace])))
    return cached[1]


def live_view(engine, store) -> None:
    ids = st.session_state.get("live.ids", [])
    names = {i: (store.run(i) or {}).get("name") or f"run {i}" for i in ids}
    run_id = st.selectbox("Run", ids[::-1], key="live.pick", format_func=lambda i: f"{names[i]} (#{i})",
                          help="Runs started from this page in this session, newest first.")
    p = engine.progress(run_id)
    if p is None:
        st.caption("This run was deleted.")
        return
    ui.status_line(p)
    st.button("Stop", key="live.stop", on_click=engine.stop, args=(run_id,), disabled=p.get("status") not in ACTIVE,
              help="Stop after the current step; what was recorded stays.")
    if p.get("status") != "queued":  # a queued run has nothing to draw yet: the status line is all
        lr, loss, metric = live_figures(store, run_id)
        left, right = st.columns(2)
        left.plotly_chart(lr, key="live.lr", config={"displaylogo": False})
        right.plotly_chart(loss, key="live.loss", config={"displaylogo": False})
        st.plotly_chart(metric, key="live.metric", config={"displaylogo": False})
    now = p.get("status") in ACTIVE
    if st.session_state.get("live.was_active") and not now:
        st.session_state["live.was_active"] = False
        st.rerun()  # the whole page: stop the timer, refresh the runs table
    st.session_state["live.was_active"] = now


def train_tab(cfg, engine, store) -> None:
    if engine is not None:
        engine.warm()  # the user is heading for Train: have a worker ready by the time it is pressed
    st.text_input("Run name", key="train.name", max_chars=100, placeholder="(automatic)",
                  help="Shown in the runs table and chart legends.")
    if st.button("Train", key="train.start", type="primary", disabled=cfg is None or engine is None,
                 help="Train the model with these settings in a background worker."):
        try:
            run_id = engine.submit(cfg, name=st.session_state.get("train.name") or None)
            st.session_state.setdefault("live.ids", []).append(run_id)
            st.session_state["live.pick"] = run_id
            st.session_state["live.was_active"] = True
        except ConfigError as exc:
            ui.show_error(exc, "Training refused")
        except Exception as exc:  # noqa: BLE001 - the engine's reason, not a traceback
            ui.show_error(exc, "Could not start training")
    if engine is None or not st.session_state.get("live.ids"):
        st.caption("Press Train: the learning rate, loss and metric appear here while the model trains.")
        return
    active = set(engine.active())
    every = LIVE_EVERY if any(i in active for i in st.session_state["live.ids"]) else None
    st.fragment(lambda: ui.guarded("Live view failed", live_view, engine, store), run_every=every)()


# Callbacks run before the page is drawn again, so the table shows the change at once.
def rename_run(store) -> None:
    run_id, name = st.session_state.get("runs.target"), st.session_state.get("runs.new_name", "").strip()
    if run_id is not None and name:
        try:
            store.rename(run_id, name)
        except Exception as exc:  # noqa: BLE001 - shown by runs_tab
            st.session_state["runs.error"] = exc
        st.session_state.get("traces", {}).pop(run_id, None)
        st.session_state["runs.new_name"] = ""


def delete_run(store) -> None:
    run_id = st.session_state.get("runs.target")
    if run_id is not None and st.session_state.get("runs.sure"):
        try:
            store.delete(run_id)
        except Exception as exc:  # noqa: BLE001 - shown by runs_tab
            st.session_state["runs.error"] = exc
        st.session_state.get("traces", {}).pop(run_id, None)
    st.session_state["runs.sure"] = False


def runs_tab(store) -> None:
    if store is None:
        return
    if "runs.error" in st.session_state:
        ui.show_error(st.session_state.pop("runs.error"), "The store refused")
    runs = store.runs()
    if not runs:
        st.caption("No runs yet: train one in the Train tab.")
        return
    import pandas as pd  # here, not at the top: the first page draws sooner without it

    st.dataframe(pd.DataFrame([panels.run_row(r, ui.trace_for(store, r["id"], with_steps=False)) for r in runs]),
                 hide_index=True, key="runs.table")
    names = {r["id"]: f"{r.get('name') or 'run'} (#{r['id']})" for r in runs}
    st.session_state["runs.pick"] = [i for i in st.session_state.get("runs.pick") or [] if i in names]
    picked = st.multiselect("Overlay runs", list(names), key="runs.pick", format_func=names.get,
                            help="Runs to draw on shared axes below.")
    traces = [ui.trace_for(store, i) for i in picked if i in names]
    if traces:
        log_y = st.session_state.get("p.log_y", False)
        st.plotly_chart(figures.lr_figure(traces, log_y), key="runs.lr", config={"displaylogo": False})
        st.plotly_chart(figures.loss_figure(traces, log_y), key="runs.loss", config={"displaylogo": False})
        st.plotly_chart(figures.metric_figure(traces), key="runs.metric", config={"displaylogo": False})
    with st.expander("Rename or delete"):
        target = st.selectbox("Run", list(names), key="runs.target", format_func=names.get,
                              help="The run to rename or delete.")
        new = st.text_input("New name", key="runs.new_name", max_chars=100, help="Any text; shown as plain text.")
        a, b = st.columns(2)
        a.button("Rename", key="runs.rename", disabled=not new.strip(), on_click=rename_run, args=(store,),
                 help="Give the run the new name.")
        sure = b.checkbox("yes, delete it", key="runs.sure", help="Deleting removes the run and all its metrics.")
        b.button("Delete", key="runs.delete", disabled=not sure, on_click=delete_run, args=(store,),
                 help="Delete the run for good.")


def download_runs(store) -> list:
    """[(id, trace, config)] of the runs overlaid in the Runs tab, else of the run being watched."""
    if store is None:
        return []
    ids = st.session_state.get("runs.pick") or [st.session_state.get("live.pick")]
    runs = [(i, store.run(i)) for i in ids if i is not None]
    return [(i, ui.trace_for(store, i), run.get("config")) for i, run in runs if run]


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


def downloads_tab(cfg, spe, runs) -> None:
    st.markdown("##### The current settings and their preview")
    if cfg is None:
        st.info("Fix the setting named above to download it.")
    else:
        fig, columns = preview_data(cfg, spe, show_errors=False)
        c = st.columns(3)
        c[0].download_button("Config (JSON)", exports.config_json(cfg), "lrviz-config.json", "application/json",
                             key="dl.config", on_click="ignore",
                             help="Load it back in the sidebar, or run `python -m lrviz train lrviz-config.json`.")
        try:
            script = exports.keras_script(cfg)
            c[1].download_button("Keras script (.py)", script, "lrviz_keras.py", "text/x-python", key="dl.script",
                                 on_click="ignore", help="Plain Keras 3 code that reproduces this run and "
                                                         "records the rate of every step (--lr-csv).")
        except ValueError as exc:
            c[1].caption(ui.md(exc))
        c[2].download_button("Chart (HTML)", lambda: exports.html(fig), "lrviz-curve.html", "text/html",
                             key="dl.curve_html", on_click="ignore", help="Interactive, works offline.")
        c = st.columns(3)
        c[0].download_button("Curve per step (CSV)", lambda: exports.csv_text(columns), "lrviz-curve.csv",
                             "text/csv", key="dl.curve", on_click="ignore",
                             help="Every step, exact: step, epoch, learning_rate (and what else is drawn).")
        c[1].download_button("Curve per epoch (CSV)", lambda: exports.csv_text(figures.epoch_starts(cfg, spe)),
                             "lrviz-curve-epochs.csv",
                             "text/csv", key="dl.curve_epochs", on_click="ignore",
                             help="The rate at the first step of each epoch.")
        with c[2]:
            image_buttons(fig, "Curve", "lrviz-curve", "dl.curve_img")
    st.markdown("##### Runs: those overlaid in the Runs tab, else the one being watched")
    if not runs:
        st.caption("Train a run, or pick runs to overlay in the Runs tab, to download their metrics and charts.")
        return
    for run_id, t, run_cfg in runs:
        c = st.columns(3)
        name = ui.md(t.label)
        c[0].download_button(f"{name}: per step (CSV)",
                             lambda t=t: exports.rows_csv(t.steps, figures.RunTrace.STEP_COLUMNS),
                             f"run-{run_id}-steps.csv", "text/csv", key=f"dl.run{run_id}.steps", on_click="ignore",
                             help="step, epoch, learning_rate, loss of every step, exact.")
        c[1].download_button(f"{name}: per epoch (CSV)",
                             lambda t=t: exports.rows_csv(t.epochs, figures.RunTrace.EPOCH_COLUMNS),
                             f"run-{run_id}-epochs.csv", "text/csv", key=f"dl.run{run_id}.epochs",
                             on_click="ignore", help="epoch, learning_rate, loss, val_loss, metric, wall_time.")
        if run_cfg:
            c[2].download_button(f"{name}: config (JSON)", exports.config_json(run_cfg), f"run-{run_id}-config.json",
                                 "application/json", key=f"dl.run{run_id}.config", on_click="ignore",
                                 help="The run's exact settings: load them back or train again from the CLI.")
    traces = [t for _, t, _ in runs]
    c = st.columns(3)
    for col, (label, fig) in zip(c, (("lr", figures.lr_figure(traces)), ("loss", figures.loss_figure(traces)),
                                     ("metric", figures.metric_figure(traces)))):
        col.download_button(f"{label} chart (HTML)", lambda fig=fig: exports.html(fig), f"lrviz-runs-{label}.html",
                            "text/html", key=f"dl.runs_{label}_html", on_click="ignore",
                            help="Interactive, works offline.")
    image_buttons(figures.loss_figure(traces), "Loss chart", "lrviz-runs-loss", "dl.runs_img")


# ---- the page ------------------------------------------------------------------------------
start_session()
keep()
config, steps_per_epoch = current_config()
show_notice(config)
if config is not None:
    sync_url(config)
    fam = FAMILIES[family_id(config["schedule"])]
    st.markdown(f"#### {fam.label} · {config['training']['epochs']} epochs × {steps_per_epoch:,} steps "
                f"· batch {config['training']['batch_size']} · Adam β₁={config['optimizer']['beta_1']:g}, "
                f"β₂={config['optimizer']['beta_2']:g}")
# Only the open tab runs (on_change="rerun"): a first visit draws the preview alone, sooner.
preview, train, runs, downloads = st.tabs(TABS, key="main.tab", on_change="rerun")
if preview.open:
    with preview:
        ui.guarded("Preview failed", preview_tab, config, steps_per_epoch)
store = get_store_or_none()
if train.open:
    with train:
        ui.guarded("Training failed", train_tab, config, get_engine_or_none(), store)
if runs.open:
    with runs:
        ui.guarded("Runs failed", runs_tab, store)
if downloads.open:
    with downloads:
        ui.guarded("Downloads failed", lambda: downloads_tab(config, steps_per_epoch, download_runs(store)))
with st.sidebar:  # after the main area: its widgets' values are in session state already, and
    sidebar()     # the preview reaches the browser first
if not train.open:  # made on every visit, quietly (the Train tab says why it cannot): its workers
    get_engine_or_none(quiet=True)  # then start WARM_AFTER seconds later, or when Train is opened
