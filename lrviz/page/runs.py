"""The Runs tab: every stored run in a table, overlays on shared axes, rename and delete."""
from __future__ import annotations

import streamlit as st

from lrviz import panels

from . import widgets
from .resources import get_engine_or_none, get_traces, home
from .view import run_figures


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
        widgets.show_error(st.session_state.pop("runs.error"), "The store refused")
    runs = store.runs()
    if not runs:
        st.caption("No runs yet: train one in the Train tab.")
        return
    import pandas as pd  # here, not at the top: the first page draws sooner without it

    traces = get_traces(str(home()))
    drawn = {r["id"]: traces.get(r["id"], r) for r in runs}
    st.dataframe(pd.DataFrame([panels.run_row(r, drawn[r["id"]]) for r in runs if drawn[r["id"]]]),
                 hide_index=True, key="runs.table")
    names = {r["id"]: f"{r.get('name') or 'run'} (#{r['id']})" for r in runs}
    st.session_state["runs.pick"] = [i for i in st.session_state.get("runs.pick") or [] if i in names]
    picked = st.multiselect("Overlay runs", list(names), key="runs.pick", format_func=names.get,
                            help="Runs to draw on shared axes below; click a run's name in a legend to hide it.")
    overlaid = [drawn[i] for i in picked if drawn.get(i)]
    if overlaid:
        for fig, key in zip(run_figures(overlaid), ("runs.lr", "runs.loss", "runs.metric", "runs.inside")):
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
