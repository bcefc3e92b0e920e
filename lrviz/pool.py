"""The spawned pool: today's executor (lrviz.executor), worker processes on this machine.

The server process imports this module, so nothing here imports TensorFlow: each worker
(lrviz.worker.main) imports it once when it starts (a warm worker answers a submit within a
second or two). Workers write metrics straight to the store; the pipe back to the pool only
says "ready" and "finished" (with the worker's memory). A monitor thread hands queued runs to
idle workers, replaces dead workers (their run becomes 'failed'), ends a worker that does not
honour Stop in time, and recycles a worker whose memory has grown: Keras leaks a few MB with
every model trained, so a warm successor is started and the old worker leaves once it is
ready and idle.
"""
from __future__ import annotations

import atexit
import math
import multiprocessing as mp
import os
import sys
import threading
import time
from multiprocessing.connection import wait

from . import config as cfgmod
from . import executor, sharing
from . import worker as workermod
from .store import Store
from .visitors import HOST, Visitor

STOP_GRACE_S = 0.8      # a worker that has not stopped by then is ended (Stop lands within 1 s)
MAX_START_FAILURES = 3  # workers that die before they are ready: give up instead of looping
RECYCLE_GROWTH = 0.05   # memory growth since the worker became ready that starts a successor


class Worker:
    """What the pool keeps of a worker, whatever runs it: a process here (_Process), a Ray actor
    in lrviz.ray_pool. Each kind implements the methods below the state."""

    def __init__(self):
        self.ready = False
        self.run_ids: list[int] = []   # its job: one run, or several side by side
        self.deadlines: dict[int, float] = {}  # run told to stop -> when it must have
        self.baseline_mib = None   # memory once warm
        self.successor = None      # the warm worker that will take over from this one
        self.leaving = False       # told to exit: not a crash
        self.ending = False        # killed for not stopping in time: alive until reaped, yet no longer ours

    def idle(self) -> bool:
        return self.ready and not self.run_ids and not self.leaving and not self.ending and self.alive()

    def alive(self) -> bool:
        raise NotImplementedError

    def send(self, job: list | None) -> None:
        """Train a job, [(run_id, config)], its stops cleared; None: leave. OSError: it is gone."""
        raise NotImplementedError

    def request_stop(self, index: int, run_id: int) -> None:
        """Stop the job's index-th run, run_id."""
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def death(self) -> str:
        """Why it ended, once the pool learnt that it did."""
        raise NotImplementedError

    def failed_to_start(self) -> bool:
        """It ended before it could train: too many of these in a row and the pool gives up."""
        return not self.ready

    def close(self) -> None:
        """Release what talks to it, once it ended."""


class _Process(Worker):
    def __init__(self, ctx, home, pid_of_parent):
        super().__init__()
        self.conn, child = ctx.Pipe()
        self.stop = ctx.Array("q", [-1] * executor.MAX_STACK, lock=False)  # slot i: the job's i-th run, to stop
        self.process = ctx.Process(target=workermod.main, args=(child, self.stop, str(home), pid_of_parent),
                                   name="lrviz-worker", daemon=True)
        _start_without_main(self.process)
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, job: list | None) -> None:
        if job is not None:
            for i in range(executor.MAX_STACK):
                self.stop[i] = -1
        self.conn.send(job)

    def request_stop(self, index: int, run_id: int) -> None:
        self.stop[index] = run_id

    def kill(self) -> None:
        self.process.kill()

    def death(self) -> str:
        self.process.join(timeout=1.0)
        code = self.process.exitcode
        return f"worker process died (signal {-code})" if code and code < 0 else \
            f"worker process died (exit code {code})"

    def close(self) -> None:
        self.conn.close()


_MAIN_LOCK = threading.Lock()


