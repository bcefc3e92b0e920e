"""The Runs tab: your runs (or everyone's, to look at) in a table, overlays on shared axes,
rename and delete (your own; the host's: all)."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from lrviz import panels, visitors

from . import widgets
from .exercise import current as current_exercise
from .identity import visitor
from .resources import get_engine_or_none, get_traces, home
from .view import run_figures


# Callbacks run before the page is drawn again, so the table shows the change at once.
def rename_run(store) -> None:
    run_id, name = st.session_state.get("runs.target"), st.session_state.get("runs.new_name", "").strip()
    if run_id is not None and name:
        try:
            visitor().rename(store, run_id, name)
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
            if engine is None:
                visitor().check(store.run(run_id), "run", run_id)
                store.delete(run_id)
            else:
                visitor().delete(engine, run_id)  # the engine stops the run first: nothing trains on
        except Exception as exc:  # noqa: BLE001 - shown by runs_tab
            st.session_state["runs.error"] = exc
    st.session_state["runs.sure"] = False


MINE, EVERYONE, EXERCISE = "Mine", "Everyone's", "The exercise's"


def runs_tab(store) -> None:
    if store is None:
        return
    if "runs.error" in st.session_state:
        widgets.show_error(st.session_state.pop("runs.error"), "The store refused")
    me = visitor()
    exercises = dict(store.exercises_by(me.id))  # a teacher sees the class's runs without joining
    if me.exercise:
        exercises = {me.exercise: current_exercise().name, **exercises}
    whose = st.segmented_control("Whose runs", (MINE, EVERYONE, EXERCISE) if exercises else (MINE, EVERYONE),
                                 key="runs.whose", default=EXERCISE if me.exercise else MINE,
                                 help="Yours, every visitor's, or the whole class's runs of an exercise (the one "
                                      "you came by, or one you made), drawn together: others' runs you can overlay "
                                      "and download, not change.") or MINE
    everyone = store.runs()
    runs = [r for r in everyone if me.owns(r)]
    if whose == EVERYONE:
        runs = everyone
    elif whose == EXERCISE:
        exercise_id = st.selectbox("Exercise", list(exercises), key="runs.exercise", format_func=exercises.get,
                                   help="The exercise whose runs are drawn.")
        runs = store.runs(exercise=exercise_id)
    if not runs:
        st.caption("No runs here yet: train one in the Train tab.")
        return
    import pandas as pd  # here, not at the top: the first page draws sooner without it

    traces = get_traces(str(home()))
    drawn = {r["id"]: traces.get(r["id"], r) for r in runs}
    who = visitors.aliases(everyone, me)
    shown = [r for r in runs if drawn[r["id"]]]
    rows = [panels.run_row(r, drawn[r["id"]]) for r in shown]
    if whose != MINE:  # who made each run, beside its name
        rows = [{"id": row.pop("id"), "name": row.pop("name"), "by": who[r["visitor"]], **row}
                for row, r in zip(rows, shown)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="runs.table")
    names = {r["id"]: f"{r.get('name') or 'run'} (#{r['id']})" + ("" if me.owns(r) else f" · {who[r['visitor']]}")
             for r in runs}
    if whose == EXERCISE:  # the class view: every run of the exercise on shared axes
        picked = list(names)
    else:
        st.session_state["runs.pick"] = [i for i in st.session_state.get("runs.pick") or [] if i in names]
        picked = st.multiselect("Overlay runs", list(names), key="runs.pick", format_func=names.get,
                                help="Runs to draw on shared axes below; click a run's name in a legend to hide it.")
    overlaid = [drawn[i] if whose == MINE else replace(drawn[i], label=names[i]) for i in picked if drawn.get(i)]
    if overlaid:
        for fig, key in zip(run_figures(overlaid), ("runs.lr", "runs.loss", "runs.metric", "runs.inside")):
            st.plotly_chart(fig, key=key, config={"displaylogo": False})
    mine = [r["id"] for r in runs if me.manages(r)]
    with st.expander("Rename or delete"):
        if not mine:
            return st.caption("Only your own runs can be renamed or deleted.")
        target = st.selectbox("Run", mine, key="runs.target", format_func=names.get,
                              help="The run to rename or delete: yours" + (", or any, as the host." if me.admin else "."))
        new = st.text_input("New name", key="runs.new_name", max_chars=100, help="Any text; shown as plain text.")
        a, b = st.columns(2)
        a.button("Rename", key="runs.rename", disabled=not new.strip(), on_click=rename_run, args=(store,),
                 help="Give the run the new name.")
        sure = b.checkbox("yes, delete it", key="runs.sure", help="Deleting removes the run and all its metrics.")
        b.button("Delete", key="runs.delete", disabled=not sure or target is None, on_click=delete_run,
                 args=(store,), help="Delete the run for good.")
