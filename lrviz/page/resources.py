"""One engine, one store and one set of traces per server (Streamlit's cache_resource), the
run folder they live in, and the server's imports warmed once."""
from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path

import streamlit as st

from lrviz.store import default_home

from . import widgets

# The workers' TensorFlow import slows the browser on a small machine: they start when the user
# opens the Train tab, or this many seconds after the first page, or on Train, whichever is first.
WARM_AFTER = 10.0
# What the pages import on first use (data sets, smoothing, tests, tables). Importing one holds the
# server's GIL for 0.3-0.7 s, which stalled every session and /_stcore/health when a class first
# trained, smoothed or listed runs; imported ahead, each once no page or live view has run for QUIET
# seconds (not during a class's first pages either).
LAZY_IMPORTS = ("sklearn.datasets", "scipy.signal", "scipy.stats", "pandas")
QUIET = 1.0


def home() -> Path:
    """LRVIZ_HOME as it is now (read on every run: tests and hosts set it per server)."""
    return default_home()


@st.cache_resource(show_spinner=False)
def get_engine(home: str):
    """The local pool, or the Ray cluster's when LRVIZ_RAY_ADDRESS names one. A cluster that
    cannot be reached leaves the local pool training, with the reason in its `notice` (the
    Train tab shows it) until the server restarts. Either shuts its workers down at exit."""
    from lrviz import executor

    try:
        return executor.start(home, warm_after=WARM_AFTER)
    except executor.Unreachable as exc:
        from lrviz.pool import Pool

        engine = Pool(home, warm_after=WARM_AFTER)
        engine.notice = f"{exc}. Runs train on this machine instead (restart the app to try the cluster again)."
        return engine


@st.cache_resource(show_spinner=False)
def get_store(home: str):
    """The engine's store: the engine marks what a crashed server left running as interrupted,
    before the first page lists it. A plain one, for reading, where the engine cannot start
    (a full disk: its runs can still be read, and the Train tab names the problem)."""
    from lrviz.store import Store

    try:
        return get_engine(home).store
    except Exception:  # noqa: BLE001 - get_engine_or_none says why where training is offered
        return Store(home)  # one SQLite connection per thread, made on first use


@st.cache_resource(show_spinner=False)
def get_traces(home: str):
    """What the run charts draw, shared by every session (lrviz.traces)."""
    from lrviz.traces import Traces

    return Traces(get_store(home))


def get_store_or_none():
    try:
        return get_store(str(home()))
    except Exception as exc:  # noqa: BLE001 - a broken store must not take the preview down
        widgets.show_error(exc, "The run store could not be opened")
    return None


def get_engine_or_none(quiet: bool = False):
    """The engine, or None with the reason shown (unless quiet)."""
    try:
        return get_engine(str(home()))
    except ImportError as exc:
        if not quiet:
            st.info(f"Training is not available in this installation ({widgets.md(exc)}).")
    except Exception as exc:  # noqa: BLE001 - the reason, not a traceback
        if not quiet:
            widgets.show_error(exc, "The training engine could not start")
    return None


class Warmup:
    """Imports these modules in a thread of its own, one by one, while the server is quiet."""

    def __init__(self, names: tuple[str, ...] = LAZY_IMPORTS, quiet: float = QUIET):
        self.names, self.quiet, self.last = names, quiet, time.monotonic()
        self.thread = threading.Thread(target=self._load, name="lrviz-warm-imports", daemon=True)
        self.thread.start()

    def busy(self) -> None:
        """A page or a live view is running: wait `quiet` seconds more."""
        self.last = time.monotonic()

    def _load(self) -> None:
        for name in self.names:
            while (wait := self.last + self.quiet - time.monotonic()) > 0:
                time.sleep(wait)
            try:
                importlib.import_module(name)
            except ImportError:  # not installed: the page that needs it says so, if it is ever asked for
                continue


@st.cache_resource(show_spinner=False)
def get_warmup() -> Warmup:
    return Warmup()
