"""What the page and the CLI ask of whatever trains runs: the Executor protocol, the Progress
it reports, and the parts every executor shares (checking a config at submit, creating its
run, progress read from the store).

The store is the record every executor writes to and the page reads from: a run exists there
from submit on, with status 'queued'; its metric rows and final status arrive through the
worker's sink (lrviz.worker.StoreSink, or one that sends them back from a remote worker).
lrviz.pool.Pool trains on this machine (spawned processes), lrviz.ray_proxy.RayProxy on a Ray
cluster (lrviz.ray_pool.RayPool, in a process of its own); start() picks one.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Protocol

from . import config as cfgmod
from .store import Store, owner_id
from .visitors import HOST, Visitor


@dataclass(frozen=True)
class Progress:
    """A run as the page shows it. epoch and step count those recorded (1-based: 0 before the
    first); eta_s only while running with steps recorded; queue_position (1 = next) only while
    queued here; workers_starting: no worker is ready yet, so a queued run waits for that;
    node: the worker that trains it (this machine's, or a Ray node's), once it started."""
    status: str               # one of store.STATUSES
    queue_position: int | None
    epoch: int
    epochs: int | None
    step: int
    total_steps: int | None
    elapsed_s: float
    eta_s: float | None
    error: str | None
    workers_starting: bool
    node: str | None = None   # where it trains or trained, once it started


class Executor(Protocol):
    store: Store  # where its runs are recorded

    def submit(self, config: dict, name: str | None = None, group: int | None = None,
               cell: list | None = None, by: Visitor = HOST) -> int:
        """Queue a run; returns its id. A bad config or CSV raises ConfigError (no run made).
        group, cell: the experiment it belongs to (store.create_group) and its place there.
        by: who asks (lrviz.visitors), the run's owner; the host's limits bind a visitor, not
        the host, the queue serves visitors in turn (lrviz.sharing), and a visitor doing an
        exercise trains only with its fixed settings (lrviz.exercises)."""

    def submit_many(self, runs: list[tuple[dict, str | None, list | None]], group: int | None = None,
                    by: Visitor = HOST) -> list[int]:
        """Queue (config, name, cell) runs at once: runs with equal stack_key may then train side
        by side. Every config is checked first: a bad one raises ConfigError and none is queued."""

    def stop(self, run_id: int) -> None:
        """End a run within a second as 'stopped', keeping its metrics; a queued run is cancelled."""

    def delete(self, run_id: int) -> None:
        """Stop the run, then remove it and its rows; rows still on their way are refused."""

    def progress(self, run_id: int) -> Progress | None:
        """None once the run no longer exists."""

    def active(self) -> list[int]:
        """Runs running or queued here, running first; deleted ones leave at once."""

    def where(self) -> str:
        """Where its runs train, in words ("this machine (2 workers)")."""

    def warm(self) -> None:
        """Get workers ready now (a page calls it when the user heads for Train)."""

    def shutdown(self) -> None:
        """End every worker; runs still queued or running become 'interrupted'."""


RAY_ADDRESS = "LRVIZ_RAY_ADDRESS"


class Unreachable(RuntimeError):
    """A Ray cluster that could not be reached; the message names the address and what to check."""


def start(home=None, ray: str | None = None, **kwargs) -> Executor:
    """The executor: on the Ray cluster at `ray`, else at $LRVIZ_RAY_ADDRESS (lrviz.ray_proxy's,
    which keeps the connection in a process of its own; Unreachable when the cluster cannot be
    reached), else the local pool (lrviz.pool), which imports nothing of Ray. kwargs: the pool's."""
    address = ray or os.environ.get(RAY_ADDRESS, "").strip()
    if address:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise Unreachable(f"the Ray cluster at {address} needs Ray installed here: "
                              "pip install -r requirements-ray.txt")
        from .ray_proxy import RayProxy

        return RayProxy(address, home, **kwargs)
    from .pool import Pool

    return Pool(home, **kwargs)


