"""Families that change the rate once per epoch, through keras.callbacks.LearningRateScheduler."""
from __future__ import annotations

import numpy as np

from ..params import Param
from .base import EPOCH, Family, rate
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
)
