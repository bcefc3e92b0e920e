"""Keras's six LearningRateSchedule classes: the same arguments, the same values, in NumPy.

Training uses the Keras objects themselves; these curves are the preview, and the tests
hold them to Keras at every step.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
from fractions import Fraction

import numpy as np

from ..params import ConfigError, Param
from .base import Family, Mark, rate, steps
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


# CosineDecayRestarts finds its cycle with floor(log(…) / log t_mul), where the last bit of
# float32 arithmetic decides restarts (float64 misses some that Keras makes, Keras misses some
# that the exact schedule makes). What trains is Keras, so the preview redoes Keras's arithmetic
# as training runs it: inside the compiled train step, one scalar step at a time, on the CPU.
# There every op rounds to float32; Grappler turns each division by a constant into a
# multiplication by its float32 reciprocal (an eager call divides, so it differs in the last
# bit and at rare restarts); and log is the C library's logf. glibc's logf is not correctly
# rounded (1 float in 5,000 is an ulp away from float32(log64)), and NumPy's float32 log and
# TensorFlow's on a vector are other approximations (4% of floats differ; at 8192 they give
# 9.010914, logf 9.010913, which decides the restart at step 81,910 of first_decay_steps 10).
_F32, _ONE = np.float32, np.float32(1.0)


@functools.cache
def _c_logf():
    """The C library's logf, the one TensorFlow's CPU kernel calls on a scalar; None if absent
    (then a correctly rounded log stands in, which can miss rare restarts)."""
    try:
        logf = ctypes.CDLL(ctypes.util.find_library("m")).logf
    except (OSError, TypeError, AttributeError):
        return None
    logf.restype, logf.argtypes = ctypes.c_float, [ctypes.c_float]
    return logf


def _logf(x, by_libm):
    """float32 log of x: correctly rounded, and the C library's logf where by_libm (a Python
    call each, so only where its last bit can matter)."""
    out = np.log(x.astype(np.float64)).astype(_F32)
    logf = _c_logf()
    if logf is not None:
        where = np.flatnonzero(by_libm)
        out[where] = [logf(v) for v in x[where].tolist()]
    return out


def _pow32(base, exponent):
    return np.power(np.float64(base), exponent.astype(np.float64)).astype(_F32)


def _reciprocal(x):
    return _ONE / _F32(x)


def _keras_cycle(t, cf):
    """Keras's cycle index at completed fraction cf, t = float32(t_mul): floor(cf) when t is 1
    (so 1 + 1e-9 counts as 1), else floor(log(1 − cf·(1 − t)) / log t).
    With t_mul < 1 the periods shrink to nothing at step first_decay_steps / (1 − t_mul); from
    there 1 − cf·(1 − t) is ≤ 0 in float32, log gives −inf or NaN, and so does Keras's rate:
    NaN at every later step, which the preview shows too."""
    if t == _ONE:
        return np.floor(cf)
    x = _ONE - cf * (_ONE - t)
    over_log_t = _reciprocal(_logf(np.array([t]), [True])[0])
    quotient = np.log(x.astype(np.float64)) * np.float64(over_log_t)
    # logf errs by under an ulp: only a quotient within 1e-6 of an integer can floor otherwise.
    near = np.abs(quotient - np.rint(quotient)) <= 1e-6 * np.abs(quotient)
    return np.floor(_logf(x, near) * over_log_t)


def _keras_completed_fraction(p, step):
    return np.asarray(step, dtype=np.float64).astype(_F32) * _reciprocal(p["first_decay_steps"])


def _keras_cycle_and_fraction(p, step):
    t, cf = _F32(p["t_mul"]), _keras_completed_fraction(p, step)
    i = _keras_cycle(t, cf)
    if t == _ONE:
        return i, cf - i
    t_i = _pow32(t, i)
    return i, (cf - (_ONE - t_i) * _reciprocal(_ONE - t)) / t_i


def _cosine_restarts(p, t):
    lr0, m_mul, alpha = (_F32(p[k]) for k in ("initial_learning_rate", "m_mul", "alpha"))
    with np.errstate(all="ignore"):  # NaN past the limit of shrinking periods, as in Keras
        i, f = _keras_cycle_and_fraction(p, t.step)
        cos = np.cos((_F32(math.pi) * f).astype(np.float64)).astype(_F32)
        decayed = (_ONE - alpha) * (_F32(0.5) * _pow32(m_mul, i) * (_ONE + cos)) + alpha
    return (lr0 * decayed).astype(np.float64)


def _cycles_by(d0: int, t: float, last: int) -> int:
    """How many cycles start by step `last` (an upper bound, t ≠ 1)."""
    a = 1 + last * (Fraction(t) - 1) / d0  # t^k at `last`, > 0
    return math.floor((math.log(a.numerator) - math.log(a.denominator)) / math.log(t)) + 2


def _exact_cycle_starts(d0: int, t: float, last: int) -> np.ndarray:
    """The first step, ceil(B_k), of every cycle k ≥ 1 starting by `last`, where
    B_k = d0 · (t^k − 1) / (t − 1) for the exact value of the float t (t ≠ 1)."""
    exact_t = Fraction(t)
    k_max = _cycles_by(d0, t, last)
    k = np.arange(1, k_max + 1, dtype=np.float64)
    y = k * math.log(t)
    bound = d0 * np.expm1(y) / (t - 1)
    starts = np.ceil(bound)
    # The float64 bound is off by less than 1e-15 · (|y| + 4) relatively; near an integer,
    # decide exactly (integer t makes every bound an integer).
    unsure = np.abs(bound - np.rint(bound)) <= 1e-14 * (np.abs(y) + 4) * bound
    for j in np.flatnonzero(unsure):
        exact = d0 * (exact_t ** (int(j) + 1) - 1) / (exact_t - 1)
        starts[j] = -(-exact.numerator // exact.denominator)
    return starts


MAX_EXACT_CYCLES = 10_000  # beyond this many restarts the exact check costs seconds: not done


def cosine_restarts_departures(params: dict, total_steps: int) -> list[tuple[int, int, int]] | None:
    """(step, Keras's cycle, the exact cycle) at every step < total_steps where the cycle of
    Keras's float32 arithmetic differs from the mathematical schedule's (exact arithmetic on
    the float parameters). With t_mul < 1 the exact schedule ends at step
    first_decay_steps / (1 − t_mul); steps from there on, and steps where Keras's cycle is not
    a number (its rate is NaN), are left out. None when the run has more than MAX_EXACT_CYCLES
    restarts to check (t_mul barely above 1)."""
    return _departures(params["first_decay_steps"], float(params["t_mul"]), total_steps)


@functools.lru_cache(maxsize=64)
def _departures(d0: int, t: float, total_steps: int):
    # The page asks on every rerun; the answer depends on these three numbers only.
    params = {"first_decay_steps": d0, "t_mul": t}
    last = total_steps - 1
    if t < 1:
        end = Fraction(d0) / (1 - Fraction(t))
        last = min(last, -(-end.numerator // end.denominator) - 1)
    if last < 0:
        return []
    if t != 1 and _cycles_by(d0, t, last) > MAX_EXACT_CYCLES:
        return None
    step = np.arange(last + 1, dtype=np.float64)
    with np.errstate(all="ignore"):
        keras_i = _keras_cycle(_F32(t), _keras_completed_fraction(params, step))
    exact_i = (step // d0 if t == 1 else
               np.searchsorted(_exact_cycle_starts(d0, t, last), step, side="right"))
    differ = np.flatnonzero(np.isfinite(keras_i) & (keras_i != exact_i))
    return list(zip(differ.tolist(), keras_i[differ].astype(np.int64).tolist(),
                    exact_i[differ].astype(np.int64).tolist()))


def _first_drop(p, spe):
    return [Mark("the first drop", p["decay_steps"], "change")] if p["staircase"] else []


def _piecewise_marks(p, spe):
    # The bound is inclusive: the rate changes at step b + 1.
    return [Mark(f"the change to {v:g} after step {b:,}", b + 1, "change")
            for b, v in zip(p["boundaries"], p["values"][1:])]


def _polynomial_marks(p, spe):
    return [] if p["cycle"] else [Mark("the decay", p["decay_steps"], "end")]


def _cosine_marks(p, spe):
    if p["warmup_target"] is None:
        return [Mark("the cosine decay", p["decay_steps"], "end")]
    w = p["warmup_steps"]
    return ([Mark("the warmup", w, "phase")] if w else []) + [Mark("the cosine decay", w + p["decay_steps"], "end")]


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

ORDER = 20  # where its families are listed: see schedules._collect

FAMILIES = (
    Family(
        "ExponentialDecay", "Exponential decay",
        (rate(default=0.01), steps("decay_steps", 100, "Steps (batches, not epochs) per decay_rate."),
         DECAY_RATE, STAIRCASE),
        r"\eta_s = \eta_0 \cdot r^{\,s / D}\quad(\lfloor s/D \rfloor \text{ if staircase})",
        _exponential, keras_class("ExponentialDecay"), keras_class=True, marks=_first_drop),
    Family(
        "PiecewiseConstantDecay", "Piecewise constant",
        (Param("boundaries", [100, 200], "ints", "Steps where the rate changes (it changes at b + 1).",
               low=0, high=10_000_000, max_len=100, in_steps=True),
         Param("values", [0.01, 0.001, 0.0001], "floats", "One rate per interval: len(boundaries) + 1.",
               low=0.0, high=10.0, max_len=101, is_rate=True)),
        r"\eta_s = v_i \ \text{ for } b_{i-1} < s \le b_i",
        _piecewise, keras_class("PiecewiseConstantDecay"), keras_class=True, check=_check_piecewise,
        marks=_piecewise_marks),
    Family(
        "PolynomialDecay", "Polynomial decay",
        (rate(default=0.01), steps("decay_steps", 1000, "Steps to reach end_learning_rate."),
         Param("end_learning_rate", 0.0001, "float", "Rate at the end of the decay.", low=0.0, high=10.0,
               log=True, is_rate=True),
         Param("power", 1.0, "float", "Exponent of the polynomial (1 = linear).", low=0.0, high=100.0,
               low_open=True),
         Param("cycle", False, "bool", "Restart the decay, stretching decay_steps by ceil(s / D).")),
        r"\eta_s = (\eta_0 - \eta_{end})\,(1 - \min(s, D)/D)^{p} + \eta_{end}",
        _polynomial, keras_class("PolynomialDecay"), keras_class=True, marks=_polynomial_marks),
    Family(
        "InverseTimeDecay", "Inverse time decay",
        (rate(default=0.01), steps("decay_steps", 100, "Steps per unit of decay."),
         Param("decay_rate", 0.5, "float", "How fast the rate falls.", low=0.0, high=1e6),
         STAIRCASE),
        r"\eta_s = \frac{\eta_0}{1 + r \cdot s / D}",
        _inverse_time, keras_class("InverseTimeDecay"), keras_class=True, marks=_first_drop),
    Family(
        "CosineDecay", "Cosine decay (with warmup)",
        (rate(default=0.01), steps("decay_steps", 1000, "Steps of the cosine, after any warmup."),
         Param("alpha", 0.0, "float", "Floor as a fraction of the peak rate.", low=0.0, high=1.0),
         Param("warmup_target", None, "float", "Peak rate reached by a linear warmup (null: no warmup).",
               low=0.0, high=10.0, low_open=True, log=True, optional=True, is_rate=True),
         steps("warmup_steps", 0, "Steps of linear warmup from initial_learning_rate.", low=0)),
        r"\eta_s = \eta_{peak}\left((1-\alpha)\tfrac12\left(1+\cos\tfrac{\pi \min(s-W, D)}{D}\right)+\alpha\right)",
        _cosine, keras_class("CosineDecay"), keras_class=True, marks=_cosine_marks),
    Family(
        "CosineDecayRestarts", "Cosine decay with restarts (SGDR)",
        (rate(default=0.01), steps("first_decay_steps", 200, "Steps of the first cosine period."),
         Param("t_mul", 2.0, "float", "Each period is t_mul times longer.", low=0.0, high=100.0,
               low_open=True),
         Param("m_mul", 1.0, "float", "Each restart peaks at m_mul times the previous peak.", low=0.0,
               high=1.0),
         Param("alpha", 0.0, "float", "Floor as a fraction of initial_learning_rate.", low=0.0, high=1.0)),
        r"\eta_s = \eta_0\left((1-\alpha)\tfrac12 m^{i}\left(1+\cos \pi f\right)+\alpha\right)",
        _cosine_restarts, keras_class("CosineDecayRestarts"), keras_class=True,
        bad_rates=lambda p: "t_mul" if p["t_mul"] < 1 else None),
)
