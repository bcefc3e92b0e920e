"""lrviz, the page: widgets -> one config -> library calls -> figures.

Run with `streamlit run app.py`. This process never imports TensorFlow: training happens in
the engine's spawned workers, and the page reads their rows from the store.
"""
from __future__ import annotations

import math
import sys

import streamlit as st

import ui
from lrviz import config as cfgmod
from lrviz import exports, figures, panels, presets, uploads, urlstate
from lrviz.params import ConfigError
from lrviz.schedules import FAMILIES, check_on_run, check_schedule, coverage, family_id
from lrviz.store import default_home

HOME = default_home()
LIVE_EVERY = 1.0  # seconds between live refreshes while a run of this session is active
# One server process serves every session under one GIL, next to the training workers. With
# Python's default 5 ms switch interval, a thread answering /_stcore/health waits behind every
# script run's bytecode in 5 ms slices; 1 ms lets it in sooner (server-wide, harmless elsewhere).
sys.setswitchinterval(0.001)
ACTIVE = ("queued", "running")
START = presets.PRESETS[0]  # the article's recipe greets a new visitor
OWN = "(your own settings)"  # the preset box when the settings are no preset's
SANE_RATE = 1.0  # Adam on these models diverges far below this; above it the page warns
TABS = (":material/show_chart: Preview", ":material/model_training: Train", ":material/table_rows: Runs",
        ":material/download: Downloads")
KEPT = ("train.name", "live.pick", "runs.pick",  # widgets in tabs that are not always drawn,
        "s.units", "c.units")  # and units, drawn only for families that count steps
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


@st.cache_resource(show_spinner=False)
def get_traces(home: str):
    """What the run charts draw, shared by every session (lrviz.traces)."""
    from lrviz.traces import Traces

    return Traces(get_store(home))


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
        cfg, problem = trusted(cfg)
        if problem:
            st.session_state["notice"] = f"From the link: {problem}."
    st.session_state["live.ids"] = urlstate.decode_runs(st.query_params, get_store_or_none())
    if cfg is None:
        ui.load_state(START.state())
        st.session_state["preset.loaded"] = START.name
        return
    try:
        ui.load_state(panels.config_state(cfg, urlstate.decode_units(st.query_params)))
    except ConfigError:  # the link's CSV cannot be read any more: its step counts as steps
        ui.load_state(panels.config_state(cfg))


def trusted(cfg: dict) -> tuple[dict, str | None]:
    """A config from outside (a link, an uploaded JSON) may name only CSVs uploaded here."""
    path = cfg["data"].get("path")
    name = uploads.trusted(path, HOME)
    if path is None or name == path:
        return cfg, None
    if name:  # an upload named by its old absolute path
        return {**cfg, "data": {**cfg["data"], "path": name}}, None
    data = {**cfg["data"], "path": None, "name": "moons" if cfg["data"]["name"] == "csv" else cfg["data"]["name"]}
    return {**cfg, "data": data}, f"data.path {ui.md(path)} ignored: only CSV files uploaded here can be used"


def keep() -> None:
    """Streamlit forgets the value of a widget that a run does not draw, and closed tabs and
    panels are not drawn: assigning each value to itself keeps it (Streamlit's documented way)."""
    for key in list(st.session_state):
        if key in KEPT or (key.startswith(KEPT_PREFIXES) and key not in UNSETTABLE):
            st.session_state[key] = st.session_state[key]


def apply_preset() -> None:
    preset = presets.available().get(st.session_state.get("preset"))
    if preset:
        try:
            state = preset.state(st.session_state.get("config.last"))
        except ConfigError as exc:  # over your data it cannot run (too many steps, an unreadable CSV)
            st.session_state["preset_error"] = exc.detached()  # shown on every rerun: no frames kept
            return
        st.session_state.pop("preset_error", None)
        keep = ("data.", "model.")  # a preset sets the schedule, Adam and epochs, not your data
        ui.load_state({k: v for k, v in state.items() if not k.startswith(keep)})
        st.session_state["preset.loaded"] = preset.name


