"""Experiments' speed on the spawned pool (2 workers, warm): how far a sweep's makespan is from
the optimizer steps its runs need, and what K seeds cost against one run.

  sweep   12 runs of the default setup (a 2 × 3 grid × 2 seeds, 20 epochs of 50 steps), then
          8 learning rates × 1 seed, 4 beta_1 × 2 epsilon × 1 seed, 4 activations × 1 seed:
          makespan (first start -> last finish, from the store) against the runs' marginal
          optimizer-step time / workers. The marginal time of a step is measured here, in one
          process: (a 20-epoch run - a 2-epoch run) / the 900 steps between them, median of 3;
          what a run costs beyond its steps (loading, building, tracing) is the overhead.
  seeds   K = 5 seeds of one config as one group, against the same config trained once
          (medians of 5 each, alternated).

Reported as ratios; the brief's targets: sweep <= 2.5, seeds <= 1.5.

    python benchmarks/bench_experiments.py [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lrviz.experiments import groups, sweep  # noqa: E402
from lrviz.pool import Pool  # noqa: E402
from lrviz.schedules import make  # noqa: E402

WORKERS = 2


def finish(pool, group):
    while any(r["status"] in ("queued", "running") for r in pool.store.group_runs(group)):
        time.sleep(0.1)  # the store, polled as the page does: not competing with the workers
    return pool.store.group_runs(group)


def measured(pool, raw, kind):
    group = groups.start(pool, kind, raw, sweep.check(raw))
    runs = finish(pool, group)
    assert all(r["status"] == "done" for r in runs), [r["error"] for r in runs]
    makespan = max(r["finished"] for r in runs) - min(r["started"] for r in runs)
    return makespan, sum(r["total_steps"] for r in runs), len(runs)


def marginal_step_s(base: dict) -> float:
    """Seconds a step adds to a run (in this process, with TensorFlow warm)."""
    from lrviz import config, train

    def timed(epochs):
        cfg = config.validate({**base, "training": {"epochs": epochs}})
        t = time.perf_counter()
        train.run(cfg, lambda s, e: None)
        return time.perf_counter() - t

    timed(2)
    short, long = statistics.median(timed(2) for _ in range(3)), statistics.median(timed(20) for _ in range(3))
    return (long - short) / (18 * 50)


def main(quick: bool) -> None:
    epochs = 5 if quick else 20
    base = {"schedule": make("constant", learning_rate=0.003), "training": {"epochs": epochs}}
    per_step = marginal_step_s(base)
    print(f"marginal optimizer step: {per_step * 1e6:.0f} µs (default setup)")
    pool = Pool(tempfile.mkdtemp(prefix="lrviz-bench-"), max_workers=WORKERS)
    pool.wait_ready()
    try:
        measured(pool, {"base": base, "seeds": [0, 1]}, "seeds")  # warm: first traces in each worker
        grid = {"base": base, "grid": {"optimizer.beta_1": [0.9, 0.8], "schedule.learning_rate": [1e-3, 3e-3, 1e-2]},
                "seeds": [0, 1]}
        rates = {"base": base, "grid": {"schedule.learning_rate": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3]},
                 "seeds": [0]}
        adam = {"base": base, "grid": {"optimizer.beta_1": [0.95, 0.9, 0.8, 0.7], "optimizer.epsilon": [1e-7, 1e-3]},
                "seeds": [0]}
        nets = {"base": base, "grid": {"model.activation": ["relu", "tanh", "elu", "gelu"]}, "seeds": [0]}
        for name, raw in (("sweep, 2 x 3 grid x 2 seeds", grid), ("sweep, 8 rates x 1 seed", rates),
                          ("sweep, 4 beta_1 x 2 epsilon x 1 seed", adam), ("sweep, 4 activations x 1 seed", nets)):
            makespan, steps, n = measured(pool, raw, "sweep")
            need = steps * per_step
            print(f"{name}: {n} runs, makespan {makespan:.2f} s, their {steps:,} optimizer steps need {need:.2f} s; "
                  f"ratio makespan / (steps / {WORKERS} workers) = {makespan / (need / WORKERS):.2f} (target <= 2.5)")
        ones, fives = [], []
        for i in range(5):  # alternated, so both see the same drift of a shared machine (and recycling)
            ones.append(measured(pool, {"base": base, "seeds": [100 + i]}, "seeds")[0])
            fives.append(measured(pool, {"base": base, "seeds": list(range(10 * i, 10 * i + 5))}, "seeds")[0])
        one, k5 = statistics.median(ones), statistics.median(fives)
        print(f"seeds: one run {one:.2f} s, 5 seeds {k5:.2f} s (medians of 5), ratio {k5 / one:.2f} (target <= 1.5)")
    finally:
        pool.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
