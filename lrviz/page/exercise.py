"""Exercise links on the page (lrviz.exercises): opening one, holding its fixed controls on
every run, the banner that says what is fixed, and the panel a teacher makes a link with."""
from __future__ import annotations

import streamlit as st

from lrviz import exercises, panels
from lrviz.exercises import PARAM

from . import widgets
from .identity import grant, visitor
from .resources import get_store_or_none


def open_link() -> str | None:
    """The exercise the link names, for this session: its setup loaded, its CSV readable. A
    problem to show when the link names none this server has."""
    ident = st.query_params.get(PARAM)
    if not ident:
        return None
    store = get_store_or_none()
    found = exercises.get(store, ident) if store is not None else None
    if found is None:
        return f"The exercise {widgets.md(ident[:32])} does not exist on this server: showing the usual page."
    st.session_state["exercise"] = found
    st.session_state["exercise.id"] = found.id
    st.session_state["exercise.fixed"] = {**{c: "hidden" for c in found.hidden}, **{c: "locked" for c in found.locked}}
    path = found.config["data"].get("path")
    if path:
        grant(path)  # the teacher's CSV: this visitor may train on it, in the exercise or not
    return None


def current() -> exercises.Exercise | None:
    return st.session_state.get("exercise")


def fixes_any() -> bool:
    """Whether the session's exercise fixes some setting: presets and config files then stay shut."""
    return bool(current() and current().fixed)


def setup_state() -> dict:
    """Every widget value of the exercise's setup."""
    return panels.config_state(current().config)


def hold() -> None:
    """Put the fixed controls back to the exercise's values (a preset, an uploaded config or a
    forged widget value cannot move them; the server refuses such a run anyway)."""
    ex = current()
    if ex is None or not ex.fixed:
        return
    for key, value in setup_state().items():
        if exercises.control_of(key) in ex.fixed and st.session_state.get(key) != value:
            st.session_state[key] = value


def banner() -> None:
    ex = current()
    if ex is None:
        return
    fixed = ", ".join(f"`{c}`" for c in ex.fixed) or "nothing"
    st.info(f"**Exercise: {widgets.md(ex.name)}.** Fixed by the exercise: {fixed}. Your runs are part of the "
            "exercise: the Runs tab shows the whole class's side by side.", icon=":material/school:")


def maker(cfg) -> None:
    """The panel a teacher makes an exercise link with: the current settings, with the chosen
    controls hidden or locked."""
    box = st.expander("Exercise link", key="panel.exercise", on_change="rerun")
    if not box.open:  # drawn once opened: a first page without its widgets is drawn sooner
        return
    with box:
        st.caption("A link that starts every student from these settings, with the controls you choose "
                   "hidden or locked; the Runs tab then overlays every student's runs of it.")
        st.text_input("Exercise name", key="exercise.name", max_chars=exercises.MAX_NAME,
                      help="What students see at the top of the page.")
        hide = st.multiselect("Hide", exercises.CONTROLS, key="exercise.hide",
                              help="Not shown to students at all; fixed at the current value.")
        lock = st.multiselect("Lock", [c for c in exercises.CONTROLS if c not in hide], key="exercise.lock",
                              help="Shown to students, greyed out; fixed at the current value.")
        if st.button("Make the link", key="exercise.make", disabled=cfg is None,
                     help="Store these settings as an exercise and show its link."):
            try:
                made = exercises.make(get_store_or_none(), st.session_state.get("exercise.name"), cfg, hide, lock,
                                      visitor().id)
            except Exception as exc:  # noqa: BLE001 - a ConfigError names the field; anything else its reason
                return widgets.show_error(exc, "Exercise not made")
            base = (st.context.url or "").rstrip("/")
            st.session_state["exercise.link"] = f"{base}/?{PARAM}={made.id}"
        if st.session_state.get("exercise.link"):
            st.code(st.session_state["exercise.link"], language=None)