def apply_upload() -> None:
    upload = st.session_state.get("config_upload")
    if not hasattr(upload, "read"):
        return
    limit = 2**20  # a config is a few KB; parsing a 75 MB one would hold the server for seconds
    try:
        if upload.size > limit:
            raise ConfigError("config", upload.name, f"is {upload.size:,} bytes; allowed: at most {limit:,}")
        cfg = cfgmod.loads(upload.getvalue().decode("utf-8", errors="replace"))
    except ConfigError as exc:
        st.session_state["upload_error"] = exc.detached()  # shown on every rerun: keep no frame of the upload
        return
    finally:
        release(upload)
    st.session_state.pop("upload_error", None)
    st.session_state.pop("preset.loaded", None)  # the box names a preset only if this config is one
    cfg, problem = trusted(cfg)
    if problem:
        st.session_state["notice"] = f"From the uploaded config: {problem}."
        st.session_state.pop("notice.config", None)
    ui.load_state(panels.config_state(cfg))


# ---- sidebar -------------------------------------------------------------------------------
def sidebar(cfg) -> None:
    st.title("lrviz")
    st.caption("Learning-rate decay for Adam in Keras 3: see it, train it, take the code home.")
    preset_box(cfg)
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
    with st.expander("Charts", expanded=True):
        chart_options()


def preset_box(cfg) -> None:
    """The preset the settings are, or "your own settings" with what changed since one was loaded."""
    loaded = presets.available().get(st.session_state.get("preset.loaded"))
    match = presets.matching(cfg, loaded) if cfg else None
    st.session_state["preset"] = match.name if match else OWN
    st.selectbox("Preset", [*presets.available(), OWN], key="preset", on_change=apply_preset,
                 help="Load a ready-made schedule, Adam settings and epochs. The article's two recipes "
                      "come first; your data, model and batch size stay as they are.")
    if "preset_error" in st.session_state:
        ui.show_error(st.session_state["preset_error"], "Preset not applied")
    if match:
        st.caption(match.about)
    elif loaded:
        try:
            changed = loaded.changes(cfg) if cfg else []
        except ConfigError:  # the preset itself cannot run over these data
            changed = []
        what = ", ".join(f"`{f}`" for f in changed[:5]) + (", …" if len(changed) > 5 else "") if changed else \
            "settings it cannot run with"
        st.caption(f"Changed since you loaded *{ui.md(loaded.name)}*: {what}. Choose it again to restore it.")


def chart_options() -> None:
    """How charts are drawn (not part of the experiment): kept in the URL by Streamlit itself."""
    st.toggle("log-scale y axis", key="p.log_y", bind="query-params",
              help="Decays over orders of magnitude read better on a log axis.")
    st.slider("loss smoothing", 0.0, 0.99, VIEW["p.smooth"], 0.01, key="p.smooth", bind="query-params",
              help="TensorBoard's smoothing: an exponential moving average of the per-step loss, debiased "
                   "at the start; the raw loss stays faint beneath. 0: no smoothing.")
    st.selectbox("x axis of the run charts", list(figures.X_AXES), key="p.x", bind="query-params",
                 format_func=figures.X_AXES.get, help="Compare runs by optimizer step, epochs, share of "
                 "their training, or wall time.")
    st.toggle("show Adam's step size α_t", key="p.adam", bind="query-params",
              help="Adam's bias correction: α_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ) with t = step + 1 — the step "
                   "Adam really takes differs from lr early in training.")
    if st.toggle("compare with a second schedule", key=panels.COMPARE_ON,
                 help="Overlay another schedule on the same steps (preview only)."):
        with st.container(border=True, key="c.box"):
            st.markdown("**The comparison schedule**")
            ui.schedule_widgets("c", "comparison schedule")


