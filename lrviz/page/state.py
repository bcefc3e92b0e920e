"""The session's settings: a link, a preset or an uploaded JSON all load through
panels.config_state; the widgets' values become one validated config."""
from __future__ import annotations

import streamlit as st

from lrviz import config as cfgmod
from lrviz import panels, presets, uploads, urlstate
from lrviz.data import reads_file
from lrviz.params import ConfigError

from . import exercise, identity, widgets
from .resources import home

START = presets.PRESETS[0]  # the article's recipe greets a new visitor
KEPT = ("train.name", "live.pick", "runs.pick",  # widgets in tabs that are not always drawn,
        "exercise.name", "exercise.hide", "exercise.lock",  # and in the exercise panel,
        "s.units", "c.units")  # and units, drawn only for families that count steps
KEPT_PREFIXES = tuple(f"{panel.section}." for panel in panels.PANELS)  # and in closed panels
UNSETTABLE = ("data.upload",)  # Streamlit refuses to set a file uploader's value


def start_session() -> None:
    if st.session_state.get("started"):
        return
    identity.identify()  # first: a session that failed here tries again, never without a visitor
    st.session_state["started"] = True
    missing = exercise.open_link()
    cfg, problem = urlstate.decode(st.query_params)
    if problem:
        st.session_state["notice"] = f"The link's settings were not used: {widgets.md(problem)}. Showing the defaults."
    if missing:
        st.session_state["notice"] = missing
    if cfg:
        cfg, problem = trusted(cfg)
        if problem:
            st.session_state["notice"] = f"From the link: {problem}."
    if cfg is None and exercise.current():
        return widgets.load_state(exercise.setup_state())  # the exercise's setup, to start from
    if cfg is None:
        widgets.load_state(START.state())
        st.session_state["preset.loaded"] = START.name
        return
    try:
        widgets.load_state(panels.config_state(cfg, urlstate.decode_units(st.query_params)))
    except ConfigError:  # the link's CSV cannot be read any more: its step counts as steps
        widgets.load_state(panels.config_state(cfg))


def trusted(cfg: dict) -> tuple[dict, str | None]:
    """A config from outside (a link, an uploaded JSON) may name only CSVs this visitor uploaded here."""
    path = cfg["data"].get("path")
    name = uploads.trusted(path, home())
    if name and not identity.may_read(name):
        name = None
    if path is None or name == path:
        return cfg, None
    if name:  # an upload named by its old absolute path
        return {**cfg, "data": {**cfg["data"], "path": name}}, None
    name = cfg["data"]["name"]
    data = {**cfg["data"], "path": None, "name": START.config()["data"]["name"] if reads_file(name) else name}
    return {**cfg, "data": data}, f"data.path {widgets.md(path)} ignored: only CSV files you uploaded here can be used"


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
        widgets.load_state({k: v for k, v in state.items() if not k.startswith(keep)})
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
    widgets.load_state(panels.config_state(cfg))


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
    waiting = reads_file(get("data.name")) and not get("data.path")
    if waiting:
        last = (get("config.last") or START.config())["data"]
        params = next(panel.params for panel in panels.PANELS if panel.section == "data")
        state = {**panels.param_state(params, "data", {} if reads_file(last["name"]) else last), "data.path": None}
        get = lambda key, default=None: state[key] if key in state else st.session_state.get(key, default)  # noqa: E731
    try:
        cfg = cfgmod.validate(panels.read_config(get))
        spe = cfgmod.steps_per_epoch(cfg)
    except ConfigError as exc:
        widgets.show_error(exc)
        return None, None, False
    st.session_state["run.span"] = (spe, spe * cfg["training"]["epochs"])
    if waiting:
        st.info(f"**Upload a CSV file** in the Data panel to train on your own data. Until then the preview "
                f"uses {cfg['data']['name']} ({spe:,} steps per epoch).", icon=":material/upload_file:")
    else:
        st.session_state["config.last"] = cfg
    return cfg, spe, not waiting


def sync_url(cfg: dict) -> None:
    """The settings in the link: the config and the unit of its step counts (view settings are
    bound to the URL by their widgets). Not who you are: that is the cookie's (identity)."""
    wanted = {**urlstate.encode(cfg), **urlstate.encode_units(st.session_state.get("s.units"))}
    for name in urlstate.OWNED:
        if name not in wanted and name in st.query_params:
            del st.query_params[name]
        elif name in wanted and st.query_params.get(name) != wanted[name]:
            st.query_params[name] = wanted[name]


def release(upload) -> None:
    """Streamlit keeps uploaded bytes while the widget shows the file (up to 100 MB per session,
    for the session's life), in its file manager and in the widget's value (a BytesIO: emptied,
    it lets them go). Once read, saved or refused, they are of no more use."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, upload.file_id)  # internal; Streamlit pinned
    upload.truncate(0)
