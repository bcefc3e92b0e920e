"""The Train tab: Train, the live view of a run as it trains, Stop."""
from __future__ import annotations

import streamlit as st

from lrviz import model_view
from lrviz.params import ConfigError

from . import widgets
from .identity import visitor
from .resources import get_traces, home, preloading
from .view import run_figures, view

INSIDE_NOTE = ("Inside the optimizer: ‖Δθ‖/‖θ‖ says how far each step moved a layer relative to its size (around "
               "1e-3 is the usual rule of thumb; far above, the rate is too high for that layer). |Δθ| is the step "
               "each parameter took: Adam's steps are near the rate whatever the gradient's size, which is what "
               "its division by √v̂ does. The bias correction is the factor Adam puts on the rate early on, before "
               "its moving averages have warmed up. Recorded at every step; the CSV per step has them all.")
VIEW_NOTE = ("The model's view: what the network predicts over the plane of its two inputs (or along its one "
             "input) after each epoch, with the training points; drag the slider or press play. A high rate "
             "makes the boundary jump from epoch to epoch; decay lets it settle.")
LIVE_EVERY = 1.0  # seconds between live refreshes while a run of this session is active
ACTIVE = ("queued", "running")
MAX_LISTED = 200  # the newest of a visitor's runs the Train tab offers (the Runs tab lists every one)


def live_figures(run_id) -> tuple | None:
    """The live view's three figures, rebuilt only when the store sent new rows (or the view
    changed) since the last refresh; otherwise the session's cached figures are sent again.
    None: the run was deleted."""
    trace = get_traces(str(home())).get(run_id)
    if trace is None:
        return None
    key = (run_id, trace.last_step, trace.last_epoch, trace.metric, trace.label,
           view("p.log_y"), view("p.x"), view("p.smooth"))
    cached = st.session_state.get("live.figures")
    if cached is None or cached[0] != key:
        cached = st.session_state["live.figures"] = (key, run_figures([trace]))
    return cached[1]


def live_view_figure(store, run_id, epoch):
    """The model's view of the run (lrviz.model_view), rebuilt only when an epoch was added."""
    cached = st.session_state.get("live.view_figure")
    if cached is None or cached[0] != (run_id, epoch):
        cached = st.session_state["live.view_figure"] = ((run_id, epoch), model_view.figure(store, run_id))
    return cached[1]


def own_runs(store) -> dict[int, str]:
    """This visitor's runs started with Train, newest first: id -> name (the store keeps them,
    so a reload or a second tab shows them too)."""
    return {r["id"]: r["name"] for r in store.runs(visitor().id, single=True)[::-1][:MAX_LISTED]}


@preloading
def live_view(engine, store) -> None:
    names = own_runs(store)
    if st.session_state.get("live.pick") not in names:
        st.session_state.pop("live.pick", None)  # deleted meanwhile: show the newest
    run_id = st.selectbox("Run", list(names), key="live.pick", format_func=lambda i: f"{names[i]} (#{i})",
                          help="Your runs started with Train, newest first.")
    if run_id is None:  # the last of them was deleted, here or on another page
        return live_deleted()
    p = engine.progress(run_id)
    if p is None:
        return live_deleted()
    widgets.status_line(p)
    st.button("Stop", key="live.stop", on_click=stop, args=(engine, run_id), disabled=p.status not in ACTIVE,
              help="Stop after the current step; what was recorded stays.")
    if p.status != "queued":  # a queued run has nothing to draw yet: the status line is all
        lr, loss, metric, inside = live_figures(run_id) or (None,) * 4
        if lr is None:
            return live_deleted()
        left, right = st.columns(2)
        left.plotly_chart(lr, key="live.lr", config={"displaylogo": False})
        right.plotly_chart(loss, key="live.loss", config={"displaylogo": False})
        st.plotly_chart(metric, key="live.metric", config={"displaylogo": False})
        st.plotly_chart(inside, key="live.inside", config={"displaylogo": False})
        st.caption(INSIDE_NOTE)
        view = live_view_figure(store, run_id, p.epoch)
        if view is not None:
            st.plotly_chart(view, key="live.view", config={"displaylogo": False})
            st.caption(VIEW_NOTE)
    now = p.status in ACTIVE
    if st.session_state.get("live.was_active") and not now:
        st.session_state["live.was_active"] = False
        st.rerun()  # the whole page: stop the timer, refresh the runs table
    st.session_state["live.was_active"] = now


def stop(engine, run_id: int) -> None:
    widgets.guarded("Stop failed", visitor().stop, engine, run_id)


def live_deleted() -> None:
    st.caption("This run was deleted.")
    if st.session_state.get("live.was_active"):  # deleted while it trained, here or on another page
        st.session_state["live.was_active"] = False
        st.rerun()  # the whole page: the fragment is drawn again without its timer


def train_tab(cfg, ready, engine, store) -> None:
    if engine is not None:
        engine.warm()  # the user is heading for Train: have a worker ready by the time it is pressed
        widgets.engine_line(engine)
    st.text_input("Run name", key="train.name", max_chars=100, placeholder="(automatic)",
                  help="Shown in the runs table and chart legends.")
    if st.button("Train", key="train.start", type="primary", disabled=not ready or engine is None,
                 help="Train the model with these settings in a background worker."):
        try:
            run_id = engine.submit(cfg, name=st.session_state.get("train.name") or None, by=visitor())
            st.session_state["live.pick"] = run_id
            st.session_state["live.was_active"] = True
        except ConfigError as exc:
            widgets.show_error(exc, "Training refused")
        except Exception as exc:  # noqa: BLE001 - the engine's reason, not a traceback
            widgets.show_error(exc, "Could not start training")
    if cfg is not None and not ready:
        st.caption("Upload a CSV file in the Data panel first: the run trains on it.")
    ids = own_runs(store) if store is not None else {}
    if engine is None or not ids:
        st.caption("Press Train: the learning rate, loss and metric appear here while the model trains.")
        return
    active = set(engine.active())
    every = LIVE_EVERY if any(i in active for i in ids) else None
    st.fragment(lambda: widgets.guarded("Live view failed", live_view, engine, store), run_every=every)()
