"""Exponential decay with a floor and a delayed start, as optax's exponential_decay: Keras's
ExponentialDecay has neither end_value nor transition_begin."""
from __future__ import annotations

from ..params import ConfigError, Param
from .base import Family, Mark, rate, steps
from .to_keras import formula_schedule

ORDER = 15  # after the other per-step families


def _curve(p, t):
    xp, lr0, rate_ = t.xp, p["initial_learning_rate"], p["decay_rate"]
    since = t.step - p["transition_begin"]
    power = since / p["decay_steps"]
    if p["staircase"]:
        power = xp.floor(power)
    decayed = xp.where(since <= 0, lr0 + 0.0 * since, lr0 * xp.power(rate_, xp.maximum(power, 0.0)))
    end = p["end_learning_rate"]
    if end is None:
        return decayed
    return xp.maximum(decayed, end) if rate_ < 1 else xp.minimum(decayed, end)


def _check(p, where):
    end, lr0, rate_ = p["end_learning_rate"], p["initial_learning_rate"], p["decay_rate"]
    if end is not None and (end > lr0 if rate_ < 1 else end < lr0):
        raise ConfigError(f"{where}.end_learning_rate", end, f"allowed: a bound the decay reaches "
                          f"({'at most' if rate_ < 1 else 'at least'} initial_learning_rate {lr0!r})")


def _marks(p, spe):
    import math

    end, lr0, rate_ = p["end_learning_rate"], p["initial_learning_rate"], p["decay_rate"]
    begin = [Mark("the start of the decay", p["transition_begin"], "change")] if p["transition_begin"] else []
    if end is None or rate_ == 1 or end == lr0:
        return begin
    reached = p["transition_begin"] + p["decay_steps"] * math.log(end / lr0) / math.log(rate_)
    return begin + [Mark("end_learning_rate", math.ceil(reached), "end")]


FAMILIES = (
    Family("exponential_end", "Exponential decay to an end value (optax)",
           (rate(default=0.01, help="Rate until transition_begin."),
            steps("decay_steps", 100, "Steps over which the rate is multiplied by decay_rate "
                  "(optax's transition_steps)."),
            Param("decay_rate", 0.5, "float", "Factor per decay_steps.", low=0.0, high=10.0, low_open=True),
            Param("staircase", False, "bool", "Drop in whole steps of decay_steps, not smoothly."),
            Param("end_learning_rate", 1e-4, "float", "The floor the rate stops at (a ceiling if "
                  "decay_rate > 1); null: no bound.", low=0.0, high=10.0, optional=True, log=True, is_rate=True),
            steps("transition_begin", 0, "Steps held at initial_learning_rate before the decay begins.",
                  low=0)),
           r"\eta_s = \max\!\left(\eta_0\, r^{(s - b)/T},\ \eta_{end}\right) \text{ for } s > b,"
           r"\ \eta_0 \text{ before}",
           _curve, formula_schedule("exponential_end"), check=_check, marks=_marks),
)
