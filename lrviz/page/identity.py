"""Who this session is (lrviz.visitors): the visitor its cookie names, or a newcomer whose
cookie the page sets once; and the host, once they give the admin token."""
from __future__ import annotations

import json
import secrets

import streamlit as st

from lrviz import visitors
from lrviz.params import ConfigError

from . import widgets
from .resources import get_store_or_none, home

YEAR_S = 365 * 24 * 3600


def identify() -> None:
    """The session's visitor, from the cookie its browser sent (a reload, a second tab), else a
    new one whose cookie set_cookie() writes."""
    try:
        ident = visitors.verify(cookie(), home())
        if ident is None:
            ident, st.session_state["visitor.cookie"] = visitors.issue(home())  # the cookie set_cookie writes
    except (OSError, ConfigError):  # no secret in a run folder that cannot be written: nor any run to own
        ident = secrets.token_urlsafe(16)  # a visitor for this session alone; the page names the folder's problem
    st.session_state["visitor.id"] = ident


def cookie() -> str | None:
    return st.context.cookies.get(visitors.COOKIE)


def visitor() -> visitors.Visitor:
    """This session's visitor; never the host's Visitor() (no id), which manages every run."""
    if not st.session_state.get("visitor.id"):
        identify()  # a session whose first run failed before it knew its visitor
    return visitors.Visitor(st.session_state["visitor.id"], bool(st.session_state.get("visitor.admin")),
                            st.session_state.get("exercise.id"))


def set_cookie() -> None:
    """Streamlit cannot set a cookie from the server: the page's script does, for a newcomer, on
    every run of the session (a run cut short by the next one may never reach the browser; the
    session knows its visitor already, the next session reads the cookie)."""
    token = st.session_state.get("visitor.cookie")
    if token:
        cookie = json.dumps(f"{visitors.COOKIE}={token}; path=/; max-age={YEAR_S}; SameSite=Lax")
        st.html(f"<script>document.cookie = {cookie};</script>", unsafe_allow_javascript=True)


def grant(name: str) -> None:
    """This visitor may train on the upload from now on (lrviz.uploads.check_granted)."""
    store = get_store_or_none()
    if store is not None:
        store.grant(visitor().id, name)


def may_read(name: str) -> bool:
    store = get_store_or_none()
    return store is not None and store.granted(visitor().id, name)


def take_admin_token() -> None:
    given = st.session_state.get("visitor.admin_token") or ""
    st.session_state["visitor.admin_token"] = ""  # not kept in the session, nor sent back to the browser
    if visitors.is_admin_token(given):
        st.session_state["visitor.admin"] = True
        st.session_state.pop("visitor.admin_error", None)
    elif given:
        st.session_state["visitor.admin_error"] = True


def host_panel() -> None:
    """The host's way in: offered only when the host set $LRVIZ_ADMIN_TOKEN."""
    if not visitors.admin_offered():
        return
    box = st.expander("Host", key="panel.host", on_change="rerun")
    if not box.open:
        return
    with box:
        if st.session_state.get("visitor.admin"):
            st.caption("You manage every visitor's runs and experiments in this session.")
            st.button("Leave host mode", key="visitor.leave", on_click=lambda: st.session_state.pop("visitor.admin"))
            return
        st.text_input("Admin token", key="visitor.admin_token", type="password", on_change=take_admin_token,
                      help=f"The host's token (${visitors.ADMIN_ENV} on the server): stop, rename and delete "
                           "every visitor's runs.")
        if st.session_state.get("visitor.admin_error"):
            st.error(f"**Admin token refused** — {widgets.md(visitors.ADMIN_ENV)}: not this instance's token")
