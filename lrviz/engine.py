"""A pool of spawned worker processes that train runs in the background.

The server process imports this module, so nothing here imports TensorFlow: each worker
imports it once when it starts (a warm worker answers a submit within a second or two).
Workers write metrics straight to the store; the pipe back to the engine only says
"ready" and "finished" (with the worker's memory). A monitor thread hands queued runs to
idle workers, replaces dead workers (their run becomes 'failed'), ends a worker that does not
honour Stop in time, and recycles a worker whose memory has grown: Keras leaks a few MB with
every model trained, so a warm successor is started and the old worker leaves once it is
ready and idle.
"""
from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import wait

from . import config as cfgmod
from .store import Store

STOP_GRACE_S = 0.8      # a worker that has not stopped by then is ended (Stop lands within 1 s)
FLUSH_S = 0.25          # workers write metrics at most this often (and the first rows at once)
MAX_START_FAILURES = 3  # workers that die before they are ready: give up instead of looping
RECYCLE_GROWTH = 0.05   # memory growth since the worker became ready that starts a successor


class _Worker:
    def __init__(self, ctx, home, pid_of_parent):
        self.conn, child = ctx.Pipe()
        self.stop = ctx.Value("q", -1, lock=False)   # id of the run to stop
        self.process = ctx.Process(target=_worker_main, args=(child, self.stop, str(home), pid_of_parent),
                                   name="lrviz-worker", daemon=True)
        _start_without_main(self.process)
        child.close()
        self.ready = False
        self.run_id = None
        self.stop_deadline = None
        self.baseline_mib = None   # memory once warm
        self.successor = None      # the warm worker that will take over from this one
        self.leaving = False       # told to exit: not a crash
        self.ending = False        # killed for not stopping in time: alive until reaped, yet no longer ours

    def idle(self) -> bool:
        return (self.ready and self.run_id is None and not self.leaving and not self.ending
                and self.process.is_alive())


_MAIN_LOCK = threading.Lock()


def _start_without_main(process) -> None:
    """Spawn re-imports the parent's __main__ in the child. Under `streamlit run` that is the
    page script, which would build a second Engine in every worker; hiding its __file__ makes
    spawn skip it (the same way it skips an interactive session)."""
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        path = main.__dict__.pop("__file__", None) if main else None
        try:
            process.start()
        finally:
            if path is not None:
                main.__file__ = path


def worker_count(max_workers: int | None) -> int:
    """The argument, else $LRVIZ_WORKERS, else one worker per core."""
    return max(1, max_workers or int(os.environ.get("LRVIZ_WORKERS") or 0) or os.cpu_count() or 1)


