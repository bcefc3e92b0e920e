"""The executor on a Ray cluster: lrviz.pool's queue, fair order, limits and stops, with warm
workers that are Ray actors (lrviz.ray_worker.Trainer), one per CPU the cluster offers.

Importing this module imports Ray; lrviz.executor.start imports it only when a cluster is named
($LRVIZ_RAY_ADDRESS, or the CLI's --ray). The code travels with the connection (Ray's
runtime_env py_modules); the nodes need the same Python packages as the server.

The nodes cannot reach the server's SQLite file. Each job's metric batches stream back from its
actor (a streaming generator method) and the monitor thread writes them to the store as they
arrive, so the page reads a remote run as it reads a local one. A run's rows are in the store
once they arrive: an actor or node that dies fails its runs with the reason and keeps what they
recorded; a server that dies takes its actors with it (Ray ends an owner's actors), and the next
server marks those runs interrupted (Store.recover).
"""
from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
import time
from contextlib import contextmanager

import ray
from ray.exceptions import RayActorError

import lrviz

from . import data, uploads
from .executor import Unreachable
from .pool import Pool, Worker
from .ray_worker import STORE_CALLS, Trainer
from .store import RunGone

REACH_S = 5.0        # how long a cluster's address may take to answer a plain TCP connection
RESOURCES_S = 5.0    # how often the cluster's CPUs are counted again (nodes join and leave)
CACHED_UPLOADS = 16  # uploads kept in the cluster's object store for the next job that reads them
WAITING_S = 30.0     # a worker not ready after this long is said to wait for a free CPU
RETIRE_GROWTH = 0.5  # memory growth that retires a worker whose successor would find no free CPU

_TRAINER = ray.remote(num_cpus=1, max_concurrency=3)(Trainer)  # run, stop, until_exit at once