def release(upload) -> None:
    """Streamlit keeps uploaded bytes while the widget shows the file (up to 100 MB per session,
    for the session's life), in its file manager and in the widget's value (a BytesIO: emptied,
    it lets them go). Once read, saved or refused, they are of no more use."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, upload.file_id)  # internal; Streamlit pinned
    upload.truncate(0)


def take_csv_upload() -> None:
    """The CSV uploader's on_change: saved and checked before the page reads the config."""
    upload = st.session_state.get("data.upload")
    if not hasattr(upload, "read"):
        return  # the file was removed from the widget, or released below: the saved copy stays in use
    from lrviz import data

    refused = f"CSV {ui.md(upload.name)} refused"
    try:
        name = uploads.save(upload.name, upload, HOME)  # read in pieces: no second copy of the upload
    except OSError as exc:  # a read-only or full store folder: say so, keep the page
        from lrviz.store import StoreError

        note_csv(error=(StoreError(HOME, f"the upload cannot be saved ({exc.strerror or exc})"), refused))
        return
    finally:
        release(upload)
    try:
        table = data.csv_table(name)
    except ConfigError as exc:
        uploads.discard(name, HOME)
        st.session_state["data.path"] = None
        note_csv(error=(exc, refused))
        return
    st.session_state["data.path"] = name
    shown = ", ".join(ui.md(c) for c in table.columns[:12]) + (", …" if len(table.columns) > 12 else "")
    note_csv(caption=f"{ui.md(upload.name)}: {table.rows:,} rows; columns: {shown}")


def note_csv(error=None, caption=None) -> None:
    # Tied to the data.path it describes: a preset, link or config that sets another path
    # must not show this upload's caption or error. Shown on every rerun, the error keeps no
    # frame: their locals hold the upload.
    error = error and (error[0].detached(), error[1])
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
        st.caption(caption or f"Using {ui.md(path)}")


def show_notice(cfg) -> None:
    """What a link or an uploaded config could not set, shown until the user changes a setting."""
    if "notice" not in st.session_state:
        return
    if st.session_state.setdefault("notice.config", cfg) == cfg:
        st.warning(st.session_state["notice"], icon=":material/link_off:")
    else:
        del st.session_state["notice"], st.session_state["notice.config"]


def current_config():
    """(config, steps per epoch, ready) from the widgets, or (None, None, False) with the reason
    shown. Data "csv" without a file yet keeps the preview on the last data (ready False:
    nothing trains or downloads until a file is there)."""
    get = st.session_state.get
    waiting = get("data.name") == "csv" and not get("data.path")
    if waiting:
        last = (get("config.last") or START.config())["data"]
        params = next(panel.params for panel in panels.PANELS if panel.section == "data")
        state = {**panels.param_state(params, "data", last if last["name"] != "csv" else {}), "data.path": None}
        get = lambda key, default=None: state[key] if key in state else st.session_state.get(key, default)  # noqa: E731
    try:
        cfg = cfgmod.validate(panels.read_config(get))
        spe = cfgmod.steps_per_epoch(cfg)
    except ConfigError as exc:
        ui.show_error(exc)
        return None, None, False
    st.session_state["run.span"] = (spe, spe * cfg["training"]["epochs"])
    if waiting:
        st.info(f"**Upload a CSV file** in the Data panel to train on your own data. Until then the preview "
                f"uses {cfg['data']['name']} ({spe:,} steps per epoch).", icon=":material/upload_file:")
    else:
        st.session_state["config.last"] = cfg
    return cfg, spe, not waiting


def sync_url(cfg: dict) -> None:
    """The settings in the link: the config, the unit of its step counts, this visitor's runs
    (view settings are bound to the URL by their widgets)."""
    wanted = {**urlstate.encode(cfg), **urlstate.encode_units(st.session_state.get("s.units")),
              **urlstate.encode_runs(st.session_state.get("live.ids"))}
    for name in urlstate.OWNED:
        if name not in wanted and name in st.query_params:
            del st.query_params[name]
        elif name in wanted and st.query_params.get(name) != wanted[name]:
            st.query_params[name] = wanted[name]


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