class Engine:
    def __init__(self, home=None, max_workers: int | None = None, warm_after: float = 0.0):
        """warm_after: seconds to wait before the workers start (and import TensorFlow), so a
        page's first draw does not compete with them for the cores; warm() or a submit starts
        them at once."""
        if mp.parent_process() is not None:
            raise RuntimeError("an Engine cannot start inside a worker process")
        self.store = Store(home)
        self.store.recover()
        self.max_workers = worker_count(max_workers)
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._pending: list[int] = []
        self._configs: dict[int, dict] = {}
        self._deleted: set[int] = set()  # their workers may still be stopping: not active any more
        self._start_failures = 0
        self._broken = None         # why workers cannot start, once we gave up respawning
        self._closed = False
        self._workers: list[_Worker] = []
        self._warm_at = time.monotonic() + warm_after
        self._warmed = False
        if warm_after <= 0:
            self.warm()
        self._monitor = threading.Thread(target=self._watch, name="lrviz-engine", daemon=True)
        self._monitor.start()
        atexit.register(self.shutdown)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every worker has TensorFlow loaded (True) or the timeout passes."""
        end = None if timeout is None else time.monotonic() + timeout
        while not (self._warmed and all(w.ready for w in list(self._workers))):
            if end is not None and time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    def warm(self) -> None:
        """Start the workers now if they are not started yet (a page calls this when the user
        heads for Train; the delay passing or a submit does it otherwise)."""
        with self._lock:
            if not self._warmed and not self._closed:
                self._warmed = True
                self._workers = [self._spawn() for _ in range(self.max_workers)]

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, self.store.home, os.getpid())

    # --- public API ----------------------------------------------------------------------

    def submit(self, config: dict, name: str | None = None) -> int:
        """Queue a run; returns its id. A bad config or CSV raises ConfigError here."""
        cfg = cfgmod.validate(config)
        if cfg["data"]["name"] == "csv":
            from .data import check

            check(cfg["data"])  # a CSV that cannot train (no target, one class) is refused here,
            # reading its target column only: the server never holds the table
        if self._closed:
            raise RuntimeError("the engine is shut down")
        run_id = self.store.create_run(name, cfg, cfg["training"]["epochs"], cfgmod.steps_per_epoch(cfg))
        with self._lock:
            self._pending.append(run_id)
            self._configs[run_id] = cfg
            self.warm()
            self._dispatch()
        return run_id

    def stop(self, run_id: int) -> None:
        """End a run within a second as 'stopped', keeping its metrics; a queued run is cancelled."""
        with self._lock:
            if run_id in self._pending:
                self._pending.remove(run_id)
                self._configs.pop(run_id, None)
                self.store.finish_if_active(run_id, "stopped")
                return
            for w in self._workers:
                if w.run_id == run_id:
                    w.stop.value = run_id
                    w.stop_deadline = w.stop_deadline or time.monotonic() + STOP_GRACE_S

    def delete(self, run_id: int) -> None:
        """Stop the run as Stop does (a queued run leaves the queue; a running one's worker is
        free within STOP_GRACE_S) and remove it with all its rows; the store refuses the rows its
        worker still sends."""
        with self._lock:
            self._deleted.add(run_id)
            self.stop(run_id)
        self.store.delete(run_id)

    def progress(self, run_id: int) -> dict | None:
        run = self.store.run(run_id)
        if run is None:
            return None
        with self._lock:
            position = self._pending.index(run_id) + 1 if run_id in self._pending else None
            starting = not any(w.ready for w in self._workers)
        step, epoch = self.store.last(run_id)
        steps, total = step + 1, run["total_steps"]
        elapsed = ((run["finished"] or time.time()) - run["started"]) if run["started"] else 0.0
        eta = None
        if run["status"] == "running" and steps and total:
            eta = elapsed / steps * (total - steps)
        return {"status": run["status"], "queue_position": position, "epoch": epoch + 1,
                "epochs": run["epochs"], "step": steps, "total_steps": total, "elapsed_s": elapsed,
                "eta_s": eta, "error": run["error"], "workers_starting": starting}

    def active(self) -> list[int]:
        with self._lock:
            running = [w.run_id for w in self._workers if w.run_id is not None]
            self._deleted.intersection_update(running)  # only runs still stopping need remembering
            return [i for i in running if i not in self._deleted] + list(self._pending)

    def workers(self) -> list[int]:
        """Process ids of the live workers."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.is_alive()]

    def shutdown(self) -> None:
        """End every worker; runs still queued or running become 'interrupted'."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for run_id in self.active():
                self.store.finish_if_active(run_id, "interrupted", "the app shut down during the run")
            self._pending.clear()
            for w in self._workers:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        if threading.current_thread() is not self._monitor:
            self._monitor.join(timeout=1.0)
        for w in self._workers:
            w.process.join(timeout=1.0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=2.0)
            w.conn.close()
        atexit.unregister(self.shutdown)

    # --- the monitor thread ----------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._broken and not self._workers:
            for run_id in self._pending:
                self.store.finish_if_active(run_id, "failed", self._broken)
            self._pending.clear()
        for w in sorted(self._workers, key=lambda w: w.successor is not None):  # fresh ones first
            if not self._pending:
                return
            if w.idle():
                run_id = self._pending[0]
                try:
                    w.conn.send((run_id, self._configs[run_id]))
                except OSError:
                    continue  # it just died: the run waits for the next worker
                self._pending.pop(0)
                del self._configs[run_id]
                w.run_id, w.stop_deadline = run_id, None

    def _recycle(self) -> None:
        for w in self._workers:
            if w.successor is not None and w.successor.ready and w.idle():
                w.leaving = True
                try:
                    w.conn.send(None)
                except OSError:
                    pass  # already gone

    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                conns = {w.conn: w for w in self._workers}
                sentinels = {w.process.sentinel: w for w in self._workers}
            ready = wait(list(conns) + list(sentinels), timeout=0.05)
            with self._lock:
                if self._closed:
                    return
                try:
                    for obj in ready:
                        if obj in conns:
                            self._message(conns[obj])
                    for obj in ready:
                        if obj in sentinels:
                            self._replace(sentinels[obj])
                    if time.monotonic() >= self._warm_at:
                        self.warm()
                    self._enforce_stops()
                    self._recycle()
                    self._dispatch()
                except Exception as exc:  # e.g. a full disk: keep watching, say it once a second
                    print(f"lrviz engine: {exc}", file=sys.stderr)
                    time.sleep(1.0)

    def _message(self, w: _Worker) -> None:
        try:
            msg = w.conn.recv()
        except (EOFError, OSError):
            return  # the worker died; its sentinel says so
        if msg[0] == "ready":
            w.ready, w.baseline_mib, self._start_failures = True, msg[1], 0
        elif msg[0] == "finished" and w.run_id == msg[1]:
            w.run_id = w.stop_deadline = None
            grown = w.baseline_mib and msg[2] and msg[2] > w.baseline_mib * (1 + RECYCLE_GROWTH)
            if grown and w.successor is None:
                w.successor = self._spawn()
                self._workers.append(w.successor)

    def _replace(self, w: _Worker) -> None:
        if w not in self._workers:
            return
        w.process.join(timeout=1.0)
        if w.leaving:
            w.conn.close()
            self._workers.remove(w)
            return
        code = w.process.exitcode
        reason = f"worker process died (signal {-code})" if code and code < 0 else \
            f"worker process died (exit code {code})"
        if w.run_id is not None:
            self.store.finish_if_active(w.run_id, "failed", reason)
        self._start_failures = 0 if w.ready else self._start_failures + 1
        w.conn.close()
        self._workers.remove(w)
        if self._start_failures >= MAX_START_FAILURES:
            self._broken = f"workers cannot start: {reason}"
            return
        if w.successor is not None:
            return  # it was being recycled: its successor takes its place
        fresh = self._spawn()
        self._workers.append(fresh)
        for x in self._workers:
            if x.successor is w:
                x.successor = fresh

    def _enforce_stops(self) -> None:
        now = time.monotonic()
        for w in self._workers:
            if w.run_id is not None and w.stop_deadline is not None and now > w.stop_deadline:
                # Still inside one long graph call: end the process; its metrics are in the store.
                self.store.finish_if_active(w.run_id, "stopped")
                w.run_id, w.ending = None, True
                w.process.kill()


# --- the worker process ----------------------------------------------------------------------

def _worker_main(conn, stop, home: str, parent: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["LRVIZ_HOME"] = home  # where a config's bare CSV name is found (lrviz.uploads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the server; it ends us in order
    os.nice(19)  # training (and the TensorFlow import) yields the cores to the page
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from . import train  # the slow import and the first trace, before the first job

    with train.quiet_stderr():
        train.warm_up()
    store = Store(home)
    conn.send(("ready", _rss_mib()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            job = None
        if job is None:  # every write is committed: skip TensorFlow's slow teardown
            os._exit(0)
        run_id, cfg = job
        _run_job(train, store, run_id, cfg, _StopFlag(stop, run_id))
        conn.send(("finished", run_id, _rss_mib()))


def _rss_mib() -> float | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None  # not Linux: no recycling


def _run_job(train, store: Store, run_id: int, cfg: dict, stop) -> None:
    if stop.is_set():
        store.finish_if_active(run_id, "stopped")
        return
    sink = _StoreSink(store, run_id)
    try:
        outcome = train.run(cfg, sink, stop,
                            on_start=lambda metric: store.set_status(run_id, "running", metric=metric))
        sink.flush()
        store.set_status(run_id, outcome.status, outcome.error)
    except Exception as exc:  # a bad CSV, a full disk: the run fails, the worker goes on
        try:
            sink.flush()
            store.set_status(run_id, "failed", str(exc) or exc.__class__.__name__)
        except Exception:
            pass  # the store itself is broken; the page shows the store's error


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


class _StopFlag:
    def __init__(self, value, run_id: int):
        self.value, self.run_id = value, run_id

    def is_set(self) -> bool:
        return self.value.value == self.run_id


class _StoreSink:
    """train.run's sink: collects its rows (tuples in store.STEP_COLUMNS / EPOCH_COLUMNS order)
    and writes them in batches: the first at once, then every FLUSH_S."""

    def __init__(self, store: Store, run_id: int):
        self.store, self.run_id = store, run_id
        self.steps, self.epochs = [], []
        self.last = 0.0

    def __call__(self, steps, epochs) -> None:
        self.steps += steps
        self.epochs += epochs
        if time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self.store.append_steps(self.run_id, self.steps)
        self.store.append_epochs(self.run_id, self.epochs)
        self.steps, self.epochs = [], []
        self.last = time.monotonic()
