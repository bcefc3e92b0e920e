"""Long runs overlay without stalling anyone: five sessions overlay three runs of 2,000,000 steps
each (the longest run a config allows) on one real `streamlit run app.py` server. Each overlay
draws within seconds, the server stays responsive, and its memory does not keep what was drawn.

Before the store kept a per-bucket summary, every session read every step into its own state:
77-88 s to draw, health p95 252 ms, and the server went from 90 to 1,236 MiB and stayed there."""
from __future__ import annotations

import math
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lrviz.store import Store
from tests.support import HealthPoller, Session, rss_mib, start_server, stop_server, wait_healthy


pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SESSIONS, RUNS, STEPS, SPE = 5, 3, 2_000_000, 2_000
DRAW_TARGET_S, GROWTH_TARGET_MIB, P95_TARGET_MS = 2.0, 100.0, 200.0
CFG = {"schedule": {"kind": "constant", "learning_rate": 0.001}, "training": {"epochs": STEPS // SPE}}


def fill(home) -> list[str]:
    """RUNS finished runs of STEPS steps, written as a worker writes them (in batches)."""
    store = Store(home)
    labels = []
    step = np.arange(STEPS)
    for r in range(RUNS):
        run_id = store.create_run(f"long {r}", CFG, epochs=STEPS // SPE, steps_per_epoch=SPE)
        lr = (1e-3 * np.cos(step / STEPS * math.pi / 2) ** 2).tolist()
        loss = (1 / (1 + step / 1e4) + np.random.default_rng(r).random(STEPS) * 0.05).tolist()
        epoch, wall = (step // SPE).tolist(), (step * 6.9e-5).tolist()
        rows = list(zip(step.tolist(), epoch, lr, loss, wall))
        for first in range(0, STEPS, 100_000):
            store.append_steps(run_id, rows[first:first + 100_000])
        store.append_epochs(run_id, [(e, lr[e * SPE], loss[e * SPE], None, 0.9, None, e * 0.138)
                                     for e in range(STEPS // SPE)])
        store.set_status(run_id, "done")
        labels.append(f"long {r} (#{run_id}) · host")  # made outside the page: the host's
    store.close()
    return labels


def overlay(url: str, labels: list[str], start: threading.Barrier) -> tuple[float, Session]:
    session = Session(url)
    session.open_tab("Runs")
    session.set("runs.whose", "string_array_value", ["Everyone's"])
    start.wait()
    began = time.perf_counter()
    session.choose("runs.pick", labels)
    took = time.perf_counter() - began
    assert not session.exceptions, session.exceptions
    return took, session


def test_five_sessions_overlay_three_two_million_step_runs_quickly_in_bounded_memory(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    labels = fill(home)
    proc, url = start_server(home)
    poller = HealthPoller(url)
    try:
        wait_healthy(url, proc)
        first = Session(url)
        first.open_tab("Runs")  # the page and the runs table drawn once: the server's resting size
        first.set("runs.whose", "string_array_value", ["Everyone's"])  # runs made outside the page: the host's
        time.sleep(1.0)
        before = rss_mib(proc.pid)
        poller.start()
        start = threading.Barrier(SESSIONS)
        with ThreadPoolExecutor(SESSIONS) as pool:
            done = list(pool.map(lambda _: overlay(url, labels, start), range(SESSIONS)))
        during = rss_mib(proc.pid)
        for _, session in done:
            charts = session.charts
            assert {"runs.lr", "runs.loss", "runs.metric"} <= set(charts), list(charts)
            assert all(f"long {r}" in charts["runs.loss"] for r in range(RUNS))
            session.close()
        first.close()
        time.sleep(5.0)  # the sessions' state goes when their websockets close
        after = rss_mib(proc.pid)
        poller.done.set()
        poller.join()
    finally:
        stop_server(proc)
    draws = sorted(took for took, _ in done)
    p95 = statistics.quantiles(poller.ms, n=20)[-1]
    print(f"\noverlay of {RUNS} x {STEPS:,} steps in {SESSIONS} sessions at once: draws {draws[0]:.2f}-"
          f"{draws[-1]:.2f} s; server {before:.0f} MiB -> {during:.0f} MiB (+{during - before:.0f}) -> "
          f"{after:.0f} MiB after they closed; health {len(poller.ms)} requests, p50 "
          f"{statistics.median(poller.ms):.1f} ms, p95 {p95:.1f} ms, max {max(poller.ms):.1f} ms")
    assert not poller.failures
    assert draws[-1] <= DRAW_TARGET_S
    assert during - before <= GROWTH_TARGET_MIB and after - before <= GROWTH_TARGET_MIB
    assert p95 < P95_TARGET_MS
