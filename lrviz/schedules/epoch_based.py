"""Families that change the rate once per epoch, through keras.callbacks.LearningRateScheduler."""
from __future__ import annotations

import numpy as np

from ..params import ConfigError, Param
from .base import EPOCH, Family, Mark, rate
from .to_keras import epoch_scheduler


def _time_based(p, t):
    lr0, decay, e = p["initial_learning_rate"], p["decay"], t.epoch
    if not p["compounding"]:
        return lr0 / (1.0 + decay * e)
    # The article's function gets the *current* rate from Keras, so each epoch divides again:
    # lr_e = lr0 / prod_{k=1..e} (1 + decay k).
    last = int(np.max(e)) if np.size(e) else 0
    per_epoch = lr0 / np.cumprod(1.0 + decay * np.arange(last + 1, dtype=np.float64))
    return per_epoch[e.astype(np.int64)]


def _time_based_fn(p):
    decay = p["decay"]
    if p["compounding"]:
        def lr_time_based_decay(epoch, lr):  # the article's function, as written
            return lr * 1 / (1 + decay * epoch)
        return lr_time_based_decay
    lr0 = p["initial_learning_rate"]

    def lr_time_based_decay(epoch):
        return lr0 / (1 + decay * epoch)
    return lr_time_based_decay


def _step_decay(p, e):
    return p["initial_learning_rate"] * p["drop"] ** np.floor(e / p["epochs_drop"])


def _multi_step(p, e):
    # PyTorch's MultiStepLR: the rate drops at the start of each milestone epoch.
    passed = np.searchsorted(np.asarray(p["milestones"], dtype=np.float64), e, side="right")
    return p["initial_learning_rate"] * p["gamma"] ** passed


def _exponential(p, e):
    return p["initial_learning_rate"] * p["gamma"] ** e


def _check_milestones(p, where):
    m = p["milestones"]
    if any(b <= a for a, b in zip(m, m[1:])):
        raise ConfigError(f"{where}.milestones", m, "allowed: strictly increasing epochs")


def _step_marks(p, spe):
    return [Mark("the first drop", p["epochs_drop"] * spe, "change")]


def _milestone_marks(p, spe):
    return [Mark(f"the drop at epoch {m}", m * spe, "change") for m in p["milestones"]]


def per_epoch(f):
    """The preview curve and the LearningRateScheduler of one formula of the epoch."""

    def curve(p, t):
        return f(p, t.epoch)

    def epoch_fn(p):
        def schedule(epoch, lr):  # Keras passes the current rate; these formulas do not need it
            return float(f(p, np.float64(epoch)))
        return schedule

    build = epoch_scheduler(epoch_fn, lambda p: p["initial_learning_rate"])
    build.epoch_formula = f  # the generated script calls the same f (codegen)
    return curve, build


ORDER = 30  # where its families are listed: see schedules._collect

FAMILIES = (
    Family("time_based_decay", "Time-based decay (the article's)",
           (rate(default=0.1, help="Rate of epoch 0 (the optimizer's learning_rate)."),
            Param("decay", 0.002, "float", "The article sets initial_learning_rate / epochs.", low=0.0,
                  high=1e3),
            Param("compounding", True, "bool",
                  "As written in the article: Keras passes the current rate, so the division compounds.")),
           r"\eta_e = \frac{\eta_{e-1}}{1 + d\,e}\ \text{(as written)}\quad\text{vs}\quad \frac{\eta_0}{1 + d\,e}",
           _time_based, epoch_scheduler(_time_based_fn, lambda p: p["initial_learning_rate"]),
           driver=EPOCH),
    Family("step_decay", "Step decay",
           (rate(default=0.1),
            Param("drop", 0.5, "float", "Multiplier applied every epochs_drop epochs.", low=0.0, high=1.0,
                  low_open=True),
            Param("epochs_drop", 10, "int", "Epochs between drops.", low=1, high=100_000)),
           r"\eta_e = \eta_0 \cdot \text{drop}^{\lfloor e / E \rfloor}",
           *per_epoch(_step_decay), driver=EPOCH, marks=_step_marks),
    Family("multi_step", "Multi-step decay",
           (rate(default=0.1),
            Param("milestones", [10, 15], "ints", "Epochs at whose start the rate drops (strictly "
                  "increasing).", low=0, high=100_000, max_len=100),
            Param("gamma", 0.1, "float", "Multiplier applied at each milestone.", low=0.0, high=1.0,
                  low_open=True)),
           r"\eta_e = \eta_0 \cdot \gamma^{\#\{m_i \le e\}}",
           *per_epoch(_multi_step), driver=EPOCH, check=_check_milestones, marks=_milestone_marks),
    Family("exponential_per_epoch", "Exponential per epoch",
           (rate(default=0.1),
            Param("gamma", 0.9, "float", "Multiplier applied every epoch.", low=0.0, high=1.0,
                  low_open=True)),
           r"\eta_e = \eta_0 \cdot \gamma^{e}",
           *per_epoch(_exponential), driver=EPOCH),
)
