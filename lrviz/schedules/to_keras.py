"""Turn a catalogue family into what Keras trains with. Keras is imported only when called,
so importing the catalogue (the preview, the CLI's `curve`) never loads TensorFlow."""
from __future__ import annotations

from typing import Callable

from .base import Timeline


def keras_class(class_name: str) -> Callable:
    """Keras's own schedule class, rebuilt from its serialised config."""

    def build(params: dict, steps_per_epoch: int, total_steps: int):
        import keras

        obj = keras.optimizers.schedules.deserialize({"class_name": class_name, "config": dict(params)})
        return obj, []

    return build


def formula_schedule(family_id: str) -> Callable:
    """A LearningRateSchedule that evaluates the family's own curve with keras.ops."""

    def build(params: dict, steps_per_epoch: int, total_steps: int):
        return make_formula_schedule(family_id, params, steps_per_epoch, total_steps), []

    return build


def epoch_scheduler(epoch_fn: Callable[[dict], Callable], start: Callable[[dict], float]) -> Callable:
    """keras.callbacks.LearningRateScheduler with the family's function of (epoch, lr)."""

    def build(params: dict, steps_per_epoch: int, total_steps: int):
        import keras

        return float(start(params)), [keras.callbacks.LearningRateScheduler(epoch_fn(params))]

    return build


def make_formula_schedule(family_id: str, params: dict, steps_per_epoch: int, total_steps: int):
    import keras
    from keras import ops

    from . import get_family

    family = get_family(family_id)

    class FormulaSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            s = ops.cast(step, "float32")
            t = Timeline(s, ops.floor(s / steps_per_epoch), steps_per_epoch, total_steps, ops)
            return ops.cast(family.curve(params, t), "float32")

        def get_config(self):
            return {"kind": family_id, **params}

    FormulaSchedule.__name__ = family.label.replace(" ", "").replace("-", "")
    return FormulaSchedule()


def warmup_schedule(inner, start: float, warmup_steps: int, params: dict):
    """A linear warmup in front of another Keras schedule, which sees its own step 0 at step W."""
    import keras
    from keras import ops

    class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = ops.convert_to_tensor(step)
            s = ops.cast(step, "float32")
            first = ops.cast(inner(ops.zeros_like(step)), "float32")
            after = ops.cast(inner(ops.maximum(step - warmup_steps, 0)), "float32")
            warm = start + (first - start) * s / max(warmup_steps, 1)
            return ops.where(s < warmup_steps, warm, after)

        def get_config(self):
            return {"kind": "linear_warmup", **params}

    return LinearWarmup()
