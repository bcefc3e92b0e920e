"""One instance's workers shared among its visitors: the limits the host sets, and the order in
which the queue serves visitors.

Limits, from the environment (unset or 0: none), refuse a submit with a message that names the
limit; they bind page visitors, not the host at the command line:
- LRVIZ_MAX_QUEUED: what one visitor may have waiting at once: each single run (a Train press)
  counts one, and so does each experiment with runs still waiting;
- LRVIZ_MAX_STEPS: optimizer steps in one run (epochs × steps per epoch);
- LRVIZ_MAX_SWEEP: runs in one experiment (a sweep, seeds, an A/B).

The queue takes visitors in turn: the next run is the oldest waiting run of the visitor served
least recently (one never served first), a single run before that visitor's experiments. A
visitor's 60-run sweep then costs another visitor's single run one turn, not sixty, and their
own next Train press does not wait behind it either.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .params import ConfigError

ENV = {"queued": "LRVIZ_MAX_QUEUED", "steps": "LRVIZ_MAX_STEPS", "sweep": "LRVIZ_MAX_SWEEP"}


@dataclass(frozen=True)
class Limits:
    queued: int | None = None
    steps: int | None = None
    sweep: int | None = None

    @classmethod
    def from_env(cls) -> "Limits":
        values = {}
        for field, name in ENV.items():
            text = os.environ.get(name, "").strip()
            try:
                value = int(text or 0)
            except ValueError:
                raise ConfigError(name, text, "allowed: a whole number of at least 0 (0 or unset: no limit)") from None
            if value < 0:
                raise ConfigError(name, text, "allowed: a whole number of at least 0 (0 or unset: no limit)")
            values[field] = value or None
        return cls(**values)

    def check(self, steps: list[tuple[int, int]], waiting: int, experiment: bool) -> None:
        """Raise ConfigError for what the host's limits refuse. steps: (epochs, steps per epoch)
        of each run asked for; waiting: the visitor's single runs and experiments already
        waiting; experiment: the runs are one experiment's (else single runs)."""
        if self.steps is not None:
            for epochs, per_epoch in steps:
                if epochs * per_epoch > self.steps:
                    raise ConfigError("training.epochs", epochs, f"this run has {epochs * per_epoch:,} steps "
                                      f"({epochs:,} epochs × {per_epoch:,}); this instance allows at most "
                                      f"{self.steps:,} steps per run ({ENV['steps']}): fewer epochs, a larger "
                                      "batch or less data")
        if experiment and self.sweep is not None and len(steps) > self.sweep:
            raise ConfigError("experiment", f"{len(steps)} runs", f"this instance allows at most {self.sweep:,} runs "
                              f"per experiment ({ENV['sweep']}): fewer values or seeds")
        if self.queued is not None and waiting + (1 if experiment else len(steps)) > self.queued:
            raise ConfigError("queue", f"{waiting:,} waiting", f"this instance allows at most {self.queued:,} "
                              f"waiting runs or experiments per visitor ({ENV['queued']}): wait for one to start, "
                              "or stop one")


def fair_order(pending: list[int], visitor_of: dict, served: dict, singles=frozenset()) -> list[int]:
    """The queue's runs (`pending`, oldest first) in the order they will start: visitors in
    turn, the one served least recently (`served`: visitor -> when; absent: never) first; each
    visitor's own single runs (`singles`: Train presses, which someone watches) before their
    experiments' runs, and otherwise oldest first."""
    oldest: dict = {}
    for i, run_id in enumerate(pending):
        oldest.setdefault(visitor_of.get(run_id), i)
    queues: dict = {}
    for run_id in sorted(pending, key=lambda r: r not in singles):  # stable: oldest first within each
        queues.setdefault(visitor_of.get(run_id), []).append(run_id)
    turns = sorted(queues, key=lambda v: (served.get(v, float("-inf")), oldest[v]))  # ties: by their oldest run
    order, depth = [], 0
    while len(order) < len(pending):
        order += [queues[v][depth] for v in turns if depth < len(queues[v])]
        depth += 1
    return order