def _start_without_main(process) -> None:
    """Spawn re-imports the parent's __main__ in the child. Under `streamlit run` that is the
    page script, which would build a second pool in every worker; hiding its __file__ makes
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


class Pool:
    """An Executor (lrviz.executor) whose workers are spawned processes sharing the store's file."""

    notice: str | None = None  # what a page should say about it (why the cluster is not used)
    spawns = True  # its workers are processes of this one's (never started from a spawned child)

    def __init__(self, home=None, max_workers: int | None = None, warm_after: float = 0.0,
                 stop_grace_s: float = STOP_GRACE_S, recycle_growth: float = RECYCLE_GROWTH):
        """warm_after: seconds to wait before the workers start (and import TensorFlow), so a
        page's first draw does not compete with them for the cores; warm() or a submit starts
        them at once. stop_grace_s: how long a stopped run's worker has before it is ended.
        recycle_growth: the memory growth (0.05 = 5 %) after a run that replaces the worker.
        Both are read when used: setting the attributes later takes effect at once.
        Its store is the server's: what a server that crashed left queued or running is marked
        interrupted here, once (a store that cannot be written to stops the pool here too)."""
        if mp.parent_process() is not None and self.spawns:
            raise RuntimeError("a Pool cannot start inside a worker process")
        self.stop_grace_s, self.recycle_growth = stop_grace_s, recycle_growth
        self.store = Store(home)
        self.store.recover()
        self.max_workers = worker_count(max_workers)
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._pending: list[int] = []
        self._configs: dict[int, dict] = {}
        self._keys: dict[int, tuple] = {}  # executor.stack_key and block_key of each queued run
        self._visitors: dict[int, str | None] = {}  # who asked for each queued run
        self._groups: dict[int, int | None] = {}  # each queued run's experiment (None: a single run)
        self._served: dict[str | None, float] = {}  # visitor -> when a worker last took one of their runs
        self.limits = sharing.Limits.from_env()
        self._deleted: set[int] = set()  # their workers may still be stopping: not active any more
        self._start_failures = 0
        self._broken = None         # why workers cannot start, once we gave up respawning
        self._closed = False
        self._workers: list[Worker] = []
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

    def _spawn(self) -> Worker:
        return _Process(self._ctx, self.store.home, os.getpid())

    # --- public API ----------------------------------------------------------------------

    def submit(self, config: dict, name: str | None = None, group: int | None = None,
               cell: list | None = None, by: Visitor = HOST) -> int:
        """Queue a run; returns its id. A bad config or CSV, or one the host's limits refuse,
        raises ConfigError here."""
        return self.submit_many([(config, name, cell)], group, by)[0]

    def submit_many(self, runs: list[tuple[dict, str | None, list | None]], group: int | None = None,
                    by: Visitor = HOST) -> list[int]:
        """Queue runs at once (those that differ only in their seed may train side by side); every
        config is checked before any run is made."""
        cfgs = [executor.check_config(config, self.store, by) for config, _, _ in runs]
        if self._closed:
            raise RuntimeError("the engine is shut down")
        lengths = [(c["training"]["epochs"], cfgmod.steps_per_epoch(c)) for c in cfgs] if by.id is not None else []
        with self._lock:  # the count and the new runs at once: two quick presses cannot both slip under the limit
            if by.id is not None:
                waiting = len({self._groups[r] or -r for r in self._pending if self._visitors[r] == by.id})
                self.limits.check(lengths, waiting, group is not None)
            ids = []
            try:
                for cfg, (_, name, cell) in zip(cfgs, runs):
                    ids.append(executor.create_run(self.store, cfg, name, group, cell, by))
            except BaseException:
                for run_id in ids:  # none of them is queued: none may stay 'queued'
                    self.store.delete(run_id)
                raise
            for run_id, cfg in zip(ids, cfgs):
                self._pending.append(run_id)
                self._configs[run_id] = cfg
                self._keys[run_id] = executor.stack_key(cfg), executor.block_key(cfg)
                self._visitors[run_id], self._groups[run_id] = by.id, group
            self.warm()
            self._dispatch()
        return ids

    def stop(self, run_id: int) -> None:
        """End a run within a second as 'stopped', keeping its metrics; a queued run is cancelled."""
        with self._lock:
            if run_id in self._pending:
                self._forget(run_id)
                self.store.finish_if_active(run_id, "stopped")
                return
            for w in self._workers:
                if run_id in w.run_ids:
                    w.request_stop(w.run_ids.index(run_id), run_id)
                    w.deadlines.setdefault(run_id, time.monotonic() + self.stop_grace_s)

    def delete(self, run_id: int) -> None:
        """Stop the run as Stop does (a queued run leaves the queue; a running one's worker is
        free within stop_grace_s) and remove it with all its rows; the store refuses the rows its
        worker still sends."""
        with self._lock:
            self._deleted.add(run_id)
            self.stop(run_id)
        self.store.delete(run_id)

    def progress(self, run_id: int) -> executor.Progress | None:
        with self._lock:
            position = self._queue().index(run_id) + 1 if run_id in self._pending else None
            starting = not any(w.ready for w in self._workers)
        return executor.progress(self.store, run_id, position, starting)

    def active(self) -> list[int]:
        with self._lock:
            running = [i for w in self._workers for i in w.run_ids]
            self._deleted.intersection_update(running)  # only runs still stopping need remembering
            return [i for i in running if i not in self._deleted] + self._queue()

    def where(self) -> str:
        """Where its runs train, in words."""
        return f"this machine ({self.max_workers} worker{'s' if self.max_workers > 1 else ''})"

    def workers(self) -> list[int]:
        """Process ids of the live workers (a recycled one and its successor may overlap)."""
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
                    w.send(None)
                except OSError:
                    pass
        if threading.current_thread() is not self._monitor:
            self._monitor.join(timeout=1.0)
        self._end_workers()
        atexit.unregister(self.shutdown)

    def _end_workers(self) -> None:
        """After shutdown told them to leave: wait a little, then end the rest."""
        for w in self._workers:
            w.process.join(timeout=1.0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=2.0)
            w.conn.close()

    # --- the monitor thread ----------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._broken and not self._workers:
            for run_id in self._pending:
                self.store.finish_if_active(run_id, "failed", self._broken)
            for run_id in list(self._pending):
                self._forget(run_id)
        for w in sorted(self._workers, key=lambda w: w.successor is not None):  # fresh ones first
            if not self._pending:
                return
            if w.idle():
                job = self._next_job()
                try:
                    w.send([(run_id, self._configs[run_id]) for run_id in job])
                except OSError:
                    continue  # it just died: the runs wait for the next worker
                for run_id in job:
                    self._served[self._visitors[run_id]] = time.monotonic()
                    self._forget(run_id)
                w.run_ids, w.deadlines = job, {}

    def _queue(self) -> list[int]:
        """The queued runs in the order they will start: visitors in turn (lrviz.sharing)."""
        singles = {r for r in self._pending if self._groups[r] is None}  # first in their visitor's turn
        return sharing.fair_order(self._pending, self._visitors, self._served, singles)

    def _forget(self, run_id: int) -> None:
        self._pending.remove(run_id)
        for kept in (self._configs, self._keys, self._visitors, self._groups):
            kept.pop(run_id, None)

    def _next_job(self) -> list[int]:
        """The first queued run and those queued that can train beside it (executor.stack_key), at
        most MAX_STACK. On small models a run's cost is mostly its own (loading, building, tracing):
        K in one block, side by side in one worker, cost about what one run costs, less than K
        split over workers that share the cores. Each further block costs about a run of its own
        (its own layers to trace): a job takes its share of the blocks, one per worker
        (benchmarks/bench_experiments.py)."""
        queue = self._queue()
        first = queue[0]
        key = self._keys[first][0]
        if key is None:
            return [first]
        blocks: dict[str, list[int]] = {}  # in queue order
        for r in queue:
            if self._keys[r][0] == key:
                blocks.setdefault(self._keys[r][1], []).append(r)
        job = []
        for runs in list(blocks.values())[:math.ceil(len(blocks) / self.max_workers)]:
            if job and len(job) + len(runs) > executor.MAX_STACK:
                break  # whole blocks: each one a job pays for is a trace of its own
            job += runs
        return job[:executor.MAX_STACK]

    def _recycle(self) -> None:
        for w in self._workers:
            if w.successor is not None and w.successor.ready and w.idle():
                w.leaving = True
                try:
                    w.send(None)
                except OSError:
                    pass  # already gone

    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                workers = list(self._workers)
            try:
                messages, dead = self._wait(workers)
            except Exception as exc:  # noqa: BLE001 - as below
                print(f"lrviz engine: {exc}", file=sys.stderr)
                messages, dead = [], []
                time.sleep(1.0)
            with self._lock:
                if self._closed:
                    return
                try:
                    for w, msg in messages:  # each on its own: one that fails loses no other's news
                        self._guarded(self._message, w, msg)
                    for w in dead:
                        self._guarded(self._replace, w)
                    if time.monotonic() >= self._warm_at:
                        self.warm()
                    self._enforce_stops()
                    self._recycle()
                    self._dispatch()
                except Exception as exc:  # e.g. a full disk: keep watching, say it once a second
                    print(f"lrviz engine: {exc}", file=sys.stderr)
                    time.sleep(1.0)

    @staticmethod
    def _guarded(fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: said, and the next goes on
            print(f"lrviz engine: {exc}", file=sys.stderr)

    def _wait(self, workers: list[Worker]) -> tuple[list, list]:
        """Up to 0.05 s for news, without the lock: ([(worker, message)], [workers that died])."""
        conns = {w.conn: w for w in workers}
        sentinels = {w.process.sentinel: w for w in workers}
        ready = wait(list(conns) + list(sentinels), timeout=0.05)
        messages = []
        for obj in ready:
            if obj in conns:
                try:
                    messages.append((conns[obj], obj.recv()))
                except (EOFError, OSError):
                    pass  # the worker died; its sentinel says so
        return messages, [sentinels[obj] for obj in ready if obj in sentinels]

    def _message(self, w: Worker, msg) -> None:
        if msg[0] == "ready":
            w.ready, w.baseline_mib, self._start_failures = True, msg[1], 0
        elif msg[0] == "finished" and w.run_ids == msg[1]:
            w.run_ids, w.deadlines = [], {}
            growth = msg[2] / w.baseline_mib - 1 if w.baseline_mib and msg[2] else None
            if growth is not None and growth > self.recycle_growth and w.successor is None:
                self._recycle_grown(w, growth)

    def _recycle_grown(self, w: Worker, growth: float) -> None:
        """A warm successor now; the grown worker leaves once it is ready (_recycle)."""
        w.successor = self._spawn()
        self._workers.append(w.successor)

    def _replace(self, w: Worker) -> None:
        if w not in self._workers:
            return
        reason = w.death()
        if w.leaving:
            w.close()
            self._workers.remove(w)
            return
        for run_id in w.run_ids:
            self.store.finish_if_active(run_id, "failed", reason)
        self._start_failures = self._start_failures + 1 if w.failed_to_start() else 0
        w.close()
        self._workers.remove(w)
        if self._start_failures >= MAX_START_FAILURES:
            self._broken = f"workers cannot start: {reason}"
            return
        if w.successor is not None or self._broken:
            return  # it was being recycled: its successor takes its place; or none can start
        self._respawn(w)

    def _respawn(self, w: Worker) -> None:
        """A fresh worker in the dead one's place."""
        fresh = self._spawn()
        self._workers.append(fresh)
        for x in self._workers:
            if x.successor is w:
                x.successor = fresh

    def _enforce_stops(self) -> None:
        now = time.monotonic()
        for w in self._workers:
            late = [run_id for run_id, deadline in w.deadlines.items() if now > deadline]
            if not late:
                continue
            if set(w.deadlines) >= set(w.run_ids):
                # Its whole job, still inside one long graph call: end the process; the metrics
                # are in the store.
                for run_id in w.run_ids:
                    self.store.finish_if_active(run_id, "stopped")
                w.run_ids, w.deadlines, w.ending = [], {}, True
                w.kill()
                continue
            for run_id in late:  # others of its stack still train: this one is stopped for the page now
                self.store.finish_if_active(run_id, "stopped")
                del w.deadlines[run_id]