# ---- tabs ----------------------------------------------------------------------------------
def preview_data(cfg, spe, show_errors: bool = True, marks=()):
    """(figure, exact columns) of the preview, with the comparison schedule if it is valid."""
    epochs = cfg["training"]["epochs"]
    options = panels.read_preview(lambda k, d=None: view(k) if k in VIEW else st.session_state.get(k, d),
                                  spe, spe * epochs)
    compare = None
    if options.compare is not None:
        try:
            compare = check_schedule(options.compare, "comparison schedule")
            check_on_run(compare, epochs, spe, "comparison schedule")  # over this run, whatever the data
        except ConfigError as exc:
            if show_errors:
                ui.show_error(exc, "Comparison schedule refused")
    return figures.preview(cfg, spe, compare, options.log_y, options.adam_step, marks)


def preview_tab(cfg, spe) -> None:
    if cfg is None:
        st.info("Fix the setting named above to see the curve.")
        return
    epochs = cfg["training"]["epochs"]
    notes = coverage.notes(cfg["schedule"], epochs, spe)
    for note in notes:
        st.warning(note.text, icon=":material/straighten:")
    for text in coverage.arithmetic(cfg["schedule"], epochs, spe):
        st.info(text, icon=":material/calculate:")
    fig, columns = preview_data(cfg, spe, marks=[(n.step, n.label) for n in notes])
    st.latex(FAMILIES[family_id(cfg["schedule"])].formula)
    st.plotly_chart(fig, key="preview.chart", config={"displaylogo": False})
    lr = columns["learning_rate"]
    cols = st.columns(5)
    cols[0].metric("steps per epoch", f"{spe:,}", help="ceil(training rows / batch size)")
    cols[1].metric("total steps", f"{epochs * spe:,}")
    for col, (label, value, why) in zip(cols[2:], (("first lr", lr[0], "The rate of step 0."),
                                                   ("last lr", lr[-1], "The rate of the run's last step."),
                                                   ("peak lr", lr.max(), "The highest rate of the run."))):
        col.metric(label, ui.fmt(value), help=f"{why} Exact: {value!r}")
    if lr.max() > SANE_RATE:
        st.warning(f"**A peak rate of {ui.fmt(lr.max())} is far above what Adam tolerates** on models like "
                   "these (it usually trains between 1e-4 and 1e-2): expect the loss to diverge.",
                   icon=":material/warning:")
    for i, pit in enumerate(presets.pitfalls(cfg, epochs, spe)):
        st.warning(f"**{pit.title}.** {pit.text}", icon=":material/warning:")
        if pit.curves:
            curves = [figures.Curve(label, s, v, "solid" if j == 0 else "dash")
                      for j, (label, s, v) in enumerate(pit.curves)]
            st.plotly_chart(figures.preview_figure(curves, spe, True, title=pit.title + " (log scale)"),
                            key=f"pitfall.chart.{i}", config={"displaylogo": False})
        if pit.code:
            st.code(pit.code, language="python")


def run_figures(traces) -> tuple:
    """The three run charts drawn as the Charts panel says."""
    log_y, x, smoothing = view("p.log_y"), view("p.x"), view("p.smooth")
    return (figures.lr_figure(traces, log_y, x), figures.loss_figure(traces, log_y, x, smoothing),
            figures.metric_figure(traces, x if x != "step" else "epoch"))


def live_figures(run_id) -> tuple | None:
    """The live view's three figures, rebuilt only when the store sent new rows (or the view
    changed) since the last refresh; otherwise the session's cached figures are sent again.
    None: the run was deleted."""
    trace = get_traces(str(HOME)).get(run_id)
    if trace is None:
        return None
    key = (run_id, trace.last_step, trace.last_epoch, trace.metric, trace.label,
           view("p.log_y"), view("p.x"), view("p.smooth"))
    cached = st.session_state.get("live.figures")
    if cached is None or cached[0] != key:
        cached = st.session_state["live.figures"] = (key, run_figures([trace]))
    return cached[1]


