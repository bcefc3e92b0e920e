"""Keras's six LearningRateSchedule classes: the same arguments, the same values, in NumPy.

Training uses the Keras objects themselves; these curves are the preview, and the tests
hold them to Keras at every step.
"""
from __future__ import annotations

import math

import numpy as np

from ..params import ConfigError, Param
from .base import Family, rate, steps
from .to_keras import keras_class


def _staircase_p(p, t):
    ratio = t.step / p["decay_steps"]
    return np.floor(ratio) if p["staircase"] else ratio


def _exponential(p, t):
    return p["initial_learning_rate"] * p["decay_rate"] ** _staircase_p(p, t)


def _inverse_time(p, t):
    return p["initial_learning_rate"] / (1.0 + p["decay_rate"] * _staircase_p(p, t))


def _piecewise(p, t):
    # values[i] while boundaries[i-1] < step <= boundaries[i]: the bound is inclusive.
    index = np.searchsorted(np.asarray(p["boundaries"], dtype=np.float64), t.step, side="left")
    return np.asarray(p["values"], dtype=np.float64)[index]


def _polynomial(p, t):
    lr0, end, d = p["initial_learning_rate"], p["end_learning_rate"], float(p["decay_steps"])
    if p["cycle"]:
        # The multiplier is 1 at step 0 so that the first cycle is not empty.
        d = d * np.maximum(np.ceil(t.step / d), 1.0)
        s = t.step
    else:
        s = np.minimum(t.step, d)
    return (lr0 - end) * (1.0 - s / d) ** p["power"] + end


def _cosine(p, t):
    lr0, d, alpha = p["initial_learning_rate"], p["decay_steps"], p["alpha"]
    target, w = p["warmup_target"], p["warmup_steps"]

    def decayed(s, top):
        return top * ((1.0 - alpha) * 0.5 * (1.0 + np.cos(math.pi * s / d)) + alpha)

    if target is None:
        return decayed(np.minimum(t.step, d), lr0)
    s = np.minimum(t.step, d + w)
    warm = lr0 + (target - lr0) * s / max(w, 1)
    return np.where(s < w, warm, decayed(s - w, target))


def _cosine_restarts(p, t):
    lr0, d0 = p["initial_learning_rate"], p["first_decay_steps"]
    t_mul, m_mul, alpha = p["t_mul"], p["m_mul"], p["alpha"]
    f = t.step / d0
    if t_mul == 1.0:
        i = np.floor(f)
        f = f - i
    else:
        i = np.floor(np.log(1.0 - f * (1.0 - t_mul)) / math.log(t_mul))
        f = (f - (1.0 - t_mul**i) / (1.0 - t_mul)) / t_mul**i
    return lr0 * ((1.0 - alpha) * 0.5 * m_mul**i * (1.0 + np.cos(math.pi * f)) + alpha)


def _check_piecewise(p, where):
    b, v = p["boundaries"], p["values"]
    if len(v) != len(b) + 1:
        raise ConfigError(f"{where}.values", v,
                          f"allowed: exactly len(boundaries) + 1 = {len(b) + 1} values")
    if any(b2 <= b1 for b1, b2 in zip(b, b[1:])):
        raise ConfigError(f"{where}.boundaries", b, "allowed: strictly increasing steps")


STAIRCASE = Param("staircase", False, "bool", "Decay in whole steps of decay_steps instead of smoothly.")
DECAY_RATE = Param("decay_rate", 0.5, "float", "Multiplier applied per decay_steps.", low=0.0, high=1.0,
                   low_open=True)

FAMILIES = (
    Family(
        "ExponentialDecay", "Exponential decay",
        (rate(default=0.01), steps("decay_steps", 100, "Steps (batches, not epochs) per decay_rate."),
         DECAY_RATE, STAIRCASE),
        r"\eta_s = \eta_0 \cdot r^{\,s / D}\quad(\lfloor s/D \rfloor \text{ if staircase})",
        _exponential, keras_class("ExponentialDecay"), keras_class=True),
    Family(
        "PiecewiseConstantDecay", "Piecewise constant",
        (Param("boundaries", [100, 200], "ints", "Steps where the rate changes (it changes at b + 1).",
               low=0, high=10_000_000, max_len=100),
         Param("values", [0.01, 0.001, 0.0001], "floats", "One rate per interval: len(boundaries) + 1.",
               low=0.0, high=10.0, max_len=101)),
        r"\eta_s = v_i \ \text{ for } b_{i-1} < s \le b_i",
        _piecewise, keras_class("PiecewiseConstantDecay"), keras_class=True, check=_check_piecewise),
    Family(
        "PolynomialDecay", "Polynomial decay",
        (rate(default=0.01), steps("decay_steps", 1000, "Steps to reach end_learning_rate."),
         Param("end_learning_rate", 0.0001, "float", "Rate at the end of the decay.", low=0.0, high=10.0,
               log=True),
         Param("power", 1.0, "float", "Exponent of the polynomial (1 = linear).", low=0.0, high=100.0,
               low_open=True),
         Param("cycle", False, "bool", "Restart the decay, stretching decay_steps by ceil(s / D).")),
        r"\eta_s = (\eta_0 - \eta_{end})\,(1 - \min(s, D)/D)^{p} + \eta_{end}",
        _polynomial, keras_class("PolynomialDecay"), keras_class=True),
    Family(
        "InverseTimeDecay", "Inverse time decay",
        (rate(default=0.01), steps("decay_steps", 100, "Steps per unit of decay."),
         Param("decay_rate", 0.5, "float", "How fast the rate falls.", low=0.0, high=1e6),
         STAIRCASE),
        r"\eta_s = \frac{\eta_0}{1 + r \cdot s / D}",
        _inverse_time, keras_class("InverseTimeDecay"), keras_class=True),
    Family(
        "CosineDecay", "Cosine decay (with warmup)",
        (rate(default=0.01), steps("decay_steps", 1000, "Steps of the cosine, after any warmup."),
         Param("alpha", 0.0, "float", "Floor as a fraction of the peak rate.", low=0.0, high=1.0),
         Param("warmup_target", None, "float", "Peak rate reached by a linear warmup (null: no warmup).",
               low=0.0, high=10.0, low_open=True, log=True, optional=True),
         steps("warmup_steps", 0, "Steps of linear warmup from initial_learning_rate.", low=0)),
        r"\eta_s = \eta_{peak}\left((1-\alpha)\tfrac12\left(1+\cos\tfrac{\pi \min(s-W, D)}{D}\right)+\alpha\right)",
        _cosine, keras_class("CosineDecay"), keras_class=True),
    Family(
        "CosineDecayRestarts", "Cosine decay with restarts (SGDR)",
        (rate(default=0.01), steps("first_decay_steps", 200, "Steps of the first cosine period."),
         Param("t_mul", 2.0, "float", "Each period is t_mul times longer.", low=0.0, high=100.0,
               low_open=True),
         Param("m_mul", 1.0, "float", "Each restart peaks at m_mul times the previous peak.", low=0.0,
               high=1.0),
         Param("alpha", 0.0, "float", "Floor as a fraction of initial_learning_rate.", low=0.0, high=1.0)),
        r"\eta_s = \eta_0\left((1-\alpha)\tfrac12 m^{i}\left(1+\cos \pi f\right)+\alpha\right)",
        _cosine_restarts, keras_class("CosineDecayRestarts"), keras_class=True),
)
