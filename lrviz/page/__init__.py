"""lrviz, the page: widgets -> one config -> library calls -> figures.

`streamlit run app.py` calls main() on every run. This is the one package that imports
Streamlit, and its process never imports TensorFlow: training happens in the engine's spawned
workers, and the page reads their rows from the store. One module per tab and panel.
"""
from __future__ import annotations

import sys

import streamlit as st

from lrviz import optimizers
from lrviz.schedules import FAMILIES, family_id

from . import exercise, widgets
from .downloads import downloads_tab
from .experiments import experiments_tab
from .identity import set_cookie
from .preview import preview_tab
from .resources import get_engine_or_none, get_store_or_none, preloading
from .runs import runs_tab
from .sidebar import sidebar
from .state import current_config, keep, show_notice, start_session, sync_url
from .train import train_tab

# One server process serves every session under one GIL, next to the training workers. With
# Python's default 5 ms switch interval, a thread answering /_stcore/health waits behind every
# script run's bytecode in 5 ms slices; 1 ms lets it in sooner (server-wide, harmless elsewhere).
sys.setswitchinterval(0.001)
TABS = (":material/show_chart: Preview", ":material/model_training: Train", ":material/science: Experiments",
        ":material/table_rows: Runs", ":material/download: Downloads")


@preloading
def main() -> None:
    st.set_page_config(page_title="lrviz: learning-rate decay for Adam", page_icon=":material/trending_down:",
                       layout="wide")
    start_session()
    keep()
    exercise.hold()
    config, steps_per_epoch, ready = current_config()
    show_notice(config)
    if config is not None:
        if ready:
            sync_url(config)
        fam = FAMILIES[family_id(config["schedule"])]
        st.markdown(f"#### {fam.label} · {config['training']['epochs']} epochs × {steps_per_epoch:,} steps "
                    f"· batch {config['training']['batch_size']} · {optimizers.title(config['optimizer'])}")
    exercise.banner()
    # Only the open tab runs (on_change="rerun"): a first visit draws the preview alone, sooner.
    preview, train, experiments, runs, downloads = st.tabs(TABS, key="main.tab", on_change="rerun")
    if preview.open:
        with preview:
            widgets.guarded("Preview failed", preview_tab, config, steps_per_epoch)
    store = get_store_or_none()
    if train.open:
        with train:
            widgets.guarded("Training failed", train_tab, config, ready, get_engine_or_none(), store)
    if experiments.open:
        with experiments:
            widgets.guarded("Experiments failed", experiments_tab, config, ready, get_engine_or_none(), store)
    if runs.open:
        with runs:
            widgets.guarded("Runs failed", runs_tab, store)
    if downloads.open:
        with downloads:
            widgets.guarded("Downloads failed",
                            lambda: downloads_tab(config if ready else None, steps_per_epoch, store))
    with st.sidebar:  # after the main area: its widgets' values are in session state already, and
        sidebar(config)  # the preview reaches the browser first
    set_cookie()
    if not (train.open or experiments.open):  # made on every visit, quietly (the Train tab says why it cannot): its workers
        get_engine_or_none(quiet=True)  # then start WARM_AFTER seconds later, or when Train is opened
