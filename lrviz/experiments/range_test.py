"""The LR range test (Smith 2015; fastai's lr_find): one real run over the current data, model
and Adam settings whose rate grows geometrically from min_learning_rate to max_learning_rate
over num_steps steps, stopped once the smoothed loss exceeds stop_factor times its lowest.
Then three readings of loss against rate, as fastai computes them: where the smoothed loss
falls fastest (steep), the middle of its longest descent (valley), and its minimum ÷ 10.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import config as cfgmod
from ..params import ConfigError
from ..schedules import check_schedule, make

BETA = 0.98  # fastai's smoothing of the recorded loss
FAMILY = "lr_range"  # the ramp's settings are its params: min/max_learning_rate, num_steps, stop_factor


def check(raw, where: str = "range_test") -> dict:
    """The ramp's settings (any left out take their defaults), validated; ConfigError names them."""
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(where, raw, "allowed: an object with min_learning_rate, max_learning_rate, num_steps, "
                          "stop_factor")
    sched = check_schedule({"kind": FAMILY, **(raw or {})}, where)
    return {k: v for k, v in sched.items() if k != "kind"}


def run_config(base: dict, ramp: dict) -> dict:
    """The run that tests: the base config's data, model, Adam and batch size, the ramp as its
    schedule, and enough epochs for num_steps (the last epoch may run past it, at the top rate,
    unless the loss has exploded by then)."""
    spe = cfgmod.steps_per_epoch(base)
    training = {**base["training"], "epochs": math.ceil(ramp["num_steps"] / spe)}
    try:
        run = cfgmod.validate({**base, "schedule": make(FAMILY, **ramp), "training": training})
        cfgmod.steps_per_epoch(run)
    except ConfigError as exc:  # its length comes from num_steps: say so, not training.epochs
        raise ConfigError("range_test.num_steps", ramp["num_steps"],
                          f"too many steps for this data ({training['epochs']:,} epochs of {spe:,}): {exc.allowed}") from None
    return run


@dataclass(frozen=True)
class Suggestion:
    name: str             # steep, valley, minimum
    learning_rate: float  # the suggested rate
    at: float             # where on the curve it was read (for minimum: the minimum itself)
    loss: float           # the smoothed loss there
    why: str


@dataclass(frozen=True)
class Result:
    learning_rate: np.ndarray
    loss: np.ndarray
    smoothed: np.ndarray
    suggestions: list[Suggestion]
    note: str  # how the test ended, or why there is no suggestion


def smoothed_loss(loss) -> np.ndarray:
    """fastai's AvgSmoothLoss: a debiased exponential average of every value in order (an inf
    makes it inf, a NaN makes it NaN from there on), in float64."""
    from scipy.signal import lfilter

    raw = np.asarray(loss, dtype=np.float64)
    ema = lfilter([1.0 - BETA], [1.0, -BETA], raw)
    return ema / (1.0 - BETA ** np.arange(1, len(raw) + 1, dtype=np.float64))


def exploded(smoothed, stop_factor: float | None, lowest: float = np.inf) -> np.ndarray:
    """Indices where the smoothed loss exceeds stop_factor × its lowest so far (from `lowest`
    on); NaN never counts (fastai's comparisons are false on NaN)."""
    if stop_factor is None:
        return np.array([], dtype=np.int64)
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(smoothed > stop_factor * np.fmin.accumulate(np.append(lowest, smoothed))[1:])


class Explosion:
    """The same rule fed chunk by chunk while training runs: the first step whose smoothed loss
    exceeds stop_factor × its lowest so far."""

    def __init__(self, stop_factor: float):
        self.stop_factor, self.state, self.count, self.lowest = stop_factor, np.zeros(1), 0, np.inf

    def first(self, loss) -> int | None:
        from scipy.signal import lfilter

        raw = np.asarray(loss, dtype=np.float64)
        ema, self.state = lfilter([1.0 - BETA], [1.0, -BETA], raw, zi=self.state)
        smoothed = ema / (1.0 - BETA ** np.arange(self.count + 1, self.count + len(raw) + 1, dtype=np.float64))
        over = exploded(smoothed, self.stop_factor, self.lowest)
        self.count += len(raw)
        self.lowest = float(np.fmin.reduce(np.append(smoothed, self.lowest)))
        return int(over[0]) if over.size else None


def analyse(learning_rate, loss, num_steps: int, stop_factor: float | None = 4.0) -> Result:
    """Read a recorded test as fastai's lr_find does: rows up to the first whose smoothed loss
    exceeds stop_factor × its lowest so far (that row kept; a NaN never stops it), then the
    suggestions over those rows without the first tenth of num_steps and the last five, cut
    before the first NaN."""
    lr = np.asarray(learning_rate, dtype=np.float64)[:num_steps]
    raw = np.asarray(loss, dtype=np.float64)[:len(lr)]
    smoothed = smoothed_loss(raw)
    over = exploded(smoothed, stop_factor)
    recorded = int(over[0]) + 1 if over.size else len(raw)
    lr, raw, smoothed = lr[:recorded], raw[:recorded], smoothed[:recorded]
    xs, ys = lr[num_steps // 10:max(recorded - 5, 0)], smoothed[num_steps // 10:max(recorded - 5, 0)]
    nan = np.flatnonzero(np.isnan(ys))
    if nan.size:
        xs, ys = xs[:nan[0]], ys[:nan[0]]
    if over.size:
        note = (f"stopped at step {recorded - 1:,} (rate {lr[-1]:.3g}): the smoothed loss passed "
                f"{stop_factor:g}× its lowest")
    elif len(raw) < num_steps:
        note = f"ended after {len(raw):,} of {num_steps:,} steps"
    else:
        note = f"reached {lr[-1]:.3g} after {len(raw):,} steps without the loss exploding"
    if len(xs) < 3:
        return Result(lr, raw, smoothed, [], note + "; too few steps to read a suggestion from: lower "
                      "min_learning_rate, raise num_steps, or lower the data's noise with a bigger batch")
    return Result(lr, raw, smoothed, [_valley(xs, ys), _steep(xs, ys), _minimum(xs, ys)], note)


def _steep(lr, loss) -> Suggestion:
    grads = (loss[1:] - loss[:-1]) / (np.log(lr[1:]) - np.log(lr[:-1]))
    i = int(np.argmin(grads))
    return Suggestion("steep", float(lr[i]), float(lr[i]), float(loss[i]),
                      "where the smoothed loss falls fastest against log(rate)")


def _valley(lr, loss) -> Suggestion:
    # fastai's valley: the longest strictly descending run of points, 1/3 + 1/6 of the way along.
    n = len(loss)
    longest = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if loss[i] < loss[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[end] < longest[i]:
                end = i
                start = end - longest[end]
    sections = (end - start) / 3
    i = start + int(sections) + int(sections / 2)
    return Suggestion("valley", float(lr[i]), float(lr[i]), float(loss[i]),
                      "inside the longest descent of the loss, before its bottom (fastai's default)")


def _minimum(lr, loss) -> Suggestion:
    i = int(np.argmin(loss))
    return Suggestion("minimum", float(lr[i]) / 10, float(lr[i]), float(loss[i]),
                      "a tenth of the rate where the smoothed loss is lowest")
