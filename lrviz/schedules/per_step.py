"""Per-step families that Keras has no class for: each trains as a LearningRateSchedule that
evaluates the same formula with keras.ops (see to_keras.formula_schedule)."""
from __future__ import annotations

from .base import Family, rate
from .to_keras import keras_class, formula_schedule
from ..params import Param


def _constant(p, t):
    return p["learning_rate"] + 0.0 * t.step


def _legacy(p, t):
    # Keras 2 divided by (1 + decay · iterations) at every update.
    return p["learning_rate"] / (1.0 + p["decay"] * t.step)


def _legacy_keras(p, steps_per_epoch, total_steps):
    # Keras 3 dropped `decay`; InverseTimeDecay(lr, 1, decay) is the exact equivalent.
    build = keras_class("InverseTimeDecay")
    return build({"initial_learning_rate": p["learning_rate"], "decay_steps": 1,
                  "decay_rate": p["decay"], "staircase": False}, steps_per_epoch, total_steps)


FAMILIES = (
    Family("constant", "Constant", (rate("learning_rate", 0.001, "Adam's learning_rate, unchanged."),),
           r"\eta_s = \eta", _constant, formula_schedule("constant")),
    Family("legacy_adam_decay", "Keras 2 Adam(decay=…)",
           (rate("learning_rate", 0.001, "Adam's learning_rate before decay."),
            Param("decay", 1e-6, "float", "Keras 2's per-iteration decay.", low=0.0, high=1e3, log=True)),
           r"\eta_s = \frac{\eta_0}{1 + \text{decay} \cdot s}", _legacy, _legacy_keras,
           note="Keras 3 ignores Adam(decay=…) with only a warning; this is its exact equivalent, "
                "InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)."),
)
