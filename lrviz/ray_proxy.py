"""The executor the server and the CLI get for a Ray cluster: a RayPool (lrviz.ray_pool) in a
process of its own, and calls to it over a pipe.

Why a process apart: Ray ends a process connected to the cluster when the cluster's head or that
machine's node goes (measured: exit code 1 about a second after the head's processes were
killed, with nothing said). In its own process that takes the pool alone, not the web server:
RayProxy then fails the runs it had with the reason, says so in `notice`, and trains whatever
comes next on this machine's pool, as the page does when the cluster cannot be reached at start.

Importing this module imports neither Ray nor TensorFlow; the process it starts imports Ray.
"""
from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import threading
import time
from multiprocessing.connection import wait

from . import executor
from .pool import STOP_GRACE_S, Pool, _start_without_main
from .store import Store
from .visitors import HOST, Visitor

CONNECT_S = 120.0  # the most a connection may take (a refused token takes Ray 20 s to give up)
CALLS = ("submit", "submit_many", "stop", "delete", "progress", "active", "warm", "where", "workers",
         "wait_ready")


class RayProxy:
    """An Executor (lrviz.executor) whose runs train on the Ray cluster at `address` through a
    RayPool in a child process; Unreachable when the cluster cannot be reached. kwargs: the
    pool's (RayPool's, and the local Pool's it falls back on)."""

    notice: str | None = None

    def __init__(self, address: str, home=None, **kwargs):
        self.address, self.kwargs = address, kwargs
        self.stop_grace_s = kwargs.get("stop_grace_s", STOP_GRACE_S)
        self.store = Store(home)
        self._lock = threading.Lock()  # one call on the pipe at a time
        self._local: Pool | None = None  # this machine's pool, once the cluster is lost
        self._closing = False
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=serve, args=(child, address, str(self.store.home), kwargs, os.getpid()),
                                    name="lrviz-ray", daemon=True)
        _start_without_main(self._process)
        child.close()
        if not self._conn.poll(CONNECT_S):
            self._process.kill()
            raise executor.Unreachable(f"the Ray cluster at {address} did not answer within {CONNECT_S:.0f} s")
        try:
            said = self._conn.recv()
        except EOFError:
            said = ("unreachable", f"the Ray cluster at {address} could not be joined: the process connecting "
                                   f"to it ended (exit code {self._process.exitcode})")
        if said[0] != "ready":
            self._process.join(timeout=5)
            raise executor.Unreachable(said[1])
        self._owner = said[1]  # the runs it queues are stored as this process's
        threading.Thread(target=self._watch, name="lrviz-ray-watch", daemon=True).start()
        atexit.register(self.shutdown)

    # --- the Executor calls: to the cluster's pool, or to the local one once it is lost ---------

    def submit(self, config: dict, name: str | None = None, group: int | None = None,
               cell: list | None = None, by: Visitor = HOST) -> int:
        return self._call("submit", config, name, group, cell, by)

    def submit_many(self, runs: list[tuple[dict, str | None, list | None]], group: int | None = None,
                    by: Visitor = HOST) -> list[int]:
        return self._call("submit_many", runs, group, by)

    def stop(self, run_id: int) -> None:
        return self._call("stop", run_id)

    def delete(self, run_id: int) -> None:
        return self._call("delete", run_id)

    def progress(self, run_id: int) -> executor.Progress | None:
        return self._call("progress", run_id)

    def active(self) -> list[int]:
        return self._call("active")

    def where(self) -> str:
        return self._call("where")

    def warm(self) -> None:
        return self._call("warm")

    def workers(self) -> list:
        return self._call("workers")

    def wait_ready(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while not self._call("wait_ready", 0.1):
            if end is not None and time.monotonic() > end:
                return False
        return True

    def shutdown(self) -> None:
        """End the cluster's pool (its runs become 'interrupted', its actors end) or the local one."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            if self._local is None:
                try:
                    self._conn.send(("shutdown", (), {}))
                    self._conn.poll(30)
                except OSError:
                    pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        if self._local is not None:
            self._local.shutdown()
        atexit.unregister(self.shutdown)

    def _call(self, name: str, *args):
        with self._lock:
            if self._local is None:
                try:
                    self._conn.send((name, args, {}))
                    said = self._conn.recv()
                except (EOFError, OSError):
                    said = None  # the process ended: the watcher fails its runs and brings the local pool
                except Exception as exc:  # noqa: BLE001 - an answer that could not be rebuilt here
                    raise RuntimeError(f"the Ray pool's answer to {name} could not be read: {exc}") from None
                if said is not None:
                    if said[0] == "raise":
                        raise said[1]
                    return said[1]
        if name in ("submit", "submit_many") and self._local is None:
            # It may or may not have queued them before it ended: pressing again is the user's call.
            raise RuntimeError(f"the connection to the Ray cluster at {self.address} was lost: press again "
                               "to train on this machine")
        self._lost()
        return getattr(self._local, name)(*args)

    # --- when the process ends ----------------------------------------------------------------

    def _watch(self) -> None:
        wait([self._process.sentinel])
        if not self._closing:
            self._lost()

    def _lost(self) -> None:
        """Its runs fail with the reason, and this machine's pool takes what comes next."""
        with self._lock:
            if self._local is not None or self._closing:
                return
            self._process.join(timeout=1)
            reason = (f"the connection to the Ray cluster at {self.address} was lost (the process connected to it "
                      f"ended, exit code {self._process.exitcode})")
            for run in self.store.runs():
                if run["owner"] == self._owner and run["status"] in ("queued", "running"):
                    self.store.finish_if_active(run["id"], "failed", reason)
            self.notice = f"{reason}. Runs train on this machine now (restart the app to use the cluster again)."
            local = {k: v for k, v in self.kwargs.items() if k in ("warm_after", "stop_grace_s", "recycle_growth")}
            self._local = Pool(self.store.home, **local)


def serve(conn, address: str, home: str, kwargs: dict, parent: int) -> None:
    """The child process: a RayPool, and the proxy's calls answered one at a time."""
    from . import worker
    from .ray_pool import RayPool
    from .store import owner_id

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the server, which ends us in order
    threading.Thread(target=worker._exit_with_parent, args=(parent,), daemon=True).start()
    try:
        pool = RayPool(address, home, **kwargs)
    except Exception as exc:  # noqa: BLE001 - Unreachable, or a store that cannot be opened: said
        conn.send(("unreachable", str(exc)))
        return
    conn.send(("ready", owner_id()))
    while True:
        try:
            name, args, kw = conn.recv()
        except (EOFError, OSError):
            break
        if name == "shutdown":
            pool.shutdown()
            conn.send(("ok", None))
            break
        try:
            if name not in CALLS:
                raise AttributeError(name)
            said = ("ok", getattr(pool, name)(*args, **kw))
        except Exception as exc:  # noqa: BLE001 - raised again in the server, as the local pool would
            said = ("raise", exc)
        try:
            conn.send(said)
        except Exception as exc:  # noqa: BLE001 - an error that cannot be sent as itself (pickle): said in words
            conn.send(("raise", RuntimeError(f"{said[1].__class__.__name__}: {said[1]}" if said[0] == "raise"
                                             else f"the Ray pool's answer to {name} could not be sent: {exc}")))
    os._exit(0)  # every write is committed: skip Ray's and TensorFlow's slow teardown
