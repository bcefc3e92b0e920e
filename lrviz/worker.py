"""What runs inside a worker process: its main loop, one job, the Stop flag and the sink.

Importing this module does not import TensorFlow (the pool's server process imports it to
name the worker's entry point); `main` imports lrviz.train once, before the first job.
run_job and the sink are the parts another executor's workers reuse: such a worker that
cannot reach the store's file passes run_job a sink that sends the same calls back.
"""
from __future__ import annotations

import gc
import os
import signal
import socket
import threading
import time

from .store import Store

FLUSH_S = 0.25  # a sink writes metrics at most this often (and the first rows at once)


def main(conn, stop, home: str, parent: int) -> None:
    """The pool's worker: says ("ready", MiB) once warm, then trains each job it receives, a
    list of (run_id, config) (several: runs that differ only in their seed, side by side), and
    says ("finished", [run ids], MiB); None or a closed pipe ends it. stop: a shared array,
    slot i holding the id of the job's i-th run once it is to stop."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["LRVIZ_HOME"] = home  # where a config's bare CSV name is found (lrviz.uploads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the server; it ends us in order
    os.nice(19)  # training (and the TensorFlow import) yields the cores to the page
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from . import train  # the slow import and the first trace, before the first job

    with train.quiet_stderr():
        train.warm_up()
    # TensorFlow's import leaves ~370,000 objects that live as long as we do; each full
    # collection walked them all, 0.2 s landing in whichever run was training. Frozen, they
    # are skipped: a full collection after a run then took 0.07 s.
    gc.collect()
    gc.freeze()
    store = Store(home)
    conn.send(("ready", rss_mib()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            job = None
        if job is None:  # every write is committed: skip TensorFlow's slow teardown (and atexit, which
            # training must not need: tests/test_temp_files.py)
            os._exit(0)
        sinks = [StoreSink(store, run_id) for run_id, _ in job]
        stops = [StopFlag(stop, i, run_id) for i, (run_id, _) in enumerate(job)]
        if len(job) == 1:
            run_job(train, sinks[0], job[0][1], stops[0])
        else:
            from . import stacked

            run_stack(train, stacked, sinks, [cfg for _, cfg in job], stops)
        conn.send(("finished", [run_id for run_id, _ in job], rss_mib()))


def rss_mib() -> float | None:
    """This process's resident memory, which the pool watches to recycle a grown worker."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None  # not Linux: no recycling


def run_job(train, sink, cfg: dict, stop, where: str | None = None) -> None:
    """Train one run through `train` (the lrviz.train module), reporting only to the sink.
    A failure fails the run, never the worker. where: the run's node (this process's, unless
    named)."""
    if stop.is_set():
        sink.finish_if_active("stopped")
        return
    try:
        outcome = train.run(cfg, sink, stop,
                            on_start=lambda metric: sink.set_status("running", metric=metric, node=where or node()))
        sink.flush()
        sink.set_status(outcome.status, outcome.error)
    except Exception as exc:  # a bad CSV, a full disk: the run fails, the worker goes on
        try:
            sink.flush()
            sink.set_status("failed", str(exc) or exc.__class__.__name__)
        except Exception:
            pass  # the store itself is broken; the page shows the store's error


def run_stack(train, stacked, sinks: list, cfgs: list[dict], stops: list, where: str | None = None) -> None:
    """Train runs side by side through `stacked` (lrviz.stacked), each reporting to its sink as
    run_job's run does; a failure fails them all, never the worker."""
    live = [i for i, stop in enumerate(stops) if not stop.is_set()]
    for i in set(range(len(stops))) - set(live):
        sinks[i].finish_if_active("stopped")
    if not live:
        return
    sinks, cfgs, stops = [sinks[i] for i in live], [cfgs[i] for i in live], [stops[i] for i in live]
    try:
        def started(metric):
            for sink in sinks:
                sink.set_status("running", metric=metric, node=where or node())

        outcomes = stacked.run(cfgs, sinks, stops, on_start=started)
    except Exception as exc:  # a bad CSV, a full disk: the runs fail, the worker goes on
        outcomes = [train.Outcome("failed", str(exc) or exc.__class__.__name__, 0, 0) for _ in sinks]
    for sink, outcome in zip(sinks, outcomes):  # each on its own: one deleted run ends no other
        try:
            sink.flush()
            sink.set_status(outcome.status, outcome.error)
        except Exception:
            try:
                sink.finish_if_active("failed")
            except Exception:
                pass  # deleted, or the store itself is broken: the page shows the store's error


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


class StopFlag:
    """A run's stop: set once the pool writes its id into its slot of the shared array."""

    def __init__(self, slots, index: int, run_id: int):
        self.slots, self.index, self.run_id = slots, index, run_id

    def is_set(self) -> bool:
        return self.slots[self.index] == self.run_id


def node() -> str:
    """Where a run trains: host and worker process."""
    return f"{socket.gethostname()}/pid {os.getpid()}"


class StoreSink:
    """Where one run's results go from its worker: here, straight into the store's file.

    What run_job calls, which a sink for workers that cannot reach the file sends back:
    - sink(step_rows, epoch_rows): rows as train.run produces them, lists of tuples in
      store.STEP_COLUMNS / EPOCH_COLUMNS order, after each graph call (a chunk of batches,
      about 0.2 s) and each epoch. Batched: the first rows are written at once, then at most every FLUSH_S seconds.
    - views(rows): the model's view at some epochs, (epoch, extent, bytes) each
      (lrviz.model_view); a sink without this method gets none.
    - flush(): write what is held; called once training ends (however it ends) and before
      the final status, so a finished run has all its rows.
    - set_status(status, error=None, metric=None, node=None): as store.set_status; 'running'
      with the metric name and where it trains once the data is loaded, then the final status.
    - finish_if_active(status): as store.finish_if_active; for a run stopped before it started.
    Rows for a deleted run raise store.RunGone (train.run then ends 'failed') and its status
    updates change nothing: the worker goes on with its next job.
    """

    def __init__(self, store: Store, run_id: int):
        self.store, self.run_id = store, run_id
        self.steps, self.epochs, self.pending_views = [], [], []
        self.last = 0.0

    def __call__(self, steps, epochs) -> None:
        self.steps += steps
        self.epochs += epochs
        if time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    def views(self, rows) -> None:
        """The model's view at epochs (lrviz.model_view): held with the epochs' rows."""
        self.pending_views += rows

    def flush(self) -> None:
        self.store.append_steps(self.run_id, self.steps)
        # Views before their epochs: a page that sees an epoch finds its view (it caches by epoch).
        self.store.append_views(self.run_id, self.pending_views)
        self.store.append_epochs(self.run_id, self.epochs)
        self.steps, self.epochs, self.pending_views = [], [], []
        self.last = time.monotonic()

    def set_status(self, status: str, error: str | None = None, metric: str | None = None,
                   node: str | None = None) -> None:
        self.store.set_status(self.run_id, status, error, metric=metric, node=node)

    def finish_if_active(self, status: str) -> None:
        self.store.finish_if_active(self.run_id, status)