def live_view(engine, store) -> None:
    ids = st.session_state.get("live.ids", [])
    names = {i: (store.run(i) or {}).get("name") or f"run {i}" for i in ids}
    run_id = st.selectbox("Run", ids[::-1], key="live.pick", format_func=lambda i: f"{names[i]} (#{i})",
                          help="Runs started from this page, newest first (the link keeps them).")
    p = engine.progress(run_id)
    if p is None:
        return live_deleted()
    ui.status_line(p)
    st.button("Stop", key="live.stop", on_click=engine.stop, args=(run_id,), disabled=p.get("status") not in ACTIVE,
              help="Stop after the current step; what was recorded stays.")
    if p.get("status") != "queued":  # a queued run has nothing to draw yet: the status line is all
        lr, loss, metric = live_figures(run_id) or (None, None, None)
        if lr is None:
            return live_deleted()
        left, right = st.columns(2)
        left.plotly_chart(lr, key="live.lr", config={"displaylogo": False})
        right.plotly_chart(loss, key="live.loss", config={"displaylogo": False})
        st.plotly_chart(metric, key="live.metric", config={"displaylogo": False})
    now = p.get("status") in ACTIVE
    if st.session_state.get("live.was_active") and not now:
        st.session_state["live.was_active"] = False
        st.rerun()  # the whole page: stop the timer, refresh the runs table
    st.session_state["live.was_active"] = now


def live_deleted() -> None:
    st.caption("This run was deleted.")
    if st.session_state.get("live.was_active"):  # deleted while it trained, here or on another page
        st.session_state["live.was_active"] = False
        st.rerun()  # the whole page: the fragment is drawn again without its timer


def train_tab(cfg, ready, engine, store) -> None:
    if engine is not None:
        engine.warm()  # the user is heading for Train: have a worker ready by the time it is pressed
    st.text_input("Run name", key="train.name", max_chars=100, placeholder="(automatic)",
                  help="Shown in the runs table and chart legends.")
    if st.button("Train", key="train.start", type="primary", disabled=not ready or engine is None,
                 help="Train the model with these settings in a background worker."):
        try:
            run_id = engine.submit(cfg, name=st.session_state.get("train.name") or None)
            st.session_state.setdefault("live.ids", []).append(run_id)
            st.session_state["live.pick"] = run_id
            st.session_state["live.was_active"] = True
            sync_url(cfg)  # the link keeps this visitor's runs
        except ConfigError as exc:
            ui.show_error(exc, "Training refused")
        except Exception as exc:  # noqa: BLE001 - the engine's reason, not a traceback
            ui.show_error(exc, "Could not start training")
    if cfg is not None and not ready:
        st.caption("Upload a CSV file in the Data panel first: the run trains on it.")
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
        st.session_state["runs.new_name"] = ""
        # The box holds the text of the option it showed: set again, it shows the new name.
        st.session_state["runs.target"] = run_id


def delete_run(store) -> None:
    run_id = st.session_state.get("runs.target")
    if run_id is not None and st.session_state.get("runs.sure"):
        engine = get_engine_or_none(quiet=True)
        try:
            (engine or store).delete(run_id)  # the engine stops the run first: nothing trains on
        except Exception as exc:  # noqa: BLE001 - shown by runs_tab
            st.session_state["runs.error"] = exc
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

    traces = get_traces(str(HOME))
    drawn = {r["id"]: traces.get(r["id"], r) for r in runs}
    st.dataframe(pd.DataFrame([panels.run_row(r, drawn[r["id"]]) for r in runs if drawn[r["id"]]]),
                 hide_index=True, key="runs.table")
    names = {r["id"]: f"{r.get('name') or 'run'} (#{r['id']})" for r in runs}
    st.session_state["runs.pick"] = [i for i in st.session_state.get("runs.pick") or [] if i in names]
    picked = st.multiselect("Overlay runs", list(names), key="runs.pick", format_func=names.get,
                            help="Runs to draw on shared axes below; click a run's name in a legend to hide it.")
    overlaid = [drawn[i] for i in picked if drawn.get(i)]
    if overlaid:
        for fig, key in zip(run_figures(overlaid), ("runs.lr", "runs.loss", "runs.metric")):
            st.plotly_chart(fig, key=key, config={"displaylogo": False})
    with st.expander("Rename or delete"):
        target = st.selectbox("Run", list(names), key="runs.target", format_func=names.get,
                              help="The run to rename or delete.")
        new = st.text_input("New name", key="runs.new_name", max_chars=100, help="Any text; shown as plain text.")
        a, b = st.columns(2)
        a.button("Rename", key="runs.rename", disabled=not new.strip(), on_click=rename_run, args=(store,),
                 help="Give the run the new name.")
        sure = b.checkbox("yes, delete it", key="runs.sure", help="Deleting removes the run and all its metrics.")
        b.button("Delete", key="runs.delete", disabled=not sure or target is None, on_click=delete_run,
                 args=(store,), help="Delete the run for good.")


