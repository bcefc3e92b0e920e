"""The sidebar: the preset box, the config uploader, the schedule and the settings panels, the
CSV uploader, and the Charts panel."""
from __future__ import annotations

import streamlit as st

from lrviz import config as cfgmod
from lrviz import data, figures, optimizers, panels, presets, uploads
from lrviz.params import ConfigError

from . import exercise, widgets
from .identity import grant, host_panel
from .resources import home
from .state import apply_preset, apply_upload, release
from .view import VIEW

OWN = "(your own settings)"  # the preset box when the settings are no preset's


def sidebar(cfg) -> None:
    st.title("lrviz")
    st.caption("Learning-rate decay for Adam in Keras 3: see it, train it, take the code home.")
    preset_box(cfg)
    st.file_uploader("Load a config (JSON)", type=["json"], key="config_upload", on_change=apply_upload,
                     disabled=exercise.fixes_any(),
                     help="A config downloaded from this page or written for `python -m lrviz train`.")
    if "upload_error" in st.session_state:
        widgets.show_error(st.session_state["upload_error"], "Uploaded config refused")
    if widgets.fixed("s.family") != "hidden":
        st.subheader("Schedule")
        widgets.schedule_widgets("s", "schedule")
    defaults = cfgmod.default()
    for panel in panels.PANELS:
        widgets.ensure_state(panels.param_state(panel.params, panel.section, panels.panel_values(defaults, panel.section)))
        if all(widgets.fixed(f"{panel.section}.{p.name}") == "hidden" for p in panels.shown(panel, st.session_state.get)):
            continue  # the exercise hides the whole panel
        box = st.expander(panel.title, expanded=panel.section == "optimizer", key=f"panel.{panel.section}",
                          on_change="rerun")
        if panel.section == "optimizer":
            switch_optimizer()
        if box.open:  # a closed panel's widgets are not drawn (a sooner first page); keep() holds their values
            with box:
                widgets.params_widgets(panels.shown(panel, st.session_state.get), panel.section, panel.section)
                if panel.section == "data":
                    csv_upload()
                if panel.section == "optimizer" and st.session_state.get("optimizer.class_name") == optimizers.SCHEDULE_FREE:
                    st.caption("Schedule-free AdamW (Defazio et al. 2024) needs no decay: it trains at y, a blend of "
                               "its step sequence z and their running average x, and is validated at x — both "
                               "val_losses are recorded. Pair it with the Constant schedule (a schedule still "
                               "applies on top of it if you choose one).")
    with st.expander("Charts", expanded=True):
        chart_options()
    exercise.maker(cfg)
    host_panel()


def switch_optimizer() -> None:
    """Settings still at one optimizer's defaults take the other's when the class changes."""
    now, was = st.session_state.get("optimizer.class_name"), st.session_state.get(panels.CLASS_WAS)
    if was is not None and now != was:
        for key, value in panels.class_switch(st.session_state.get, was, now).items():
            st.session_state[key] = value
    st.session_state[panels.CLASS_WAS] = now


def preset_box(cfg) -> None:
    """The preset the settings are, or "your own settings" with what changed since one was loaded."""
    loaded = presets.available().get(st.session_state.get("preset.loaded"))
    match = presets.matching(cfg, loaded) if cfg else None
    st.session_state["preset"] = match.name if match else OWN
    st.selectbox("Preset", [*presets.available(), OWN], key="preset", on_change=apply_preset,
                 disabled=exercise.fixes_any(),
                 help="Load a ready-made schedule, Adam settings and epochs. The article's two recipes "
                      "come first; your data, model and batch size stay as they are.")
    if "preset_error" in st.session_state:
        widgets.show_error(st.session_state["preset_error"], "Preset not applied")
    if match:
        st.caption(match.about)
    elif loaded:
        try:
            changed = loaded.changes(cfg) if cfg else []
        except ConfigError:  # the preset itself cannot run over these data
            changed = []
        what = ", ".join(f"`{f}`" for f in changed[:5]) + (", …" if len(changed) > 5 else "") if changed else \
            "settings it cannot run with"
        st.caption(f"Changed since you loaded *{widgets.md(loaded.name)}*: {what}. Choose it again to restore it.")


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
            widgets.schedule_widgets("c", "comparison schedule")


def take_csv_upload() -> None:
    """The CSV uploader's on_change: saved and checked before the page reads the config."""
    upload = st.session_state.get("data.upload")
    if not hasattr(upload, "read"):
        return  # the file was removed from the widget, or released below: the saved copy stays in use

    refused = f"CSV {widgets.md(upload.name)} refused"
    try:
        name = uploads.save(upload.name, upload, home())  # read in pieces: no second copy of the upload
    except OSError as exc:  # a read-only or full store folder: say so, keep the page
        from lrviz.store import StoreError

        note_csv(error=(StoreError(home(), f"the upload cannot be saved ({exc.strerror or exc})"), refused))
        return
    finally:
        release(upload)
    try:
        table = data.csv_table(name)
    except ConfigError as exc:
        uploads.discard(name, home())
        st.session_state["data.path"] = None
        note_csv(error=(exc, refused))
        return
    grant(name)
    st.session_state["data.path"] = name
    shown = ", ".join(widgets.md(c) for c in table.columns[:12]) + (", …" if len(table.columns) > 12 else "")
    note_csv(caption=f"{widgets.md(upload.name)}: {table.rows:,} rows; columns: {shown}")


def note_csv(error=None, caption=None) -> None:
    # Tied to the data.path it describes: a preset, link or config that sets another path
    # must not show this upload's caption or error. Shown on every rerun, the error keeps no
    # frame: their locals hold the upload.
    error = error and (error[0].detached(), error[1])
    st.session_state["csv.note"] = (st.session_state.get("data.path"), error, caption)


def csv_upload() -> None:
    if not data.reads_file(st.session_state.get("data.name")):
        return
    if widgets.fixed("data.path"):  # the exercise's file
        return st.caption(f"Using {widgets.md(st.session_state.get('data.path'))}, the exercise's file.")
    st.file_uploader("CSV file", type=["csv"], key="data.upload", on_change=take_csv_upload,
                     help="A header row and numeric columns; the target is the last column "
                          "unless you set one. At most 200,000 rows.")
    path = st.session_state.get("data.path")
    about, error, caption = st.session_state.get("csv.note") or (None, None, None)
    if about != path:
        error = caption = None
    if error:
        widgets.show_error(*error)
    elif path:
        st.caption(caption or f"Using {widgets.md(path)}")
