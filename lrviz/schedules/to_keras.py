"""How a family trains in Keras, and the same thing written as source for the generated script.

Each builder here is a `Keras`: `build` makes Adam's learning_rate and callbacks (importing Keras
only when called, so the catalogue never loads TensorFlow), `script` writes the code that makes
them, from the same functions: the family's curve, Keras's class, the formula of the epoch.
"""
from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple


class Script(NamedTuple):
    """A schedule in the generated script: definitions (source), the expression of Adam's
    learning_rate, and the expressions of the callbacks that apply it."""

    defs: tuple[str, ...]
    learning_rate: str
    callbacks: tuple[str, ...] = ()


# script(params, total, nested): total is the script's expression of the run's steps; nested
# writes a schedule held inside this one (a warmup's).
Writer = Callable[[dict, str, Callable], Script]


@dataclass(frozen=True)
class Keras:
    build: Callable[[dict, int, int], tuple]  # (params, steps_per_epoch, total_steps) -> (lr, [callbacks])
    script: Writer

    def __call__(self, params: dict, steps_per_epoch: int, total_steps: int) -> tuple:
        return self.build(params, steps_per_epoch, total_steps)


def call(name: str, arguments: dict) -> str:
    """name(key=value, ...): a Keras constructor as one would type it."""
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"


def source(fn: Callable) -> str:
    return inspect.getsource(fn)


def keras_source(name: str) -> str:
    """A class of keras_schedules.py, read from its file: importing it would load Keras
    (TensorFlow) into the server that writes the script."""
    path = Path(__file__).with_name("keras_schedules.py")
    text = path.read_text()
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name)
    return ast.get_source_segment(text, node, padded=True) + "\n"


def keras_class(class_name: str, arguments: Callable[[dict], dict] = dict) -> Keras:
    """Keras's own schedule class from its config. arguments: the class's config made from the
    family's params, for a family that is a Keras class under other names."""

    def build(params, steps_per_epoch, total_steps):
        import keras

        config = {"class_name": class_name, "config": arguments(params)}
        return keras.optimizers.schedules.deserialize(config), []

    def script(params, total, nested):
        return Script((), call(f"keras.optimizers.schedules.{class_name}", arguments(params)))

    return Keras(build, script)


def formula_schedule(family_id: str, curve_source: Callable[[dict], tuple[str, str]] | None = None) -> Keras:
    """CurveSchedule over the family's own curve, evaluated with keras.ops at every step; the
    script carries the curve's source and its helpers. curve_source(params) -> (name, code):
    where the curve is made from the params (a typed formula), the code of that curve."""

    def build(params, steps_per_epoch, total_steps):
        from . import get_family
        from .keras_schedules import CurveSchedule

        return CurveSchedule(get_family(family_id).curve, params, steps_per_epoch, total_steps), []

    def script(params, total, nested):
        from . import get_family

        family = get_family(family_id)
        name, code = curve_source(params) if curve_source else (family.curve.__name__, source(family.curve))
        return Script((keras_source("CurveSchedule"), *map(source, family.helpers), code),
                      f"CurveSchedule({name}, {params!r}, steps_per_epoch, {total})")

    return Keras(build, script)


EPOCH_GLUE = '''PARAMS = {params}


def epoch_schedule(epoch, lr):
    # LearningRateScheduler passes the current rate; the formula is of the epoch alone.
    return float({formula}(PARAMS, np.float64(epoch)))
'''


def epoch_formula(formula: Callable, start: str = "initial_learning_rate") -> Keras:
    """LearningRateScheduler over formula(params, epoch); Adam starts at params[start]."""

    def build(params, steps_per_epoch, total_steps):
        import keras
        import numpy as np

        def schedule(epoch, lr):  # Keras passes the current rate; these formulas do not need it
            return float(formula(params, np.float64(epoch)))

        return float(params[start]), [keras.callbacks.LearningRateScheduler(schedule)]

    def script(params, total, nested):
        glue = EPOCH_GLUE.format(params=repr(params), formula=formula.__name__)
        return Script((source(formula), glue), repr(float(params[start])),
                      ("keras.callbacks.LearningRateScheduler(epoch_schedule)",))

    return Keras(build, script)


def epoch_function(factory: Callable, arguments: Callable[[dict], dict],
                   start: str = "initial_learning_rate") -> Keras:
    """LearningRateScheduler over the function factory(**arguments(params)) returns, written in
    the script as it is here (the article's own function)."""

    def build(params, steps_per_epoch, total_steps):
        import keras

        return float(params[start]), [keras.callbacks.LearningRateScheduler(factory(**arguments(params)))]

    def script(params, total, nested):
        return Script((source(factory),), repr(float(params[start])),
                      (f"keras.callbacks.LearningRateScheduler({call(factory.__name__, arguments(params))})",))

    return Keras(build, script)


def chosen(pick: Callable[[dict], Keras]) -> Keras:
    """The builder pick(params) returns: for a family whose params choose how it trains."""
    return Keras(lambda p, spe, total: pick(p)(p, spe, total), lambda p, total, nested: pick(p).script(p, total, nested))


def warmup_schedule(inner, start: float, warmup_steps: int, shape: str, power: float):
    """A warmup in front of another Keras schedule, which sees its own step 0 at step W."""
    from .keras_schedules import Warmup

    return Warmup(inner, start, warmup_steps, shape, power)
