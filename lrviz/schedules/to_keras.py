"""Turn a catalogue family into what Keras trains with. Keras is imported only when called,
so importing the catalogue (the preview, the CLI's `curve`) never loads TensorFlow."""
from __future__ import annotations

from typing import Callable



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

    build.curve_schedule = True  # trains as CurveSchedule(curve): the generated script does the same
    return build


def epoch_scheduler(epoch_fn: Callable[[dict], Callable], start: Callable[[dict], float]) -> Callable:
    """keras.callbacks.LearningRateScheduler with the family's function of (epoch, lr)."""

    def build(params: dict, steps_per_epoch: int, total_steps: int):
        import keras

        return float(start(params)), [keras.callbacks.LearningRateScheduler(epoch_fn(params))]

    return build


def make_formula_schedule(family_id: str, params: dict, steps_per_epoch: int, total_steps: int):
    from . import get_family
    from .keras_schedules import CurveSchedule

    return CurveSchedule(get_family(family_id).curve, params, steps_per_epoch, total_steps)


def warmup_schedule(inner, start: float, warmup_steps: int, shape: str, power: float):
    """A warmup in front of another Keras schedule, which sees its own step 0 at step W."""
    from .keras_schedules import Warmup

    return Warmup(inner, start, warmup_steps, shape, power)
