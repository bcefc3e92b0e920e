"""A class on one instance under load: 30 visitors each train a run while two of them run a
24-run sweep, against a real `streamlit run app.py` server whose host set the class's limits.
Every run finishes; the queue serves visitors in turn, so no single run waits much longer than
two runs take; /_stcore/health stays fast; nothing is left running after shutdown.

Each visitor is a websocket session (tests/support.py Session) without a cookie: a visitor of
their own, as a new browser is. Numbers: docs/reliability.md."""
from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lrviz import config, urlstate
from lrviz.schedules import make
from lrviz.store import Store
from tests.support import HealthPoller, Session, start_server, stop_server, wait_healthy
from tests.test_load import P95_TARGET_MS, _wait_gone, cpu_seconds

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

VISITORS = 30
SWEEPERS = 2  # of them, who first start a sweep
SWEEP_RATES = "0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.2"  # × 2 seeds: 24 runs
WAIT_TARGET = 2.5  # a single run's wait, in runs' time ("about two runs' time")
LIMITS = {"LRVIZ_MAX_QUEUED": "2", "LRVIZ_MAX_SWEEP": "24", "LRVIZ_MAX_STEPS": "5000"}
TINY = "cfg=" + urlstate.encode(config.validate({
    "schedule": make("constant", learning_rate=0.01), "data": {"n_samples": 400}, "training": {"epochs": 4}}))["cfg"]


def start_sweep(page: Session) -> None:
    page.open_tab("Experiments")
    page.set("exp.kind", "string_array_value", ["Sweep"])
    page.set("exp.sweep.values0", "string_value", SWEEP_RATES)
    page.press("exp.sweep.start")


def test_thirty_visitors_and_two_sweeps_share_the_workers_in_turn(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    proc, url = start_server(home, env=LIMITS)  # one worker per core
    poller = HealthPoller(url)
    store = Store(home)

    def sweeps_training() -> None:  # the workers are warm (TensorFlow loaded): waits are the queue's
        while not any(r["status"] == "running" for r in store.runs()):
            time.sleep(0.1)

    together = threading.Barrier(VISITORS, action=sweeps_training)

    def visitor(i: int) -> dict:
        page = Session(url, TINY, timeout=600)
        if i < SWEEPERS:
            start_sweep(page)
        page.open_tab("Train")
        together.wait()  # the sweeps train: now everyone presses Train at once
        page.press("train.start")
        done = page.wait_for("Done in")
        page.close()
        return {"done": done, "exceptions": page.exceptions}

    try:
        wait_healthy(url, proc)
        poller.start()
        started, cpu = time.perf_counter(), cpu_seconds(proc.pid)
        with ThreadPoolExecutor(VISITORS) as pool:
            visits = list(pool.map(visitor, range(VISITORS)))
        while any(r["status"] in ("queued", "running") for r in store.runs()):  # the sweeps' last runs
            time.sleep(0.5)
        wall, cpu = time.perf_counter() - started, cpu_seconds(proc.pid) - cpu
        runs = store.runs()
        poller.done.set()
        poller.join()
    finally:
        poller.done.set()
        stop_server(proc)
    left = _wait_gone(home)

    singles = [r for r in runs if r["group_id"] is None]
    swept = [r for r in runs if r["group_id"] is not None]
    took = statistics.median(r["finished"] - r["started"] for r in runs)  # one run's time, side by side or not
    waits = sorted(r["started"] - r["created"] for r in singles)
    ms = sorted(poller.ms)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"\n{len(singles)} single runs and {len(swept)} sweep runs by {len({r['visitor'] for r in runs})} "
          f"visitors: all finished after {wall:.1f} s; a run trains in {took:.2f} s (median); single runs waited "
          f"median {statistics.median(waits):.1f} s, max {waits[-1]:.1f} s = {waits[-1] / took:.2f} runs' time "
          f"(target ≤ {WAIT_TARGET}); health: {len(ms)} requests, p50 {statistics.median(ms):.1f} ms, "
          f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms; server CPU {cpu:.1f} s")
    assert len(singles) == VISITORS and len(swept) == 24 * SWEEPERS
    assert [r["status"] for r in runs] == ["done"] * len(runs)
    assert len({r["visitor"] for r in singles}) == VISITORS  # each session a visitor of its own
    assert all(v["done"].startswith("Done in") and not v["exceptions"] for v in visits)
    assert waits[-1] <= WAIT_TARGET * took
    assert not poller.failures and p95 < P95_TARGET_MS
    assert left == [], f"processes left after the server stopped: {left}"
