"""Runs per second on a Ray cluster of 1, 2 and 4 nodes of one CPU each (Ray's test utility
starts them as separate processes on this machine), against the local pool of 1 and 2 workers,
side by side in one run; and what the stream back costs the server.

  throughput  RUNS independent runs (each its own data seed, so none trains beside another),
              submitted at once to warm workers: runs per second = RUNS / (the last finish - the
              first submit). Ratios against one worker of the same kind.
  stream      what the server's monitor thread spent per batch of metrics from a node (taking it
              from the stream, writing it to the store), and the store's own write rate.
  stop        seconds from Stop to 'stopped' in the store for a training run, median of 5, on the
              local pool and on the 2-node cluster.

On this 2-core machine 4 nodes share 2 cores: read the 4-node row as the cost of running more
workers than cores, not as what 4 machines give (docs/scaling.md).

    python benchmarks/bench_ray.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lrviz.pool import Pool  # noqa: E402
from lrviz.schedules import make  # noqa: E402

RUN = {"schedule": make("CosineDecay", initial_learning_rate=0.01, decay_steps=200), "data": {"n_samples": 1000},
       "training": {"epochs": 8}}  # 25 steps an epoch: 200 steps, about a second of training here


def stop_s(pool, rounds: int = 5) -> float:
    times = []
    for i in range(rounds):
        run_id = pool.submit({**RUN, "training": {"epochs": 10_000}})
        while len(pool.store.steps(run_id)["step"]) < 20:
            time.sleep(0.01)
        t = time.perf_counter()
        pool.stop(run_id)
        while pool.store.run(run_id)["status"] == "running":
            time.sleep(0.005)
        times.append(time.perf_counter() - t)
        assert pool.store.run(run_id)["status"] == "stopped"
    return sorted(times)[rounds // 2]


def throughput(pool, runs: int) -> float:
    assert pool.wait_ready(300)
    start = time.time()
    ids = [pool.submit({**RUN, "data": {**RUN["data"], "seed": i}}) for i in range(runs)]
    while pool.active():
        time.sleep(0.05)
    rows = [pool.store.run(i) for i in ids]
    assert all(r["status"] == "done" for r in rows), [r["error"] for r in rows]
    return runs / (max(r["finished"] for r in rows) - start)


class Timed:
    """Seconds spent in a method and how often it was called (the pool's monitor thread)."""

    def __init__(self, cls, name):
        self.cls, self.name, self.seconds, self.calls = cls, name, 0.0, 0
        self.original = getattr(cls, name)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1
        setattr(cls, name, timed)

    def restore(self):
        setattr(self.cls, self.name, self.original)


def on_ray(nodes: int, runs: int) -> tuple[float, dict, float | None]:
    from ray.cluster_utils import Cluster

    from lrviz.ray_pool import RayPool

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    receive, write = Timed(RayPool, "_receive"), Timed(RayPool, "_write")
    try:
        pool = RayPool(cluster.address, tempfile.mkdtemp(prefix="lrviz-bench-"))
        try:
            rate = throughput(pool, runs)
            steps = sum(len(pool.store.steps(i)["step"]) for i in range(1, runs + 1))
            stream = {"batches": receive.calls, "receive_s": receive.seconds, "write_s": write.seconds, "rows": steps}
            stopped = stop_s(pool) if nodes == 2 else None
        finally:
            pool.shutdown()
    finally:
        receive.restore(), write.restore()
        cluster.shutdown()
    return rate, stream, stopped


def local(workers: int, runs: int) -> tuple[float, float | None]:
    pool = Pool(tempfile.mkdtemp(prefix="lrviz-bench-"), max_workers=workers)
    try:
        return throughput(pool, runs), stop_s(pool) if workers == 2 else None
    finally:
        pool.shutdown()


def store_rate(rows: int = 100_000, batch: int = 250) -> float:
    """Step rows per second the store takes in batches the size a sink sends."""
    from lrviz import config
    from lrviz.store import STEP_COLUMNS, Store

    store = Store(tempfile.mkdtemp(prefix="lrviz-bench-"))
    cfg = config.validate(RUN)
    run_id = store.create_run(None, cfg, 1, rows, None, None, None, None, None)
    row = (0, 0, 0.01, 0.5, 0.1, *[0.1] * (len(STEP_COLUMNS) - 5))
    t = time.perf_counter()
    for start in range(0, rows, batch):
        store.append_steps(run_id, [(i, 0, *row[2:]) for i in range(start, start + batch)])
    return rows / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 runs instead of 16")
    runs = 8 if parser.parse_args().quick else 16
    print(f"throughput: {runs} independent runs of {RUN['training']['epochs'] * 25} steps each")
    print("| executor | workers | runs/s | × one worker |\n|---|---:|---:|---:|")
    base, stops = None, {}
    for workers in (1, 2):
        rate, stops["local pool, 2 workers"] = local(workers, runs)
        base = base or rate
        print(f"| local pool | {workers} | {rate:.2f} | {rate / base:.2f} |", flush=True)
    base, streams = None, {}
    for nodes in (1, 2, 4):
        rate, streams[nodes], stopped = on_ray(nodes, runs)
        if stopped is not None:
            stops["Ray, 2 nodes"] = stopped
        base = base or rate
        print(f"| Ray, {nodes} node{'s' if nodes > 1 else ''} of 1 CPU | {nodes} | {rate:.2f} | {rate / base:.2f} |",
              flush=True)
    print("\nstream back (the server's monitor thread):")
    print("| nodes | batches | rows | ms a batch (take + write) | of which writing | rows a batch |")
    print("|---:|---:|---:|---:|---:|---:|")
    for nodes, s in streams.items():
        print(f"| {nodes} | {s['batches']} | {s['rows']} | {1000 * s['receive_s'] / max(s['batches'], 1):.2f} | "
              f"{1000 * s['write_s'] / max(s['batches'], 1):.2f} | {s['rows'] / max(s['batches'], 1):.0f} |")
    print(f"\nstore: {store_rate():,.0f} step rows/s written in batches of 250")
    print("\nStop -> 'stopped' in the store (median of 5): " + ", ".join(f"{k}: {v:.3f} s" for k, v in stops.items()))


if __name__ == "__main__":
    main()
