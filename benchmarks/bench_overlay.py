"""Overlaying long runs: what a page reads and draws for three runs of 2,000,000 steps, the way
the page did it before (every step read into the session, then downsampled for the chart) and
the way it does now (each run's summary, kept by the store as rows arrive, shared by every
session), side by side in one process; and the exact per-step CSV download, streamed.

    .venv/bin/python benchmarks/bench_overlay.py [--steps N] [--runs K]
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
import tracemalloc

import numpy as np

from lrviz import exports, figures
from lrviz.store import Store
from lrviz.traces import Traces


def fill(store: Store, runs: int, steps: int, spe: int = 2000) -> list[int]:
    ids = []
    step = np.arange(steps)
    for r in range(runs):
        run_id = store.create_run(f"long {r}", {"schedule": {}}, epochs=steps // spe, steps_per_epoch=spe)
        lr = (1e-3 * np.cos(step / steps * math.pi / 2) ** 2).tolist()
        loss = (1 / (1 + step / 1e4) + np.random.default_rng(r).random(steps) * 0.05).tolist()
        rows = list(zip(step.tolist(), (step // spe).tolist(), lr, loss, (step * 6.9e-5).tolist()))
        for first in range(0, steps, 100_000):
            store.append_steps(run_id, rows[first:first + 100_000])
        store.set_status(run_id, "done")
        ids.append(run_id)
    return ids


def every_step(store: Store, run_id: int) -> figures.RunTrace:
    """The page before: a session read every step of the run into its own arrays."""
    run = store.run(run_id)
    trace = figures.RunTrace(run["name"], run["steps_per_epoch"], total_steps=run["total_steps"], run_id=run_id)
    trace.extend_steps(store.steps(run_id))
    trace.extend_epochs(store.epochs(run_id))
    return trace


def draw(read) -> None:
    traces = read()
    figures.lr_figure(traces), figures.loss_figure(traces, smoothing=0.6), figures.metric_figure(traces)


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_mib(fn) -> float:
    """Peak memory Python allocated while fn ran (tracemalloc slows it: timed separately)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        start = time.perf_counter()
        ids = fill(store, args.runs, args.steps)
        print(f"store: {args.runs} runs x {args.steps:,} steps written in batches of 100,000 "
              f"({time.perf_counter() - start:.1f} s, summaries included)\n")
        figures.smooth(np.ones(3) + np.arange(3), 0.5)  # scipy's import, once, outside the timings
        old = lambda: draw(lambda: [every_step(store, i) for i in ids])  # noqa: E731
        old_s, old_mib = seconds(old), peak_mib(old)
        new_s, new_mib = seconds(lambda: draw(lambda: [Traces(store).get(i) for i in ids])), \
            peak_mib(lambda: draw(lambda: [Traces(store).get(i) for i in ids]))
        shared = Traces(store)
        draw(lambda: [shared.get(i) for i in ids])
        again_s, again_mib = seconds(lambda: draw(lambda: [shared.get(i) for i in ids])), \
            peak_mib(lambda: draw(lambda: [shared.get(i) for i in ids]))
        print("| read and draw the overlay | seconds | peak MiB allocated | vs every step |")
        print("|---|---:|---:|---:|")
        print(f"| every step into the session (before) | {old_s:.2f} | {old_mib:.0f} | 1 |")
        print(f"| summaries, first session | {new_s:.3f} | {new_mib:.1f} | {new_s / old_s:.4f}x |")
        print(f"| summaries, every later session (shared) | {again_s:.3f} | {again_mib:.1f} | "
              f"{again_s / old_s:.4f}x |")
        def csv_written():
            with exports.run_csv(store, ids[0], "steps", "accuracy") as f:
                return f.seek(0, 2)

        size = csv_written()
        took, peak = seconds(csv_written), peak_mib(csv_written)
        print(f"\nexact per-step CSV of one run: {size / 2**20:.0f} MiB written in {took:.1f} s, peak "
              f"{peak:.1f} MiB allocated (Streamlit then reads the file's {size / 2**20:.0f} MiB to serve it)")


if __name__ == "__main__":
    main()
