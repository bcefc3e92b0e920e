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

_TRAINER = ray.remote(num_cpus=1, max_concurrency=3)(Trainer)  # run, stop, until_exit at once


def connect(address: str) -> int:
    """Connect this process to the cluster at `address` (what ray.init accepts); the CPUs it
    offers. Unreachable, with the reason, instead of Ray's own two-minute wait for an address
    where nothing answers."""
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
        raise Unreachable(f"the Ray cluster at {address} could not be reached: {_first_line(exc)}") from None
    sys.stderr.write(said[0])  # what others printed meanwhile
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        ray.shutdown()
        raise Unreachable(f"the Ray cluster at {address} offers no CPU to train on")
    return cpus


def _answers(address: str) -> None:
    """host:port (also ray://host:port): something must accept a connection there."""
    found = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)", address.strip())
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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def death(exc: BaseException) -> str:
    """Ray's long account of an actor's end, in a line: 'its node has died', or the error that
    ended its start."""
    text = str(exc)
    found = re.search(r"The actor is dead because ([^.]*)", text)
    if found:
        return found[1]
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
        self.stream = None
        self.where = None  # its node and process, once ready
        self.dead: str | None = None

    def alive(self) -> bool:
        return self.dead is None

    def send(self, job: list | None) -> None:
        if self.dead is not None:
            raise OSError(self.dead)
        if job is None:
            ray.kill(self.handle, no_restart=True)  # its sentinel then says it is gone
            return
        self.stream = self.handle.run.options(num_returns="streaming").remote(*self.pack(job))

    def request_stop(self, index: int, run_id: int) -> None:
        self.handle.stop.remote(run_id)

    def kill(self) -> None:
        ray.kill(self.handle, no_restart=True)

    def death(self) -> str:
        return f"the Ray worker ({self.where or 'starting'}) died: {self.dead}"


class RayPool(Pool):
    """An Executor (lrviz.executor) whose workers are actors on the Ray cluster at `address`."""

    def __init__(self, address: str, home=None, max_workers: int | None = None, **kwargs):
        """max_workers: at most this many actors (default: one per CPU of the cluster, followed as
        nodes join). Unreachable when the cluster cannot be reached. Other arguments: Pool's."""
        self.address, self.cap = address, max_workers
        cpus = connect(address)
        self._counted = time.monotonic()
        self._uploads: dict[tuple, tuple[str, object]] = {}
        try:
            super().__init__(home, min(cpus, max_workers or cpus), **kwargs)
        except BaseException:
            ray.shutdown()
            raise

    def where(self) -> str:
        return f"the Ray cluster at {self.address} ({self.max_workers} workers)"

    def workers(self) -> list[str]:
        """Where each ready worker trains: its Ray node and process."""
        with self._lock:
            return [w.where for w in self._workers if w.ready and w.alive()]

    def warm(self) -> None:
        """Start the actors now if not started yet, and one more for each CPU a node brought."""
        with self._lock:
            if self._closed or self._broken:
                return
            if not self._warmed:
                return super().warm()
            for _ in range(self.max_workers - sum(w.alive() and not w.leaving for w in self._workers)):
                self._workers.append(self._spawn())

    def _spawn(self) -> Worker:
        return _Actor(self._pack)

    def _pack(self, job: list) -> tuple[list, dict]:
        """The job as a node reads it: a CSV run names its upload by its bare name, and the file
        goes with the job (through the cluster's object store, once per file)."""
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
        real = uploads.locate(path, self.store.home)
        try:
            stat = os.stat(real)
        except OSError:
            return None, None  # gone: the node says it cannot be read, as a local worker would
        key = (os.path.realpath(real), stat.st_mtime_ns, stat.st_size)
        if key not in self._uploads:
            with open(real, "rb") as f:
                content = f.read()
            name = path if uploads.is_bare(path) else uploads.file_name(os.path.basename(path), content)
            while len(self._uploads) >= CACHED_UPLOADS:
                del self._uploads[next(iter(self._uploads))]
            self._uploads[key] = (name, ray.put(content))
        return self._uploads[key]

    # --- the monitor thread ----------------------------------------------------------------

    def _wait(self, workers: list[Worker]) -> tuple[list, list]:
        """Up to 0.05 s for news; the metrics that came are written to the store here."""
        self._count_cpus()
        watched = {}  # ref -> (worker, what it says)
        for w in workers:
            if w.dead is None:
                watched[w.sentinel] = (w, "died")
            if w.warming is not None:
                watched[w.warming] = (w, "ready")
            if w.stream is not None:
                watched[w.stream] = (w, "stream")
        if not watched:
            time.sleep(0.05)
            return [], []
        try:  # back at the first news (a run's rows are a message away from the page), with all there is
            ready, rest = ray.wait(list(watched), num_returns=1, timeout=0.05, fetch_local=False)
            if ready and rest:
                ready += ray.wait(rest, num_returns=len(rest), timeout=0, fetch_local=False)[0]
        except BaseException:  # Ray raises SystemExit in a thread waiting while the driver disconnects
            if self._closed:
                return [], []
            raise
        messages, dead = [], []
        for ref in ready:
            w, what = watched[ref]
            if what == "stream":
                messages += self._receive(w)
            elif what == "ready":
                w.warming = None
                try:
                    w.where, mib = ray.get(ref)
                    messages.append((w, ("ready", mib)))
                except RayActorError:
                    pass  # it failed to start: its sentinel says why
            else:
                try:
                    ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - it only ever ends by failing
                    w.dead = death(exc)
                dead.append(w)
        return messages, dead

    def _receive(self, w: _Actor) -> list:
        """The next batch of the worker's stream: its store calls written, its end returned."""
        try:
            batch = ray.get(next(w.stream))
        except StopIteration:
            w.stream = None
            return []
        except RayActorError:
            w.stream = None
            return []  # its sentinel says why
        except Exception as exc:  # noqa: BLE001 - the job broke, not the actor: its runs fail
            w.stream = None
            for run_id in list(w.run_ids):
                self.store.finish_if_active(run_id, "failed", f"on the Ray cluster: {_first_line(exc)}")
            return [(w, ("finished", list(w.run_ids), None))]
        ends = []
        for msg in batch:
            if msg[0] == "store":
                self._write(w, *msg[1:])
            else:
                w.stream = None if msg[0] == "finished" else w.stream
                ends.append((w, msg))
        return ends

    def _write(self, w: _Actor, name: str, args: tuple, kwargs: dict) -> None:
        if name not in STORE_CALLS or args[0] not in w.run_ids:
            return  # not its run (any more: stopped late, and ended)
        try:
            getattr(self.store, name)(*args, **kwargs)
        except RunGone:
            pass  # deleted: its actor was told to stop

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
                try:
                    ray.kill(w.handle, no_restart=True)
                except Exception:  # noqa: BLE001 - the cluster is gone already
                    pass
        ray.shutdown()
