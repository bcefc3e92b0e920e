"""One engine, one store and one set of traces per server (Streamlit's cache_resource), the
run folder they live in, and the modules the server preloads."""
from __future__ import annotations

import contextlib
import functools
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
# What the pages import on first use (data sets, smoothing, tests, tables). Each import takes 0.3-0.7 s
# of the server's GIL time, which stalled every session and /_stcore/health when a class first
# trained, smoothed or listed runs: preloaded instead, one by one, each once no page or live view
# has run for QUIET seconds. Not longer: a busy class leaves gaps of well under a second between
# its refreshes, and the imports must land in one of them (1.5 s: never, until the class's runs end).
LAZY_IMPORTS = ("sklearn.datasets", "scipy.signal", "scipy.stats", "pandas")
QUIET = 0.3


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


class Preload:
    """Imports these modules in a thread of its own, one by one, while no page runs."""

    def __init__(self, names: tuple[str, ...] = LAZY_IMPORTS, quiet: float = QUIET):
        self.names, self.quiet = names, quiet
        self.running, self.last = 0, time.monotonic()
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._load, name="lrviz-preload", daemon=True)
        self.thread.start()

    @contextlib.contextmanager
    def page(self):
        """A page or a live view runs meanwhile (and `quiet` seconds after)."""
        with self.changed:
            self.running += 1
        try:
            yield
        finally:
            with self.changed:
                self.running -= 1
                self.last = time.monotonic()
                self.changed.notify()

    def _load(self) -> None:
        for name in self.names:
            with self.changed:
                while self.running or (wait := self.last + self.quiet - time.monotonic()) > 0:
                    self.changed.wait(None if self.running else wait)
            if not threading.main_thread().is_alive():
                return  # the server is shutting down: an import now could fail on its exit hooks
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a head start only: the page that needs it imports it
                pass


@st.cache_resource(show_spinner=False)
def get_preload() -> Preload:
    return Preload()


def preloading(page):
    """Decorates a page or a fragment: while it runs, nothing is preloaded."""
    @functools.wraps(page)
    def run(*args, **kwargs):
        with get_preload().page():
            return page(*args, **kwargs)
    return run
