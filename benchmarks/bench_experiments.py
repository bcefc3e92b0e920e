"""Experiments' speed on the spawned pool (2 workers, warm): how far a sweep's makespan is from
the optimizer steps its runs need, and what K seeds cost against one run.

  sweep   12 runs of the default setup (a 2 × 3 grid × 2 seeds, 20 epochs of 50 steps):
          makespan (first start -> last finish, from the store) against the runs' marginal
          optimizer-step time (each run's last step's wall time, summed) / workers.
  seeds   K = 5 seeds of one config as one group, against the same config trained once.

Reported as ratios; the brief's targets: sweep <= 2.5, seeds <= 1.5.

    python benchmarks/bench_experiments.py [--quick]
"""
from __future__ import annotations

import argparse
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
        time.sleep(0.02)
    return pool.store.group_runs(group)


def measured(pool, raw, kind):
    group = groups.start(pool, kind, raw, sweep.check(raw))
    runs = finish(pool, group)
    assert all(r["status"] == "done" for r in runs), [r["error"] for r in runs]
    makespan = max(r["finished"] for r in runs) - min(r["started"] for r in runs)
    steps = sum(pool.store.steps(r["id"], after=r["total_steps"] - 2)["wall_time"][-1] for r in runs)
    return makespan, steps, len(runs)


def main(quick: bool) -> None:
    epochs = 5 if quick else 20
    base = {"schedule": make("constant", learning_rate=0.003), "training": {"epochs": epochs}}
    pool = Pool(tempfile.mkdtemp(prefix="lrviz-bench-"), max_workers=WORKERS)
    pool.wait_ready()
    try:
        measured(pool, {"base": base, "seeds": [0, 1]}, "seeds")  # warm: first traces in each worker
        grid = {"base": base, "grid": {"optimizer.beta_1": [0.9, 0.8], "schedule.learning_rate": [1e-3, 3e-3, 1e-2]},
                "seeds": [0, 1]}
        makespan, steps, n = measured(pool, grid, "sweep")
        print(f"sweep: {n} runs, makespan {makespan:.2f} s, optimizer steps {steps:.2f} s in all, "
              f"ratio makespan / (steps / {WORKERS} workers) = {makespan / (steps / WORKERS):.2f} (target <= 2.5)")
        one, _, _ = measured(pool, {"base": base, "seeds": [7]}, "seeds")
        k5, _, _ = measured(pool, {"base": base, "seeds": [10, 11, 12, 13, 14]}, "seeds")
        print(f"seeds: one run {one:.2f} s, 5 seeds {k5:.2f} s, ratio {k5 / one:.2f} (target <= 1.5)")
    finally:
        pool.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
