"""Inside the optimizer, at every step, measured in the training graph beside the update.

Per run: the gradient's global norm (before any clipping), the median, 90th percentile and
maximum of the per-parameter step |Δθ| (the change the update made; the quantiles over at most
SAMPLE parameters, each variable in its share, which is all of them in the page's usual
models, computed on the host by NumPy), and per Dense layer (kernel and bias together) the
update-to-weight ratio ‖Δθ‖/‖θ‖, θ before the update. The bias-correction factor is a function
of the step alone and is computed outside the graph (adam.bias_correction).

Variables come with the run (replica) as their last axis, K runs at once (lrviz.stacked); a run
alone is K = 1. After each update one op (inside_op.cc, lrviz.kernels) reads the variables in
place, measures, and writes the step's row into the record's variables; it keeps the weights it
saw in a variable of its own, for the next step's Δθ. A small model's step costs op dispatch
more than arithmetic, so one op a step, not the thirty-odd that TensorFlow's own ops took
(docs/benchmarks.md, item 17).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .kernels import inside_op
from .store import INSIDE_COLUMNS, MAX_LAYERS

QUANTILES = (0.5, 0.9)
SAMPLE = 2048  # parameters the quantiles are taken over at most: sorting millions at every step
# would cost more than the step
WIDTH = len(INSIDE_COLUMNS) - 1  # what the graph records: every column but the bias correction
MEMORY = 256 * 2**20  # bytes a graph call's record may take, with the host's copy of it


def record_floats(sizes: list[int], k: int = 1) -> int:
    """Floats a step records for K runs whose variables have these sizes (each run's): its
    measures and its quantiles' sample."""
    return k * (WIDTH + min(sum(sizes), SAMPLE))


def chunk_cap(floats: int) -> int:
    """The most steps a graph call may record when each step records this many floats (every
    run's, record_floats): the record, and the host's copy of it."""
    return max(1, MEMORY // (2 * 4 * max(floats, 1)))


class Inside:
    """What to measure for a model whose Dense layers are `layers`: per layer, its variables,
    each with K replicas on its last axis (lrviz.stacked, even for K = 1), or k=None for a model
    alone, whose variables have no such axis.

    Made outside the graph (it makes a variable). In the train step: `begin()` before the loop,
    `step(i, grads, record, sample)` after update i of the call, which writes row i of the record
    ([steps, replicas, WIDTH], the quantiles NaN) and of the sample ([steps, replicas, at least
    self.sample], |Δθ| of the parameters in self.picks, NaN after them) for replicas first to
    first + K."""

    def __init__(self, layers: list[list], k: int | None = None):
        if len(layers) > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} layers are recorded, not {len(layers)}")
        self.k = k or 1
        self.variables = [v for vs in layers for v in vs]
        self.layer = [i for i, vs in enumerate(layers) for _ in vs]
        self.sizes = [int(np.prod(v.shape)) // self.k for v in self.variables]
        self.picks = _picks(self.sizes, np.random.default_rng(0))  # the same alone and side by side
        self.sample = len(self.picks)
        self.before = tf.Variable(tf.zeros([sum(self.sizes) * self.k]), trainable=False, name="inside_before")

    def begin(self):
        """Before the loop: the weights as they are, for the call's first Δθ."""
        self.before.assign(tf.concat([tf.reshape(v.value, [-1]) for v in self.variables], axis=0))

    def step(self, i, grads: list, record, sample, first: int = 0):
        """After update i of the call, with its gradients (in self.variables' order)."""
        inside_op()(i, [v.value.handle for v in self.variables], grads, self.before.handle, record.handle,
                    sample.handle, layer=self.layer, k=self.k, first=first, quantiles=len(QUANTILES),
                    picks=self.picks)


def _picks(sizes: list[int], rng) -> list[int]:
    """The quantiles' sample, sorted, as indices into one run's parameters laid end to end:
    all of them in a model of SAMPLE or fewer, else SAMPLE in all, each variable's share drawn
    from it."""
    total = sum(sizes)
    if total <= SAMPLE:
        return list(range(total))
    share = SAMPLE * np.asarray(sizes) / total
    counts = np.floor(share).astype(int)  # then one more for the largest remainders: SAMPLE in all
    counts[np.argsort(counts - share)[:SAMPLE - counts.sum()]] += 1
    starts = np.cumsum([0, *sizes[:-1]])
    return np.concatenate([start + np.sort(rng.choice(m, c, replace=False))
                           for start, m, c in zip(starts, sizes, counts)]).astype(int).tolist()


def with_quantiles(measured: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """The graph's measures ([steps, K, WIDTH]) with the quantile columns filled from the sample
    ([steps, K, sample], NaN-padded where a block of replicas has fewer parameters), as
    np.quantile's default (linear) method gives them."""
    out = np.array(measured, dtype=np.float64)
    if not out.size or not sample.shape[-1]:
        return out  # nothing was recorded
    # np.quantile's own arithmetic, on a sort (SIMD for float32: faster here than its partitions)
    # that puts NaN last: padding, or a step whose update was not finite (its run does not keep it).
    ordered = np.sort(sample, axis=-1)
    count = np.count_nonzero(~np.isnan(ordered), axis=-1)[..., None]  # [steps, K, 1]
    pos = np.maximum(count - 1, 0) * np.asarray(QUANTILES)  # [steps, K, quantiles]
    lo = np.floor(pos).astype(int)
    low, high = (np.take_along_axis(ordered, i, axis=-1).astype(np.float64) for i in (lo, np.ceil(pos).astype(int)))
    q = np.where(count > 0, low + (high - low) * (pos - lo), np.nan)
    out[..., 1:1 + len(QUANTILES)] = q
    return out
