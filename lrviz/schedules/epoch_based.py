"""Families that change the rate once per epoch, through keras.callbacks.LearningRateScheduler."""
from __future__ import annotations

import numpy as np

from ..params import ConfigError, Param
from .base import EPOCH, Family, Mark, Pitfall, rate
from .to_keras import chosen, epoch_formula, epoch_function


def _time_based(p, t):
    lr0, decay, e = p["initial_learning_rate"], p["decay"], t.epoch
    if not p["compounding"]:
        return lr0 / (1.0 + decay * e)
    # The article's function gets the *current* rate from Keras, so each epoch divides again:
    # lr_e = lr0 / prod_{k=1..e} (1 + decay k).
    last = int(np.max(e)) if np.size(e) else 0
    per_epoch = lr0 / np.cumprod(1.0 + decay * np.arange(last + 1, dtype=np.float64))
    return per_epoch[e.astype(np.int64)]


def article_time_based_decay(decay):
    def lr_time_based_decay(epoch, lr):
        # The article's function as written: Keras passes the *current* rate, so this compounds.
        return lr * 1 / (1 + decay * epoch)
    return lr_time_based_decay


def textbook_time_based_decay(initial_learning_rate, decay):
    def lr_time_based_decay(epoch):
        # The textbook form: always from the initial rate.
        return initial_learning_rate / (1 + decay * epoch)
    return lr_time_based_decay


ARTICLE = epoch_function(article_time_based_decay, lambda p: {"decay": p["decay"]})
TEXTBOOK = epoch_function(textbook_time_based_decay,
                          lambda p: {"initial_learning_rate": p["initial_learning_rate"], "decay": p["decay"]})


def _time_based_pitfalls(p, epochs, spe):
    from . import curve, make

    as_written = make("time_based_decay", **{**p, "compounding": True})
    step, _, lr_w = curve(as_written, epochs, spe)
    _, _, lr_t = curve({**as_written, "compounding": False}, epochs, spe)
    _, _, lr_d = curve({**as_written, "initial_learning_rate": 0.001}, epochs, spe)
    last = max(epochs - 1, 0)
    return [Pitfall(
        "The article's function compounds",
        "`LearningRateScheduler` calls `lr_time_based_decay(epoch, lr)` with the **current** rate, so "
        "`lr * 1 / (1 + decay * epoch)` divides again every epoch: "
        "η_e = η_0 / ∏(1 + decay·k), not the textbook η_0 / (1 + decay·e). "
        f"At epoch {last}: {lr_w[-1]:.3g} as written vs {lr_t[-1]:.3g} textbook. "
        "And its start is the optimizer's own `learning_rate`: with `optimizer='adam'` that is "
        "**0.001**, not the `initial_learning_rate = 0.1` the article sets (lrviz starts Adam at "
        "initial_learning_rate).",
        [("as written (compounding)", step, lr_w), ("textbook η0 / (1 + d·e)", step, lr_t),
         ("as written, started by optimizer='adam' (0.001)", step, lr_d)])]


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

    return curve, epoch_formula(f)


ORDER = 30  # where its families are listed: see schedules._collect

FAMILIES = (
    Family("time_based_decay", "Time-based decay (the article's)",
           (rate(default=0.1, help="Rate of epoch 0 (the optimizer's learning_rate)."),
            Param("decay", 0.002, "float", "The article sets initial_learning_rate / epochs.", low=0.0,
                  high=1e3),
            Param("compounding", True, "bool",
                  "As written in the article: Keras passes the current rate, so the division compounds.")),
           r"\eta_e = \frac{\eta_{e-1}}{1 + d\,e}\ \text{(as written)}\quad\text{vs}\quad \frac{\eta_0}{1 + d\,e}",
           _time_based, chosen(lambda p: ARTICLE if p["compounding"] else TEXTBOOK),
           driver=EPOCH, pitfalls=_time_based_pitfalls),
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
