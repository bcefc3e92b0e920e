"""Statistics of recorded series: TensorBoard's smoothing, mean ± band over seeds, and the
paired difference of an A/B test with its 95 % interval."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


def smooth(values, weight: float) -> np.ndarray:
    """TensorBoard's scalar smoothing (fastai's smoothed loss is the same): an exponential moving
    average, debiased so that the first points are not pulled towards 0. Non-finite values pass
    through; a constant series is kept."""
    y = np.asarray(values, dtype=np.float64)
    out = y.copy()
    finite = np.isfinite(y)
    if weight <= 0 or not finite.any() or np.all(y[finite] == y[finite][0]):
        return out
    from scipy.signal import lfilter

    ema = lfilter([1.0 - weight], [1.0, -weight], y[finite])  # last = w · last + (1 − w) · y
    count = np.arange(1, len(ema) + 1, dtype=np.float64)
    out[finite] = ema / (1.0 - weight**count) if weight < 1 else ema
    return out


@dataclass(frozen=True)
class Band:
    """Across replicate runs, at each x: the mean, and the band drawn around it."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray  # runs that reached each x


def band(series: list[np.ndarray], kind: str = "std") -> Band:
    """Mean with ± one standard deviation (kind "std", ddof 1) or the min–max range ("range")
    of series that may have different lengths (a run stopped or diverged early)."""
    n = max((len(s) for s in series), default=0)
    table = np.full((len(series), n), np.nan)
    for row, s in zip(table, series):
        row[:len(s)] = s
    finite = np.isfinite(table)
    count = finite.sum(axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column no run reached: NaN is the answer
        mean = np.nanmean(table, axis=0)
        if kind == "range":
            return Band(mean, np.nanmin(table, axis=0), np.nanmax(table, axis=0), count)
        std = np.where(count > 1, np.nanstd(table, axis=0, ddof=1), 0.0)
    return Band(mean, mean - std, mean + std, count)


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float  # sample standard deviation (ddof 1); 0 for a single value
    n: int


def summary(values) -> Summary:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return Summary(float("nan"), float("nan"), 0)
    return Summary(float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v))


@dataclass(frozen=True)
class Paired:
    """B − A over the seeds both finished: mean difference and its 95 % t interval."""

    diff: float
    low: float
    high: float
    n: int

    @property
    def distinguishable(self) -> bool:
        return self.n > 1 and (self.low > 0 or self.high < 0)


def paired(a: dict, b: dict) -> Paired | None:
    """a, b: seed -> value (final or best val_loss). None with fewer than two shared seeds."""
    from scipy import stats

    seeds = sorted(s for s in a.keys() & b.keys()
                   if a[s] is not None and b[s] is not None and np.isfinite(a[s]) and np.isfinite(b[s]))
    if len(seeds) < 2:
        return None
    d = np.asarray([b[s] - a[s] for s in seeds], dtype=np.float64)
    mean, n = float(d.mean()), len(d)
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n))
    return Paired(mean, mean - half, mean + half, n)
