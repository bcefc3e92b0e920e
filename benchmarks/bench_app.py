"""Benchmarks of the page: server start, the first chart, the instant preview, and live-chart
payloads.

    .venv/bin/python benchmarks/bench_app.py [--no-browser] [--rounds N]

Prints a Markdown table. Times are medians on a shared machine: compare rows of one run
with each other rather than with another machine's numbers.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lrviz import config, figures  # noqa: E402
from lrviz.schedules import make  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
REFERENCE = Path(__file__).resolve().parent / "reference_page.py"  # the floor: Streamlit + one chart
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def median_ms(fn, repeat: int = 15) -> float:
    fn()  # warm caches (imports, Plotly validators)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def preview_rows() -> list[tuple[str, str]]:
    # 1,250 samples, 20 % held out, batch 10: 100 steps per epoch; 1,000 epochs = 100,000 steps.
    base = {"data": {"n_samples": 1250}, "training": {"epochs": 1000, "batch_size": 10}}
    cases = {
        "CosineDecay + warmup": make("CosineDecay", initial_learning_rate=1e-5, warmup_target=3e-3,
                                     warmup_steps=5000, decay_steps=95_000),
        "time_based_decay (article)": make("time_based_decay", initial_learning_rate=0.1, decay=1e-4),
        "one_cycle": make("one_cycle"),
        "linear_warmup(cyclical)": make("linear_warmup", schedule=make("cyclical")),
        "expression": make("expression"),
    }
    rows = []
    for label, sched in cases.items():
        cfg = config.validate({"schedule": sched, **base})
        spe = config.steps_per_epoch(cfg)
        assert spe * cfg["training"]["epochs"] == 100_000

        def redraw(cfg=cfg, spe=spe, compare=None, adam=False):
            fig, _ = figures.preview(cfg, spe, compare, False, adam)
            return fig.to_json()  # what st.plotly_chart sends

        rows.append((f"preview redraw, 100,000 steps: {label}", f"{median_ms(redraw):.1f} ms"))
    cfg = config.validate({"schedule": cases["CosineDecay + warmup"], **base})
    spe = config.steps_per_epoch(cfg)
    full = median_ms(lambda: figures.preview(cfg, spe, make("one_cycle"), True, True)[0].to_json())
    rows.append(("preview redraw, 100,000 steps, + comparison + Adam step size", f"{full:.1f} ms"))
    payload = len(figures.preview(cfg, spe, make("one_cycle"), True, True)[0].to_json())
    rows.append(("preview figure payload (3 traces)", f"{payload / 1024:.0f} KiB"))
    return rows


def synthetic_trace(n_steps: int, spe: int = 100) -> figures.RunTrace:
    rng = np.random.default_rng(0)
    t = figures.RunTrace("run", steps_per_epoch=spe, metric="accuracy")
    step = np.arange(n_steps)
    t.extend_steps({"step": step, "epoch": step // spe, "learning_rate": 0.01 / (1 + step / 1e3),
                    "loss": 1 / (1 + step / 50) + 0.05 * rng.random(n_steps)})
    e = np.arange(max(n_steps // spe, 1))
    t.extend_epochs({"epoch": e, "learning_rate": 0.01 / (1 + e), "loss": 1 / (1 + e), "val_loss": 1.1 / (1 + e),
                     "metric": 1 - 0.5 / (1 + e), "wall_time": e * 0.02})
    return t


def live_rows() -> list[tuple[str, str]]:
    rows = []
    for n in (100, 100_000, 1_000_000):
        trace = synthetic_trace(n)

        def refresh(trace=trace):
            return [f([trace]).to_json() for f in (figures.lr_figure, figures.loss_figure, figures.metric_figure)]

        size = sum(len(j) for j in refresh())
        rows.append((f"live charts payload at step {n:,} (lr + loss + metric)", f"{size / 1024:.1f} KiB"))
        rows.append((f"live charts build at step {n:,}", f"{median_ms(refresh, 7):.1f} ms"))
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DRAWN = ("() => { const g = document.querySelector('.js-plotly-plot');"
         " return g && g._fullData && g._fullData.length > 0; }")


def start(script: Path, port: int) -> tuple[subprocess.Popen, float]:
    """`streamlit run script` as a user starts it (the repo's .streamlit/config.toml, no flags
    but port and headless); returns the process and seconds until /_stcore/health said ok."""
    home = Path(tempfile.mkdtemp(prefix="lrviz-bench-"))
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                             "--server.port", str(port)], cwd=ROOT, env={**os.environ, "LRVIZ_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=1) as r:
                if r.read() == b"ok":
                    return proc, time.perf_counter() - began
        except OSError:
            time.sleep(0.02)
        if time.perf_counter() - began > 60:
            proc.kill()
            raise TimeoutError("no health")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def chart_after_opening(context, url: str) -> float:
    page = context.new_page()
    opened = time.perf_counter()
    page.goto(url)
    page.wait_for_function(DRAWN, timeout=60_000)
    return time.perf_counter() - opened


def page_times(browser, script: Path) -> dict:
    """Health after launch; with a browser, the first chart in a fresh browser context (empty
    cache), a reload, and the first chart of a restarted server in that same context (a
    returning user: Streamlit's and Plotly's scripts are in the browser's cache)."""
    port = free_port()
    url = f"http://localhost:{port}"
    proc, health = start(script, port)
    times = {"health": health}
    if browser is None:
        stop(proc)
        return times
    context = browser.new_context()
    try:
        times["first chart"] = chart_after_opening(context, url)
        page = context.pages[-1]
        page.wait_for_timeout(500)
        t = time.perf_counter()
        page.reload()
        page.wait_for_function(DRAWN, timeout=60_000)
        times["reload"] = time.perf_counter() - t
        page.close()
        stop(proc)
        proc, _ = start(script, port)
        times["returning"] = chart_after_opening(context, url)
        return times
    finally:
        context.close()
        stop(proc)


def server_rows(rounds: int) -> list[tuple[str, str]]:
    """lrviz's page and a bare Streamlit page with one Plotly chart (REFERENCE), interleaved
    round by round so both see the same machine; medians, and lrviz's as a ratio."""
    browser = pw = None
    if os.path.exists(CHROMIUM):
        try:
            from playwright.sync_api import sync_playwright

            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        except ImportError:
            pass
    runs = {"lrviz": [], "reference": []}
    try:
        for _ in range(rounds):
            runs["lrviz"].append(page_times(browser, ROOT / "app.py"))
            runs["reference"].append(page_times(browser, REFERENCE))
    finally:
        if browser:
            browser.close()
            pw.stop()

    def med(who, what):
        return statistics.median(r[what] for r in runs[who])

    def spread(who, what):
        values = [r[what] for r in runs[who]]
        return f"{med(who, what):.2f} s ({min(values):.2f}-{max(values):.2f})"

    rows = [("server healthy after launch", spread("lrviz", "health"))]
    if browser:
        for what, label in (("first chart", "first chart drawn after the page is opened"),
                            ("returning", "the same, browser cache warm (a restarted server)"),
                            ("reload", "chart drawn on a reload")):
            rows += [(f"{label}: lrviz", spread("lrviz", what)),
                     (f"{label}: bare Streamlit page with one Plotly chart", spread("reference", what)),
                     (f"{label}: lrviz / bare page", f"{med('lrviz', what) / med('reference', what):.2f}x")]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-browser", action="store_true", help="skip the server and browser timings")
    parser.add_argument("--rounds", type=int, default=5, help="page loads of each app (default 5)")
    args = parser.parse_args()
    rows = preview_rows() + live_rows()
    if not args.no_browser:
        rows = server_rows(args.rounds) + rows
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