MAX_STACK = 10  # runs trained side by side in one worker at most


def stack_key(cfg: dict) -> str | None:
    """Runs with equal keys can train side by side as one stacked model (lrviz.stacked): they
    differ only in their seed and, where the rate is set at every step, in their schedule, their
    Adam and their network (the data, the batches and the epochs are shared). None:
    this one trains alone. Not ReduceLROnPlateau (it reacts to one monitored metric), clipnorm or
    global_clipnorm (norms over every replica), a family that stops on its own loss (the range
    test), nor schedule-free AdamW."""
    import json

    from .schedules import FAMILIES, METRIC, STEP, family_id

    fam = FAMILIES[family_id(cfg["schedule"])]
    opt = cfg["optimizer"]
    if fam.driver == METRIC or fam.stop_factor or "class_name" in opt or opt["clipnorm"] is not None \
            or opt["global_clipnorm"] is not None:
        return None  # ("class_name": schedule-free AdamW, which lrviz.stacked does not build)
    rest = {**cfg, "training": {k: v for k, v in cfg["training"].items() if k != "seed"}}
    if fam.driver == STEP:  # each replica can follow a schedule of its own, step by step
        rest.update(schedule="per replica", optimizer="per replica", model="per block")
    return json.dumps(rest, sort_keys=True)


def block_key(cfg: dict) -> str:
    """Runs of one stack with equal keys share a block (lrviz.stacked): one network, and the
    settings Keras's Adam branches on rather than computes with."""
    import json

    from .optimizers import class_name, settings

    opt = settings(cfg["optimizer"])
    return json.dumps([cfg["model"], class_name(cfg["optimizer"]), opt.get("amsgrad"), opt["clipvalue"]],
                      sort_keys=True)


def check_config(config: dict, store: Store | None = None, by: Visitor = HOST) -> dict:
    """The canonical config of a run to submit; ConfigError for a bad config or a CSV that
    cannot train (no such target, one class), read by its target column only: the server never
    holds the table. A visitor may train only on a CSV they uploaded (or their exercise's), and
    it is not read before that is known; in an exercise, only with its fixed settings."""
    from .data import check, reads_file
    from .exercises import check_run
    from .uploads import check_granted

    cfg = cfgmod.validate(config)
    if by.exercise is not None:
        check_run(store, by.exercise, cfg)
    if reads_file(cfg["data"]["name"]):
        if by.id is not None:
            check_granted(store, by.id, cfg["data"]["path"])
        check(cfg["data"])
    return cfg


def create_run(store: Store, cfg: dict, name: str | None, group: int | None = None,
               cell: list | None = None, by: Visitor = HOST) -> int:
    """The run, 'queued', with its length (what progress and the charts' buckets need), owned by
    this process (a restart elsewhere leaves it alone while this process lives), and by its
    visitor, in their exercise."""
    return store.create_run(name, cfg, cfg["training"]["epochs"], cfgmod.steps_per_epoch(cfg), group, cell,
                            owner_id(), by.id, by.exercise)


def progress(store: Store, run_id: int, queue_position: int | None = None,
             workers_starting: bool = False) -> Progress | None:
    """Progress from the store's record; the executor knows only the queue and its workers."""
    run = store.run(run_id)
    if run is None:
        return None
    step, epoch = store.last(run_id)
    steps, total = step + 1, run["total_steps"]
    elapsed = ((run["finished"] or time.time()) - run["started"]) if run["started"] else 0.0
    eta = None
    if run["status"] == "running" and steps and total:
        eta = elapsed / steps * (total - steps)
    return Progress(status=run["status"], queue_position=queue_position, epoch=epoch + 1,
                    epochs=run["epochs"], step=steps, total_steps=total, elapsed_s=elapsed,
                    eta_s=eta, error=run["error"], workers_starting=workers_starting,
                    node=run["node"])
