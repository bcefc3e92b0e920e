"""Soak: fifty short runs in a row through one real `streamlit run app.py` server and its one
worker, pressed from one session as a user would. Neither the server process nor the worker
(its successor, where the engine recycled it) grows by more than 10 % from the first run to
the fiftieth."""
from __future__ import annotations

import time

import pytest

from lrviz import config, urlstate
from lrviz.schedules import make
from lrviz.store import Store
from tests.support import Session, lrviz_workers, rss_mib, start_server, stop_server, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

RUNS = 50
GROWTH = 0.10
TINY = "cfg=" + urlstate.encode(config.validate({
    "schedule": make("ExponentialDecay", initial_learning_rate=0.01, decay_steps=5, decay_rate=0.9),
    "data": {"n_samples": 200}, "training": {"epochs": 2}}))["cfg"]


def worker_mib(home) -> float:
    """The largest live worker: a recycled one and its warm successor may overlap briefly."""
    return max(rss_mib(pid) for pid in lrviz_workers(home))


def test_fifty_runs_in_a_row_grow_neither_the_server_nor_the_worker_by_more_than_ten_percent(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    proc, url = start_server(home, env={"LRVIZ_WORKERS": "1"})
    server, worker, seen = [], [], set()
    try:
        wait_healthy(url, proc)
        page = Session(url, TINY, timeout=120)
        page.open_tab("Train")
        started = time.perf_counter()
        for i in range(RUNS):
            page.press("train.start")
            page.wait_for("Done in")
            if i in (0, RUNS - 1):
                server.append(rss_mib(proc.pid))
                worker.append(worker_mib(home))
            seen.update(lrviz_workers(home))
        took = time.perf_counter() - started
        page.close()
        statuses = [r["status"] for r in Store(home).runs()]
    finally:
        stop_server(proc)
    grew = [(after - before) / before for before, after in (server, worker)]
    print(f"\n{RUNS} runs in {took:.0f} s; server RSS {server[0]:.0f} → {server[1]:.0f} MiB ({grew[0]:+.1%}); "
          f"worker RSS {worker[0]:.0f} → {worker[1]:.0f} MiB ({grew[1]:+.1%}); "
          f"worker processes seen: {len(seen)}")
    assert statuses == ["done"] * RUNS
    assert grew[0] <= GROWTH and grew[1] <= GROWTH
