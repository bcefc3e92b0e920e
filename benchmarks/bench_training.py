"""Training speed, side by side in one process, on the default setup (moons, 2,000 samples,
validation split 0.2, MLP 16-16, batch 32, Adam): ms per epoch, median over epochs after
warm-up, methods interleaved round by round so that machine noise hits all of them alike.

  naive            model.fit(X, y, batch_size=32) + LearningRateScheduler + validation
  tf.data + spe    cached, shuffled tf.data; steps_per_execution = steps per epoch; validation
  epoch loop       a whole epoch in one tf.function (iterator over the same tf.data); no
                   validation, nothing recorded: the floor for per-batch Python-free training
  gather loop      the same, slicing batches from tensors in memory (the fastest plain loop)
  lrviz            lrviz.train.run: model.fit, real schedule, val_loss and metric every epoch,
                   learning rate and loss of every step recorded

Then, with the spawned pool (lrviz.pool): time from submit to the first stored point with
warm workers, and a worker's memory (RSS) over consecutive runs.

    python benchmarks/bench_training.py [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lrviz import config, train  # noqa: E402  (train first: it sets TensorFlow's threads)
from lrviz import data as datamod  # noqa: E402
from lrviz import model as modelmod  # noqa: E402
from lrviz.schedules import make  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# An epoch schedule, so that the naive fit runs the LearningRateScheduler callback it is known by.
SCHEDULE = make("time_based_decay", initial_learning_rate=0.01, decay=0.01, compounding=False)
WARMUP = 2  # epochs left out of the median: tracing and first-call costs


def setup(epochs: int) -> tuple[dict, datamod.Data]:
    cfg = config.validate({"schedule": SCHEDULE, "training": {"epochs": epochs}})
    return cfg, datamod.load(cfg["data"])


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t0)


def naive(cfg, d):
    model, callbacks = modelmod.build(cfg, d)
    timer = EpochTimer()
    model.fit(d.X_train, d.y_train, batch_size=32, epochs=cfg["training"]["epochs"],
              validation_data=(d.X_val, d.y_val), verbose=0, callbacks=[*callbacks, timer])
    return timer.times


def batches(d):
    return (tf.data.Dataset.from_tensor_slices((d.X_train, d.y_train)).cache()
            .shuffle(len(d.X_train), seed=0).batch(32).prefetch(tf.data.AUTOTUNE))


def tfdata_spe(cfg, d):
    spe = config.batches(len(d.X_train), 32)
    model, callbacks = modelmod.build(cfg, d, steps_per_execution=spe)
    val = tf.data.Dataset.from_tensor_slices((d.X_val, d.y_val)).batch(32).cache()
    timer = EpochTimer()
    model.fit(batches(d), epochs=cfg["training"]["epochs"], validation_data=val, verbose=0,
              callbacks=[*callbacks, timer], shuffle=False)
    return timer.times


def _loop_parts(cfg, d):
    model, _ = modelmod.build(cfg, d)
    optimizer, loss_fn = model.optimizer, keras.losses.BinaryCrossentropy()
    optimizer.build(model.trainable_variables)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    return model, step


def epoch_loop(cfg, d):
    _, step = _loop_parts(cfg, d)
    spe = config.batches(len(d.X_train), 32)

    @tf.function
    def epoch(iterator):
        loss = tf.constant(0.0)
        for _ in tf.range(spe):
            x, y = next(iterator)
            loss = step(x, y)
        return loss

    ds, times = batches(d), []
    for _ in range(cfg["training"]["epochs"]):
        t0 = time.perf_counter()
        epoch(iter(ds)).numpy()
        times.append(time.perf_counter() - t0)
    return times


def gather_loop(cfg, d):
    _, step = _loop_parts(cfg, d)
    X, y, n = tf.constant(d.X_train), tf.constant(d.y_train), len(d.X_train)
    spe = config.batches(n, 32)

    @tf.function
    def epoch():
        order = tf.random.shuffle(tf.range(n))
        loss = tf.constant(0.0)
        for i in tf.range(spe):
            rows = order[i * 32:(i + 1) * 32]
            loss = step(tf.gather(X, rows), tf.gather(y, rows))
        return loss

    times = []
    for _ in range(cfg["training"]["epochs"]):
        t0 = time.perf_counter()
        epoch().numpy()
        times.append(time.perf_counter() - t0)
    return times


def lrviz_run(cfg, d):
    epochs = []
    outcome = train.run(cfg, lambda s, e: epochs.extend(e))
    assert outcome.status == "done", outcome
    wall = [0.0] + [e[-1] for e in epochs]
    return list(np.diff(wall))


METHODS = {"naive fit": naive, "tf.data + steps_per_execution": tfdata_spe,
           "whole-epoch tf.function loop": epoch_loop, "in-memory gather loop": gather_loop,
           "lrviz engine (train.run)": lrviz_run}


def speed(rounds: int, epochs: int) -> dict[str, float]:
    cfg, d = setup(epochs)
    times = {name: [] for name in METHODS}
    for _ in range(rounds):
        for name, method in METHODS.items():
            train.forget()  # each method builds its model anew (train.run would train its last one again)
            times[name] += method(cfg, d)[WARMUP:]
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def engine_checks(runs: int, latency_runs: int) -> tuple[list[float], list[float], int]:
    """Submit→first point times, and after each run the largest worker RSS (MiB); the engine
    recycles a worker whose memory grew, so also count the worker processes seen."""
    import tempfile

    from lrviz.pool import Pool

    engine = Pool(tempfile.mkdtemp(prefix="lrviz-bench-"), max_workers=1)
    try:
        engine.wait_ready()
        quick = {"schedule": SCHEDULE, "training": {"epochs": 5}}
        latencies, rss, pids = [], [], set()
        for i in range(max(runs, latency_runs)):
            t0 = time.perf_counter()
            rid = engine.submit(quick)
            while not engine.store.steps(rid)["step"]:
                time.sleep(0.002)
            if i < latency_runs:
                latencies.append(time.perf_counter() - t0)
            while engine.progress(rid).status in ("queued", "running"):
                time.sleep(0.01)
            if i < runs:
                pids.update(engine.workers())
                rss.append(max(_rss_mib(pid) for pid in engine.workers()))
        return latencies, rss, len(pids)
    finally:
        engine.shutdown()


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass  # a worker that was just recycled
    return 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds, epochs and runs")
    args = p.parse_args()
    rounds, epochs, runs, latency_runs = (1, 12, 10, 3) if args.quick else (3, 30, 50, 10)
    ms = speed(rounds, epochs)
    latencies, rss, processes = engine_checks(runs, latency_runs)
    ours, naive_ms, loop = ms["lrviz engine (train.run)"], ms["naive fit"], ms["whole-epoch tf.function loop"]
    print(f"\nDefault setup, {rounds} round(s) × {epochs} epochs, "
          f"median ms/epoch after {WARMUP} warm-up epochs\n")
    print("| method | ms/epoch | vs lrviz |")
    print("|---|---:|---:|")
    for name, value in ms.items():
        print(f"| {name} | {value:.1f} | {value / ours:.2f}× |")
    print()
    print("| check | value | target |")
    print("|---|---:|---|")
    print(f"| naive fit ÷ lrviz | {naive_ms / ours:.1f}× | ≥ 6× |")
    print(f"| lrviz ÷ whole-epoch loop | {ours / loop:.2f}× | ≤ 1.5× |")
    print(f"| submit → first point, warm worker (median / max of {len(latencies)}) | "
          f"{statistics.median(latencies):.2f} s / {max(latencies):.2f} s | ≤ 2 s |")
    peak = max(rss[1:])
    print(f"| worker RSS after run 1 → largest after runs 2–{len(rss)} ({processes} worker processes) | "
          f"{rss[0]:.0f} → {peak:.0f} MiB ({100 * (peak - rss[0]) / rss[0]:+.1f} %) | ≤ +10 % |")


if __name__ == "__main__":
    main()
