"""The two Keras schedules lrviz adds, as plain top-level classes: training builds them, and the
generated script carries their source (inspect.getsource), so both run the same code.

Imported only when a run trains or a script is written: it imports Keras.
"""
from __future__ import annotations

import keras
from keras import ops

from .base import Timeline
from .per_step import warm_fraction


class CurveSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A family's curve(params, timeline) evaluated with keras.ops at every optimizer step."""

    def __init__(self, curve, params, steps_per_epoch, total_steps):
        self.curve, self.params = curve, params
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps

    def __call__(self, step):
        s = ops.cast(step, "float32")
        t = Timeline(s, ops.floor(s / self.steps_per_epoch), self.steps_per_epoch, self.total_steps, ops)
        return ops.cast(self.curve(self.params, t), "float32")

    def get_config(self):
        return dict(self.params)


class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """A warmup joined to another schedule, which sees its own step 0 at step W (optax's
    join_schedules); its shape is warm_fraction's."""

    def __init__(self, inner, initial_learning_rate, warmup_steps, warmup_shape="linear", power=2.0):
        self.inner, self.start, self.w = inner, initial_learning_rate, warmup_steps
        self.shape, self.power = warmup_shape, power

    def __call__(self, step):
        step = ops.convert_to_tensor(step)
        s = ops.cast(step, "float32")
        first = ops.cast(self.inner(ops.zeros_like(step)), "float32")
        after = ops.cast(self.inner(ops.maximum(step - self.w, 0)), "float32")
        progress = ops.minimum(s / max(self.w, 1), 1.0)
        warm = self.start + (first - self.start) * warm_fraction(ops, self.shape, self.power, progress)
        return ops.where(s < self.w, warm, after)

    def get_config(self):
        return {"initial_learning_rate": self.start, "warmup_steps": self.w, "warmup_shape": self.shape,
                "power": self.power}
