"""What a schedule family is, and the timeline its curve is evaluated on.

A family's curve is written once against an array namespace `xp`: NumPy for the preview
(float64, vectorised over every step), `keras.ops` inside training, where the same function
becomes a real `LearningRateSchedule`, and the generated script carries its source (see
`to_keras.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..params import Param, Section

# Which Keras mechanism applies the rate during training.
STEP = "step"        # a LearningRateSchedule, evaluated at every optimizer iteration
EPOCH = "epoch"      # a function of the epoch through keras.callbacks.LearningRateScheduler
METRIC = "metric"    # keras.callbacks.ReduceLROnPlateau, reacting to a monitored metric


@dataclass(frozen=True)
class Timeline:
    """Where a curve is evaluated. step is the 0-based optimizer iteration; epoch covers
    steps epoch·steps_per_epoch … (epoch+1)·steps_per_epoch − 1."""

    step: Any
    epoch: Any
    steps_per_epoch: int
    total_steps: int
    xp: Any = np

    @classmethod
    def of(cls, epochs: int, steps_per_epoch: int) -> "Timeline":
        step = np.arange(epochs * steps_per_epoch, dtype=np.float64)
        return cls(step, np.floor(step / steps_per_epoch), steps_per_epoch, len(step))

    def shifted(self, offset: float) -> "Timeline":
        """The timeline seen by a schedule that starts `offset` steps later (optax's join)."""
        xp = self.xp
        step = xp.maximum(self.step - offset, 0.0)
        return Timeline(step, xp.floor(step / self.steps_per_epoch), self.steps_per_epoch,
                        max(self.total_steps - int(offset), 1), xp)


@dataclass(frozen=True)
class Mark:
    """A step where the schedule means something to happen, for telling whether the run
    reaches it. kind: "end" the end of its last phase (the rate holds after it), "phase" the end
    of an earlier phase (a warmup), "change" a change of rate (a boundary, a drop)."""

    what: str
    step: float  # the first step after the phase, or the first step at the new rate
    kind: str = "end"


@dataclass
class Pitfall:
    """A warning about the chosen schedule, with the curves that show it."""

    title: str
    text: str  # Markdown written here, never user text
    curves: list = field(default_factory=list)  # [(label, step, lr)]
    code: str = ""


@dataclass(frozen=True)
class Family:
    """One schedule family, declared once.

    id: the Keras class name (for Keras's own classes) or the config's `kind`.
    curve(params, timeline) -> learning rate at every step of the timeline.
    keras: a to_keras.Keras: keras(params, steps_per_epoch, total_steps) -> (Adam's learning_rate,
    [callbacks]), importing Keras lazily; keras.script writes the same as source for the script.
    check(params, where): cross-field rules; raises ConfigError.
    check_run(params, data, task, where): rules between its params and the data the run trains on
    (data: the config's data section; task: the dataset's, else data.task); raises ConfigError.
    marks(params, steps_per_epoch) -> [Mark]: where its phases end and its rate changes.
    bad_rates(params) -> the argument to blame when these params can give a rate that is not
    finite and >= 0 at some step of a run (a formula, shrinking restarts), else None.
    helpers: the functions its curve calls, which the generated script carries with it.
    pitfalls(params, epochs, steps_per_epoch) -> [Pitfall]: what Keras really does with it that
    users do not expect (the article's recipes).
    stop_factor(params) -> training stops (as diverged) at the first step whose smoothed loss
    exceeds this many times its lowest so far (fastai's lr_find rule), or None.
    """

    id: str
    label: str
    params: tuple[Param, ...]
    formula: str
    curve: Callable[[dict, Timeline], Any]
    keras: Any  # to_keras.Keras
    driver: str = STEP
    keras_class: bool = False
    check: Callable[[dict, str], None] | None = None
    check_run: Callable[[dict, dict, str, str], None] | None = None
    note: str = ""
    marks: Callable[[dict, int], list[Mark]] | None = None
    bad_rates: Callable[[dict], str | None] | None = None
    helpers: tuple[Callable, ...] = ()
    pitfalls: Callable[[dict, int, int], list[Pitfall]] | None = None
    stop_factor: Callable[[dict], float | None] | None = None

    @property
    def section(self) -> Section:
        return Section(self.params)

    @property
    def nests(self) -> bool:
        """Whether it holds another schedule (a warmup's)."""
        return any(p.kind == "schedule" for p in self.params)

    def defaults(self) -> dict:
        return self.section.defaults()


def rate(name: str = "initial_learning_rate", default: float = 0.001, help: str = "") -> Param:
    """A learning rate: positive, log-scale on the page."""
    return Param(name, default, "float", help or "Learning rate at step 0.",
                 low=0.0, high=10.0, low_open=True, log=True, is_rate=True)


def steps(name: str, default: int, help: str, low: int = 1) -> Param:
    return Param(name, default, "int", help, low=low, high=10_000_000, in_steps=True)
