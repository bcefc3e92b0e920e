"""The LR range test's ramp (Smith 2015; fastai's lr_find): the rate grows geometrically from
min_learning_rate, reaching max_learning_rate at step num_steps (fastai's SchedExp at
step / num_steps), and holds there."""
from __future__ import annotations

from ..params import ConfigError, Param
from .base import Family, Mark, rate
from .to_keras import formula_schedule

ORDER = 95  # last: an experiment's schedule, not a decay


def _ramp(p, t):
    xp = t.xp
    lo, hi = p["min_learning_rate"], p["max_learning_rate"]
    return lo * (hi / lo) ** xp.minimum(t.step / p["num_steps"], 1.0)


def _check(p, where):
    if p["max_learning_rate"] <= p["min_learning_rate"]:
        raise ConfigError(f"{where}.max_learning_rate", p["max_learning_rate"],
                          f"allowed: above min_learning_rate ({p['min_learning_rate']!r})")


FAMILIES = (
    Family("lr_range", "LR range test ramp",
           (rate("min_learning_rate", 1e-7, "Rate of the first step."),
            rate("max_learning_rate", 10.0, "Rate reached at step num_steps, held after."),
            Param("num_steps", 200, "int", "Steps from min_learning_rate to max_learning_rate.", low=1,
                  high=100_000, in_steps=True),
            Param("stop_factor", 4.0, "float", "Training stops once the smoothed loss exceeds this many times "
                  "its lowest (null: never).", low=1.0, high=1e6, low_open=True, optional=True)),
           r"\eta_s = \eta_{min} \left(\eta_{max} / \eta_{min}\right)^{\min(s / N,\ 1)}",
           _ramp, formula_schedule("lr_range"),
           marks=lambda p, spe: [Mark("the ramp", p["num_steps"], "end")], check=_check,
           stop_factor=lambda p: p["stop_factor"],
           note="What the Experiments tab's LR range test trains: loss against a rate that grows at every step. "
                "The stop on explosion is lrviz's: a generated script trains every step."),
)
