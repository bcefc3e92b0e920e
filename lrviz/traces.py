"""What the run charts draw, read once per server and shared by every session.

Sessions keep no rows: the page asks Traces.get for a run on every rerun and gets a snapshot.
A run is drawn from its summary in the store (at most store.SUMMARY_BUCKETS buckets, however
long it ran) and its epochs (at most 10,000); after the first read only new buckets and epochs
are read, and a finished run read to its end is not read again. Downloads read the exact rows
(exports.run_csv).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from .figures import RunTrace, columns
from .store import EPOCH_COLUMNS, FINISHED, INSIDE_READ, SUMMARY_COLUMNS, bucket_width

BUDGET_BYTES = 64 * 2**20  # the least recently drawn runs are dropped beyond this (read again if asked)


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    summary: dict = field(default_factory=dict)
    epochs: dict = field(default_factory=dict)
    inside: dict = field(default_factory=dict)  # Store.inside's columns
    complete: bool = False  # finished, and read after it finished
    drawn: tuple = ({}, {})  # (steps, means) as RunTrace holds them

    def nbytes(self) -> int:
        arrays = {id(a): a for part in (self.summary, self.epochs, self.inside, *self.drawn) for a in part.values()}
        return sum(a.nbytes for a in arrays.values())  # a short run draws the summary's own arrays


class Traces:
    def __init__(self, store, budget: int = BUDGET_BYTES):
        self.store, self.budget = store, budget
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, _Entry] = OrderedDict()

    def get(self, run_id: int, run: dict | None = None) -> RunTrace | None:
        """The run as the charts draw it, or None if there is no such run. `run`: its store row,
        when the caller has it already (the runs table)."""
        run = run or self.store.run(run_id)  # its name and status now: renames show at once
        with self._lock:
            entry = self._entries.pop(run_id, None)
            if run is None:
                return None
            entry = self._entries[run_id] = entry or _Entry()
        with entry.lock:  # one reader per run: the others wait and share what it read
            read = not entry.complete
            if read:
                finished = run["status"] in FINISHED  # asked before reading: then the rows are all there
                self._read(entry, run)
                entry.complete = finished
            trace = RunTrace(str(run.get("name") or run_id), _spe(run), run.get("metric"),
                             steps=entry.drawn[0], epochs=entry.epochs, total_steps=run.get("total_steps"),
                             run_id=run_id, width=bucket_width(run.get("total_steps")), means=entry.drawn[1],
                             inside=entry.inside)
        if read:  # only a read grows the cache: the runs table asks for every run on every rerun
            self._evict()
        return trace

    def _read(self, entry: _Entry, run: dict) -> None:
        last = int(entry.summary["bucket"][-1]) if entry.summary.get("bucket") is not None and \
            len(entry.summary["bucket"]) else -1
        new = columns(self.store.summary(run["id"], after=last), SUMMARY_COLUMNS)
        if new and len(new["bucket"]):
            keep = entry.summary["bucket"] < new["bucket"][0] if entry.summary else None
            entry.summary = {c: np.concatenate([entry.summary[c][keep], new[c]]) if entry.summary else new[c]
                             for c in SUMMARY_COLUMNS}
            entry.drawn = drawn(entry.summary, bucket_width(run.get("total_steps")), _spe(run))
        # The last bucket of the optimizer's measures may have grown: read again from its start.
        first = entry.inside.get("first", ())
        since = int(first[-1]) - 1 if len(first) else -1
        fresh = columns(self.store.inside(run["id"], bucket_width(run.get("total_steps")), since), INSIDE_READ)
        if fresh and len(fresh["step"]):
            keep = entry.inside["first"] < fresh["first"][0] if entry.inside else None
            entry.inside = {c: np.concatenate([entry.inside[c][keep], fresh[c]]) if entry.inside else fresh[c]
                            for c in INSIDE_READ}
        after = int(entry.epochs["epoch"][-1]) if len(entry.epochs.get("epoch", ())) else -1
        more = columns(self.store.epochs(run["id"], after=after), EPOCH_COLUMNS)
        if more and len(more["epoch"]):
            entry.epochs = {c: np.concatenate([entry.epochs[c], more[c]]) if entry.epochs else more[c]
                            for c in EPOCH_COLUMNS}

    def _evict(self) -> None:
        with self._lock:
            while len(self._entries) > 1 and sum(e.nbytes() for e in self._entries.values()) > self.budget:
                self._entries.popitem(last=False)


def _spe(run: dict) -> int:
    return run.get("steps_per_epoch") or 1


def drawn(summary: dict, width: int, spe: int) -> tuple[dict, dict]:
    """(steps, means) of RunTrace from summary columns. Width 1: every step, exact. Wider: each
    bucket as two points, lowest and highest, at its first and last step, in the order the
    curve moves (a falling curve is drawn high then low), and its mean loss at its middle."""
    first, last = summary["step_first"], summary["step_last"]
    if width == 1:
        return {"step": first, "epoch": np.floor(first / spe), "learning_rate": summary["lr_min"],
                "loss": summary["loss_min"], "wall_time": summary["wall_min"]}, {}
    step = np.column_stack([first, last]).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(summary["loss_n"] > 0, summary["loss_sum"] / summary["loss_n"], np.nan)
    middle = np.floor((first + last) / 2)
    steps = {"step": step, "epoch": np.floor(step / spe),
             "learning_rate": _in_order(summary["lr_min"], summary["lr_max"]),
             "loss": _in_order(summary["loss_min"], summary["loss_max"]),
             "wall_time": np.column_stack([summary["wall_min"], summary["wall_max"]]).ravel()}
    means = {"step": middle, "epoch": np.floor(middle / spe), "loss": mean,
             "wall_time": (summary["wall_min"] + summary["wall_max"]) / 2}
    return steps, means


def _in_order(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    middle = (low + high) / 2
    falling = np.r_[False, middle[1:] < middle[:-1]]
    if len(falling) > 1:
        falling[0] = falling[1]  # the first bucket goes the way the second one does
    return np.column_stack([np.where(falling, high, low), np.where(falling, low, high)]).ravel()
