"""What runs on a Ray cluster: a warm worker (an actor) that trains lrviz.pool's jobs there.

It cannot reach the server's store, so its runs report to lrviz.worker.StoreSink over an
Outbox rather than the store: the same calls, batched the same way, queued as messages that
the actor's `run` generator streams back to the server, which writes them (lrviz.ray_pool).

This module imports neither Ray nor TensorFlow: lrviz.ray_pool makes the class an actor, and the
actor imports lrviz.train once, when it starts. Plain Python, so it is tested without Ray too.
"""
from __future__ import annotations

import gc
import os
import queue
import tempfile
import threading
from pathlib import Path

from . import worker as workermod

# The store's methods a StoreSink calls: the messages an Outbox sends and the server replays.
STORE_CALLS = ("append_steps", "append_views", "append_epochs", "set_status", "finish_if_active")


class Outbox:
    """A stand-in for lrviz.store.Store that queues each write as ("store", method, args, kwargs)."""

    def __init__(self, out: queue.Queue):
        self.out = out

    def __getattr__(self, name):
        if name not in STORE_CALLS:
            raise AttributeError(name)

        def call(run_id, *args, **kwargs):
            if name.startswith("append_") and not args[0]:
                return  # StoreSink.flush writes every kind, mostly empty: nothing to send
            self.out.put(("store", name, (run_id, *args), kwargs))
        return call


class Trainer:
    """One warm worker on the cluster (made an actor by lrviz.ray_pool, one per CPU).

    ready() once TensorFlow is loaded; run(job, files) trains a job as the pool's worker does and
    yields, as they come, lists of messages: the sinks' store calls, then ("finished", run ids,
    MiB); stop(run_id), called while run() trains (the actor runs methods concurrently), makes
    that run end 'stopped' at its next graph call; until_exit() never returns: the server waits
    on it to learn that the actor died."""

    def __init__(self, home: str | None = None):
        # A node's own folder for the uploads its runs read (the server's folder is not here).
        self.home = home or os.path.join(tempfile.gettempdir(), "lrviz-ray")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ["LRVIZ_HOME"] = self.home
        try:
            os.nice(19)  # a node that also serves the page keeps the page responsive
        except OSError:
            pass
        from . import train

        self.train = train
        with train.quiet_stderr():
            train.warm_up()
        gc.collect()
        gc.freeze()  # as lrviz.worker.main does: TensorFlow's objects left out of every collection
        self.stopped: set[int] = set()
        self.where = where()

    def ready(self) -> tuple[str, float | None]:
        """Where it trains (the runs' node) and its memory once warm."""
        return self.where, workermod.rss_mib()

    def until_exit(self) -> None:
        threading.Event().wait()

    def stop(self, run_id: int) -> None:
        self.stopped.add(run_id)

    def run(self, job: list, files: dict):
        """Train job, [(run_id, config)]; files: {bare upload name: its bytes, or an object
        holding them} for the CSV runs, saved in this node's uploads folder first."""
        self.stopped.intersection_update(run_id for run_id, _ in job)
        out: queue.Queue = queue.Queue()
        threading.Thread(target=self._train, args=(job, files, out), name="lrviz-run", daemon=True).start()
        while True:
            batch = [out.get()]
            while not out.empty():
                batch.append(out.get())
            done = batch[-1] is None
            if done:
                batch[-1] = ("finished", [run_id for run_id, _ in job], workermod.rss_mib())
            yield batch
            if done:
                return

    def _train(self, job: list, files: dict, out: queue.Queue) -> None:
        sinks = [workermod.StoreSink(Outbox(out), run_id) for run_id, _ in job]
        try:
            save_uploads(self.home, files)
            stops = [_Stop(self.stopped, run_id) for run_id, _ in job]
            if len(job) == 1:
                workermod.run_job(self.train, sinks[0], job[0][1], stops[0], self.where)
            else:
                from . import stacked

                workermod.run_stack(self.train, stacked, sinks, [cfg for _, cfg in job], stops, self.where)
        except Exception as exc:  # noqa: BLE001 - an upload that cannot be saved here: the runs fail
            for sink in sinks:
                sink.set_status("failed", f"on the Ray node: {exc}")
        finally:
            out.put(None)


class _Stop:
    def __init__(self, stopped: set, run_id: int):
        self.stopped, self.run_id = stopped, run_id

    def is_set(self) -> bool:
        return self.run_id in self.stopped


def save_uploads(home: str, files: dict) -> None:
    """Each file under home/uploads unless it is there already (names carry the content's hash)."""
    folder = Path(home) / "uploads"
    for name, data in files.items():
        path = folder / name
        if path.is_file():
            continue
        if not isinstance(data, bytes):
            import ray  # an object in the cluster's store: fetched only when this node lacks it

            data = ray.get(data)
        folder.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.part")
        part.write_bytes(data)
        os.replace(part, path)  # whole or not at all, for the actors beside this one


def where() -> str:
    """The Ray node (the first 8 hex of its id, and its address) and this worker's process."""
    import ray

    ctx = ray.get_runtime_context()
    return f"ray node {ctx.get_node_id()[:8]} ({ray.util.get_node_ip_address()})/pid {os.getpid()}"