def download_runs(store) -> list:
    """[(id, trace, config)] of the runs overlaid in the Runs tab, else of the run being watched."""
    if store is None:
        return []
    ids = st.session_state.get("runs.pick") or [st.session_state.get("live.pick")]
    runs = [(i, store.run(i)) for i in ids if i is not None]
    traces = get_traces(str(HOME))
    found = [(i, traces.get(i, run), run.get("config")) for i, run in runs if run]
    return [(i, t, run_cfg) for i, t, run_cfg in found if t is not None]  # not deleted meanwhile


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
    lr_fig, loss_fig, metric_fig = run_figures(traces)
    c = st.columns(3)
    for col, (what, name, fig) in zip(c, (("Learning-rate", "lr", lr_fig), ("Loss", "loss", loss_fig),
                                           ("Metric", "metric", metric_fig))):
        download(col, f"{what} chart (HTML)", lambda fig=fig: exports.html(fig), f"lrviz-runs-{name}.html",
                 "text/html", f"dl.runs_{name}_html",
                 f"The runs' {what.lower()} chart as the Runs tab draws it, interactive, works offline.")
    image_buttons(loss_fig, "Loss chart", "lrviz-runs-loss", "dl.runs_img")


def run_downloads(store, run_id, t, run_cfg) -> None:
    c = st.columns(4)
    name, metric = ui.md(t.label), t.metric_name

    def table(kind: str):  # exact rows, read from the store when clicked
        return lambda: exports.run_csv(store, run_id, kind, t.metric)

    download(c[0], f"{name}: per step (CSV)", table("steps"), f"run-{run_id}-steps.csv", "text/csv",
             f"dl.run{run_id}.steps", "step, epoch, learning_rate, loss, wall_time of every step, exact.")
    download(c[1], f"{name}: per epoch (CSV)", table("epochs"), f"run-{run_id}-epochs.csv", "text/csv",
             f"dl.run{run_id}.epochs", f"epoch, learning_rate, loss, val_loss, {metric}, val_{metric}, wall_time.")
    if run_cfg:
        run_cfg = uploads.portable(run_cfg, HOME)  # a run stored before uploads were named by file
        download(c[2], f"{name}: config (JSON)", exports.config_json(run_cfg), f"run-{run_id}-config.json",
                 "application/json", f"dl.run{run_id}.config",
                 "The run's exact settings: load them back or train again from the CLI.")
        download(c[3], f"{name}: Keras script (.py)", lambda: exports.keras_script(run_cfg),
                 f"run-{run_id}-keras.py", "text/x-python", f"dl.run{run_id}.script",
                 "Plain Keras 3 code that trains this run again.")


# ---- the page ------------------------------------------------------------------------------
start_session()
keep()
config, steps_per_epoch, ready = current_config()
show_notice(config)
if config is not None:
    if ready:
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
        ui.guarded("Training failed", train_tab, config, ready, get_engine_or_none(), store)
if runs.open:
    with runs:
        ui.guarded("Runs failed", runs_tab, store)
if downloads.open:
    with downloads:
        ui.guarded("Downloads failed",
                   lambda: downloads_tab(config if ready else None, steps_per_epoch, store))
with st.sidebar:  # after the main area: its widgets' values are in session state already, and
    sidebar(config)  # the preview reaches the browser first
if not train.open:  # made on every visit, quietly (the Train tab says why it cannot): its workers
    get_engine_or_none(quiet=True)  # then start WARM_AFTER seconds later, or when Train is opened
