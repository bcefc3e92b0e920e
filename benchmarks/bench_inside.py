"""What recording the optimizer's insides at every step (lrviz.inside) costs: whole runs of
lrviz.train.run writing to a real store (worker.StoreSink), with the recording on and off,
side by side in one process, interleaved round by round; after a warm-up round, the ratio of
the medians on / off, and the median of each round's own ratio (its runs ran back to back,
so a slow spell of a shared machine touches both) with its 95 % bootstrap interval, for the
default setup and for wider and longer ones; for a config's first run in a worker (which
traces and optimises its graph) and for a run of the same config with another seed (which
reuses it: train._model). On a shared machine the interval, not one ratio,
says whether a setup is within the 10 % target.

--calls N times the train graph alone instead: one model recording and one not, built once,
their graph calls (each a whole epoch of steps) interleaved N times in random order; the
median call on / off, with each one's quartiles. Steadier than whole runs (a slow spell lasts
longer than a call), it leaves out what a run adds around its graph.

    python benchmarks/bench_inside.py [--rounds N] [--only TEXT] [--calls N]
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lrviz import config, train  # noqa: E402  (train first: it sets TensorFlow's threads)
from lrviz import data as datamod  # noqa: E402
from lrviz import model as modelmod  # noqa: E402
from lrviz.inside import record_floats  # noqa: E402
from lrviz.schedules import make  # noqa: E402
from lrviz.store import Store  # noqa: E402
from lrviz.worker import StoreSink  # noqa: E402
from scipy.stats import bootstrap  # noqa: E402

SETUPS = {  # name: (model, data, training)
    "default: 16-16, batch 32, 1,000 steps": ({}, {}, {}),
    "default, 100 epochs: 5,000 steps": ({}, {}, {"epochs": 100}),
    "64-64-64, batch 64, 1,000 steps": ({"hidden_units": [64, 64, 64]}, {"n_samples": 4000}, {"batch_size": 64}),
    "256-256, batch 128, 500 steps": ({"hidden_units": [256, 256]}, {"n_samples": 8000}, {"batch_size": 128,
                                                                                           "epochs": 10}),
    "1024-1024 (1.1 M parameters, sampled quantiles), batch 256, 100 steps": (
        {"hidden_units": [1024, 1024]}, {"n_samples": 6400}, {"batch_size": 256, "epochs": 5}),
}


def timed(cfg: dict, store: Store, inside: bool) -> float:
    run_id = store.create_run("bench", cfg)
    sink = StoreSink(store, run_id)
    t0 = time.perf_counter()
    outcome = train.run(cfg, sink, inside=inside)
    sink.flush()
    assert outcome.status == "done", outcome
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="only the setups whose names contain this text")
    parser.add_argument("--calls", type=int, default=0, help="time this many graph calls each, not whole runs")
    args = parser.parse_args()
    train.warm_up()  # as a worker starts (lrviz.worker): TensorFlow's objects frozen, full collections cheap
    gc.collect()
    gc.freeze()
    if args.calls:
        return per_call(max(args.calls, 2), args.only)  # quartiles need two
    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        print("setup | run | off (s) | on (s) | on / off | median of rounds' on / off | its 95 % interval")
        print("---|---|---|---|---|---|---")
        for name, (model, data, training) in SETUPS.items():
            if args.only not in name:
                continue
            cfgs = [config.validate({"schedule": make("constant", learning_rate=1e-3), "model": model, "data": data,
                                     "training": {**training, "seed": seed}}) for seed in (0, 1)]
            times = {(kind, inside): [] for kind in KINDS for inside in (False, True)}
            for r in range(args.rounds + 1):
                for inside in ((False, True) if r % 2 else (True, False)):
                    # A config's first run in the worker (its graph traced and optimised), then the
                    # same config with another seed (train keeps the model: the graph is reused).
                    for kind, cfg in zip(KINDS, cfgs):
                        seconds = timed(cfg, store, inside)
                        if r:  # round 0 traces the graphs that every run shares
                            times[kind, inside].append(seconds)
                    train.forget()
            for kind in KINDS:
                print(f"{name} | {kind} | {summary(times[kind, False], times[kind, True])}", flush=True)


KINDS = ("first", "another seed")


def per_call(calls: int, only: str) -> None:
    import tensorflow as tf

    print("setup | off (ms a call) | on (ms a call) | on / off | off's quartiles | on's quartiles")
    print("---|---|---|---|---|---")
    for name, (model, data, training) in SETUPS.items():
        if only not in name:
            continue
        cfg = config.validate({"schedule": make("constant", learning_rate=1e-3), "model": model, "data": data,
                               "training": training})
        loaded = datamod.load(cfg["data"])
        batch = cfg["training"]["batch_size"]
        steps = config.batches(len(loaded.X_train), batch)
        sizes = [a.size for layer in modelmod.initial_weights(cfg, loaded) for a in layer]
        chunk = train.chunk_size(sum(sizes), batch, steps, record_floats(sizes))  # as a recording run's, for both
        graphs = {}
        for inside in (False, True):
            built, _ = modelmod.build(cfg, loaded, cls=train.Recorder, jit_compile=False)
            built.attach(loaded, batch, 0, chunk, inside)
            built.make_train_function()
            ticks = iter(tf.data.Dataset.from_tensors(0).repeat())
            for _ in range(3):  # traced, optimised, warm
                built.train_function(ticks)
            graphs[inside] = (built, ticks)
        gc.collect()
        gc.freeze()
        times = {False: [], True: []}
        for _ in range(calls):
            for inside in random.sample([False, True], 2):
                built, ticks = graphs[inside]
                t0 = time.perf_counter()
                built.train_function(ticks)
                times[inside].append(time.perf_counter() - t0)
        off, on = (statistics.median(times[i]) for i in (False, True))
        q = {i: "-".join(f"{x * 1e3:.2f}" for x in statistics.quantiles(times[i], n=4)[::2]) for i in (False, True)}
        print(f"{name} | {off * 1e3:.2f} | {on * 1e3:.2f} | {on / off:.3f} | {q[False]} | {q[True]}", flush=True)


def summary(off: list, on: list) -> str:
    ratios = [b / a for a, b in zip(off, on)]
    interval = "(one round)"
    if len(ratios) > 1:
        low, high = bootstrap((ratios,), np.median, method="percentile", rng=0).confidence_interval
        interval = f"{low:.3f}-{high:.3f}"
    m_off, m_on = statistics.median(off), statistics.median(on)
    return f"{m_off:.3f} | {m_on:.3f} | {m_on / m_off:.3f} | {statistics.median(ratios):.3f} | {interval}"


if __name__ == "__main__":
    main()