def connect(address: str) -> int:
    """Connect this process to the cluster at `address` (what ray.init accepts, but Ray Client's
    ray://); the CPUs it offers. Unreachable, with the reason, instead of Ray's own two-minute
    wait for an address where nothing answers."""
    if address.strip().startswith("ray://"):
        raise Unreachable(f"{address} is a Ray Client address, through which a run's metrics cannot stream "
                          "back: give the cluster's own address instead, HEAD:6379 (`ray status` on its head)")
    _answers(address)
    if ray.is_initialized():  # a process has one connection: a second pool would take the first's
        raise RuntimeError("this process is connected to a Ray cluster already: one Ray pool per process")
    said: list[str] = []
    try:
        with _stderr_kept(said):
            ray.init(address=address, namespace="lrviz", logging_level="ERROR", log_to_driver=False,
                     runtime_env={"py_modules": [lrviz], "env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}})
    except Exception as exc:  # noqa: BLE001 - Ray's errors vary by cause; each is named
        if "InvalidAuthToken" in said[0]:
            raise Unreachable(f"the Ray cluster at {address} refused this server's token: set RAY_AUTH_MODE=token "
                              "and RAY_AUTH_TOKEN to the cluster's token (README: Training on a Ray cluster)") from None
        raise Unreachable(f"the Ray cluster at {address} could not be joined: {said_briefly(exc)}") from None
    sys.stderr.write(said[0])  # what others printed meanwhile
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        ray.shutdown()
        raise Unreachable(f"the Ray cluster at {address} offers no CPU to train on")
    return cpus


def _answers(address: str) -> None:
    """host:port: something must accept a connection there."""
    found = re.fullmatch(r"\[?([^\]/]+?)\]?:(\d+)", address.strip())
    if not found:
        return  # "auto", "local": ray.init itself says at once what is wrong
    try:
        socket.create_connection((found[1], int(found[2])), timeout=REACH_S).close()
    except OSError as exc:
        raise Unreachable(f"the Ray cluster at {address} could not be reached: nothing answers there "
                          f"({exc.strerror or exc}). Is the cluster up (`ray status` on its head node)?") from None


@contextmanager
def _stderr_kept(into: list[str]):
    """File descriptor 2's output meanwhile, into[0]. Ray's C++ client prints a warning a second
    while it retries an address that refuses it (20 s for a wrong token): said once instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as kept:
        os.dup2(kept.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            kept.seek(0)
            into.append(kept.read().decode(errors="replace"))


def said_briefly(exc: BaseException, limit: int = 300) -> str:
    """An error in one line: a task's own error rather than Ray's wrapper around it; Ray's
    several lines joined (a version mismatch names both versions on later lines)."""
    exc = getattr(exc, "cause", None) or exc
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    text = "; ".join(line for line in lines if line) or exc.__class__.__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


def death(exc: BaseException) -> str:
    """Ray's long account of an actor's end, in a line: 'its node has died', or the error that
    ended its start."""
    text = str(exc)
    found = re.search(r"The actor is dead because ([^.]*)", text)
    if found:
        return found[1] + (" (its node ran low on memory)" if "low on memory" in text else "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else exc.__class__.__name__


class _Actor(Worker):
    """A Trainer on the cluster, as the pool keeps it: the refs that say it is ready and that it
    died, and the running job's stream."""

    def __init__(self, pack):
        super().__init__()
        self.pack = pack  # (job) -> (job as the node reads it, its uploads)
        self.handle = _TRAINER.remote()
        self.warming = self.handle.ready.remote()
        self.sentinel = self.handle.until_exit.remote()  # fails once the actor is gone
        self.born = time.monotonic()
        self.stream = None
        self.where = None  # its node and process, once ready
        self.dead: str | None = None
        self.init_failed = False  # its start raised (not: its node went before it was ready)
        self.settled = False  # its first job is done: its memory counts from then

    def alive(self) -> bool:
        return self.dead is None

    def failed_to_start(self) -> bool:
        return self.init_failed

    def send(self, job: list | None) -> None:
        if self.dead is not None:
            raise OSError(self.dead)
        if job is None:
            return self.kill()  # its sentinel then says it is gone
        self.stream = self.handle.run.options(num_returns="streaming").remote(*self.pack(job))

    def request_stop(self, index: int, run_id: int) -> None:
        try:
            self.handle.stop.remote(run_id)
        except Exception:  # noqa: BLE001 - gone: its sentinel says so
            pass

    def kill(self) -> None:
        try:
            ray.kill(self.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - gone already, or the cluster is
            pass

    def death(self) -> str:
        return f"the Ray worker ({self.where or 'starting'}) died: {self.dead}"


class RayPool(Pool):
    """An Executor (lrviz.executor) whose workers are actors on the Ray cluster at `address`."""

    spawns = False  # its workers are on the cluster: it may run in a process of the server's (ray_proxy)
    retire_growth = RETIRE_GROWTH  # read when used, as recycle_growth is

    def __init__(self, address: str, home=None, max_workers: int | None = None, **kwargs):
        """max_workers: at most this many actors (default: $LRVIZ_WORKERS, else one per CPU of
        the cluster, followed as nodes join and leave). Unreachable when the cluster cannot be
        reached. Other arguments: Pool's."""
        self.address = address
        self.cap = max_workers or int(os.environ.get("LRVIZ_WORKERS") or 0) or None
        cpus = connect(address)
        self._counted = time.monotonic()
        self._uploads: dict[tuple, tuple[str, object]] = {}
        try:
            super().__init__(home, min(cpus, self.cap or cpus), **kwargs)
        except BaseException:
            ray.shutdown()
            raise

    def where(self) -> str:
        with self._lock:
            if self._broken:
                return f"the Ray cluster at {self.address}, which is out of reach ({self._broken})"
            ready = sum(w.ready and w.alive() for w in self._workers)
            waiting = sum(not w.ready and w.alive() and time.monotonic() - w.born > WAITING_S for w in self._workers)
        text = f"the Ray cluster at {self.address} ({ready} worker{'' if ready == 1 else 's'} ready"
        return text + (f"; {waiting} more wait for a free CPU there)" if waiting else ")")

    def workers(self) -> list[str]:
        """Where each ready worker trains: its Ray node and process (not one that is leaving)."""
        with self._lock:
            return [w.where for w in self._workers if w.ready and w.alive() and not w.leaving]

    def warm(self) -> None:
        """Start the actors now if not started yet; then keep one per CPU (up to the cap) as
        workers die and nodes come and go."""
        with self._lock:
            if self._closed or self._broken:
                return
            if not self._warmed:
                return super().warm()
            for _ in range(self.max_workers - sum(not w.leaving for w in self._workers)):
                self._workers.append(self._spawn())

    def _spawn(self) -> Worker:
        return _Actor(self._pack)

    def _respawn(self, w: Worker) -> None:
        pass  # warm() keeps the count: a node that left takes its CPUs with it

    def _message(self, w: Worker, msg) -> None:
        if msg[0] == "finished" and w.run_ids == msg[1] and not w.settled:
            # What its first job added (traces, caches, the data) is not a leak: growth counts
            # from here. (Retiring on it would cost a warm-up, as a successor could not start.)
            w.settled, w.baseline_mib = True, msg[2] or w.baseline_mib
        super()._message(w, msg)

    def _recycle_grown(self, w: Worker, growth: float) -> None:
        """A warm successor when the cluster has a free CPU for it, as the local pool does. Else,
        once it has grown by retire_growth, it leaves now and warm() starts another in its place:
        a warm-up's worth of that CPU's time, which the usual few MB a run would cost every few
        runs (bench_ray.py: 3 retirements in 16 runs halved one node's runs per second)."""
        if ray.available_resources().get("CPU", 0) >= 1:
            return super()._recycle_grown(w, growth)
        if growth > self.retire_growth:
            w.leaving = True
            w.send(None)

    def _pack(self, job: list) -> tuple[list, dict]:
        """The job as a node reads it: a CSV run names its file as an upload, and the file goes
        with the job (through the cluster's object store, once per file)."""
        packed, files = [], {}
        for run_id, cfg in job:
            if data.reads_file(cfg["data"]["name"]):
                name, ref = self._upload(cfg["data"]["path"])
                if name is not None:
                    cfg = {**cfg, "data": {**cfg["data"], "path": name}}
                    files[name] = ref
            packed.append((run_id, cfg))
        return packed, files

    def _upload(self, path: str) -> tuple[str | None, object]:
        """(its name on the nodes, its bytes in the object store); (None, None) when it cannot
        be read: the node then says so, as a local worker would."""
        real = uploads.locate(path, self.store.home)
        try:
            stat = os.stat(real)
            key = (os.path.realpath(real), stat.st_mtime_ns, stat.st_size)
            if key not in self._uploads:
                with open(real, "rb") as f:
                    content = f.read()
                # An upload's name carries its content's hash; any other file gets such a name,
                # so that a node never trains on an older file of the same name.
                inside = os.path.dirname(key[0]) == os.path.realpath(uploads.folder(self.store.home))
                name = os.path.basename(key[0]) if inside else uploads.file_name(os.path.basename(path), content)
                while len(self._uploads) >= CACHED_UPLOADS:
                    del self._uploads[next(iter(self._uploads))]
                self._uploads[key] = (name, ray.put(content))
        except OSError:
            return None, None
        return self._uploads[key]

    # --- the monitor thread ----------------------------------------------------------------

    def _wait(self, workers: list[Worker]) -> tuple[list, list]:
        """Up to 0.05 s for news; the metrics that came are written to the store here. Dead:
        every worker known to have died (until _replace has removed it)."""
        if self._broken and not workers:  # nothing left to wait on, nor a connection to ask
            time.sleep(0.05)
            return [], []
        watched = {}  # ref -> (worker, what it says)
        for w in workers:
            if w.dead is None:
                watched[w.sentinel] = (w, "died")
            if w.warming is not None:
                watched[w.warming] = (w, "ready")
            if w.stream is not None:
                watched[w.stream] = (w, "stream")
        messages = []
        try:
            self._count_cpus()
            if watched:  # back at the first news, with all there is by then
                ready, rest = ray.wait(list(watched), num_returns=1, timeout=0.05, fetch_local=False)
                if ready and rest:
                    ready += ray.wait(rest, num_returns=len(rest), timeout=0, fetch_local=False)[0]
            else:
                ready = []
                time.sleep(0.05)
            for ref in ready:
                w, what = watched[ref]
                if what == "stream":
                    messages += self._receive(w)
                elif what == "ready":
                    self._ready(w, ref, messages)
                else:
                    self._died(w, ref)
        except BaseException as exc:  # noqa: BLE001 - Ray ends a thread's call with SystemExit when the driver disconnects
            if self._closed:
                return [], []
            self._lost(workers, exc)
        return messages, [w for w in workers if w.dead is not None]

    def _ready(self, w: _Actor, ref, messages: list) -> None:
        w.warming = None
        try:
            w.where, mib = ray.get(ref)
        except Exception:  # noqa: BLE001 - it failed to start: its sentinel says why
            return
        messages.append((w, ("ready", mib)))

    @staticmethod
    def _died(w: _Actor, ref) -> None:
        try:
            ray.get(ref)
            w.dead = "it ended"  # until_exit never returns; it cannot get here
        except RayActorError as exc:
            w.dead, w.init_failed = death(exc), bool(getattr(exc, "actor_init_failed", False))
        except Exception as exc:  # noqa: BLE001 - the reason, whatever it is
            w.dead = said_briefly(exc)

    def _lost(self, workers: list, exc: BaseException) -> None:
        """The connection to the cluster is gone: every worker with it, and no new one starts."""
        reason = f"the connection to the Ray cluster at {self.address} was lost ({said_briefly(exc) or 'it closed'})"
        with self._lock:
            self._broken = reason
        for w in workers:
            if w.dead is None:
                w.dead = reason

    def _receive(self, w: _Actor) -> list:
        """The next batch of the worker's stream: its store calls written, its end returned."""
        try:
            batch = ray.get(next(w.stream))
        except StopIteration:  # ended without saying so: its runs cannot finish now
            w.stream = None
            return self._end_job(w, "the Ray worker ended the job without its result")
        except RayActorError:
            w.stream = None
            w.kill()  # dead, or unreachable for now: either way its sentinel says so, and why
            return []
        except Exception as exc:  # noqa: BLE001 - the job broke, not the actor: its runs fail
            w.stream = None
            return self._end_job(w, f"on the Ray cluster: {said_briefly(exc)}")
        ends = []
        for msg in batch:
            if msg[0] == "store":
                self._write(w, *msg[1:])
            else:
                w.stream = None if msg[0] == "finished" else w.stream
                ends.append((w, msg))
        return ends

    def _end_job(self, w: _Actor, reason: str) -> list:
        for run_id in w.run_ids:
            self._guarded(self.store.finish_if_active, run_id, "failed", reason)
        return [(w, ("finished", list(w.run_ids), None))]

    def _write(self, w: _Actor, name: str, args: tuple, kwargs: dict) -> None:
        if self._closed or name not in STORE_CALLS or args[0] not in w.run_ids:
            return  # shut down (its runs are interrupted); or not its run (any more: stopped late)
        try:
            getattr(self.store, name)(*args, **kwargs)
        except RunGone:
            pass  # deleted: its actor was told to stop
        except Exception as exc:  # noqa: BLE001 - a full disk: the run stops, the others go on
            print(f"lrviz engine: run {args[0]}: {exc}", file=sys.stderr)
            w.request_stop(0, args[0])
            self._guarded(self.store.finish_if_active, args[0], "failed", f"its metrics could not be stored: {exc}")

    def _count_cpus(self) -> None:
        if time.monotonic() - self._counted < RESOURCES_S:
            return
        self._counted = time.monotonic()
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus:
            self.max_workers = min(cpus, self.cap or cpus)

    def _end_workers(self) -> None:
        self._monitor.join(timeout=5.0)  # not inside a Ray call as the connection closes
        for w in self._workers:
            if w.dead is None:
                w.kill()
        try:
            ray.shutdown()
        except Exception:  # noqa: BLE001 - the cluster is gone already
            pass
