"""Inside the optimizer, at every step, computed in the training graph beside the update.

Per run: the gradient's global norm (before any clipping), the median, 90th percentile and
maximum of the per-parameter step |Δθ| (the change the update made; the quantiles over at most
SAMPLE evenly spaced parameters, which is all of them in the page's usual models, computed on
the host by NumPy), and per Dense layer (kernel and bias together) the update-to-weight ratio
‖Δθ‖/‖θ‖, θ before the update. The bias-correction factor is a function of the step alone and
is computed outside the graph (adam.bias_correction).

Variables come with the run (replica) as their last axis, K runs at once (lrviz.stacked); a run
alone is K = 1. At each step the graph only writes the weights and the gradients, flat, as one
row of a TensorArray; the measures are computed once per graph call, for all its steps at once.
A small model's step costs op dispatch more than arithmetic: this adds a few ops to each step,
not the forty that measuring there would (docs/benchmarks.md).
"""
from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from .store import INSIDE_COLUMNS, MAX_LAYERS

QUANTILES = (0.5, 0.9)
SAMPLE = 2048  # parameters the quantiles are taken over at most (evenly spaced): selecting in
# millions at every step would cost more than the step; the maximum is over all of them
WIDTH = len(INSIDE_COLUMNS) - 1  # what the graph records: every column but the bias correction
MEMORY = 256 * 2**20  # bytes a graph call's record may take, with the copies its measures make


def chunk_cap(parameters: int) -> int:
    """The most steps a graph call may record for models of this many parameters in all: each
    step holds the weights and the gradients (float32), and measuring copies them about 4 times."""
    return max(1, MEMORY // (2 * 4 * 4 * max(parameters, 1)) - 1)


class Inside:
    """What to measure for a model whose Dense layers are `layers`: per layer, its variables,
    each with K as its last axis (or none, for a run alone: k=1).

    In the train step's loop, a state carried from step to step: `begin()` before the loop,
    `state = step(i, state, grads)` after update i, `measures(state)` after the loop: [steps of
    the call, K, WIDTH]. (A TensorArray: writing a row of a variable that the graph reads
    afterwards copies the whole variable at every step.)"""

    def __init__(self, layers: list[list], k: int):
        if len(layers) > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} layers are recorded, not {len(layers)}")
        self.k, self.layers = k, len(layers)
        self.variables = [v for vs in layers for v in vs]
        ends = np.cumsum([sum(int(np.prod(v.shape)) // k for v in vs) for vs in layers])
        self.n = int(ends[-1])
        # The quantiles' parameters: all of them up to SAMPLE, else SAMPLE evenly spaced ones.
        self.sample = min(self.n, SAMPLE)
        self.index = None if self.n <= SAMPLE else tf.constant(np.linspace(0, self.n - 1, SAMPLE).astype(np.int32))
        layer_of = np.repeat(np.arange(self.layers), np.diff([0, *ends.tolist()]))
        self.onehot = tf.constant(np.eye(self.layers, dtype=np.float32)[layer_of])  # [P, layers]

    def begin(self):
        """The loop's state before its first step: a TensorArray of flat [weights, gradients]
        rows, the first holding the weights before the step (and again in place of gradients).
        One loop variable: each one adds control-flow ops to every iteration."""
        trail = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[2 * self.n * self.k])
        return trail.write(0, _row([v.value for v in self.variables] * 2))

    def step(self, i, state, grads: list):
        """After update i of the call: its weights and its gradients (in self.variables' order)."""
        return state.write(i + 1, _row([*(v.value for v in self.variables), *grads]))

    def measures(self, state) -> tuple[tf.Tensor, tf.Tensor]:
        """([steps, K, WIDTH]: each step's grad_norm, its largest step and per layer its ratio,
        NaN for the quantiles and for layers the model does not have; [steps, K, sample]: the
        steps |Δθ| the quantiles are taken over, on the host (with_quantiles)."""
        return _measures(state.stack(), self.onehot, self.index, self.n, self.k)


@tf.function
def _row(tensors):
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)  # copies at memcpy speed


# These two are traced once per worker and model shape, not once per run: every run traces its train step anew, and
# tracing these ops cost more than running them in a 1,000-step run (docs/benchmarks.md).
@tf.function
def _measures(stacked, onehot, index, n: int, k: int):
    rows = tf.reshape(stacked, [-1, 2 * n, k])  # K last, as each variable holds it
    weights, gradients = rows[:, :n], rows[1:, n:]
    before, delta = weights[:-1], weights[1:] - weights[:-1]  # [steps, P, K]
    size = tf.abs(delta)
    sample = tf.transpose(size if index is None else tf.gather(size, index, axis=1), [0, 2, 1])
    # Each layer's sums of squares, of the update and of the weights: a matmul each.
    sums = [tf.matmul(tf.transpose(tf.square(x), [0, 2, 1]), onehot) for x in (delta, before)]
    ratios = tf.unstack(tf.sqrt(sums[0] / sums[1]), axis=2)  # each [steps, K]
    nan = tf.fill(tf.shape(delta)[::2], np.float32(np.nan))  # [steps, K]
    grad_norm = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=1))
    columns = [grad_norm, *[nan] * len(QUANTILES), tf.reduce_max(size, axis=1), *ratios,
               *[nan] * (MAX_LAYERS - len(ratios))]
    return tf.stack(columns, axis=2), sample


def with_quantiles(measured: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """The graph's measures ([steps, K, WIDTH]) with the quantile columns filled from the sample
    ([steps, K, sample], NaN-padded where a block of replicas has fewer parameters), as
    np.quantile's default (linear) method gives them."""
    out = np.array(measured, dtype=np.float64)
    if not out.size or not sample.shape[-1]:
        return out  # nothing was recorded
    sample = np.asarray(sample, np.float64)
    if np.isnan(sample).any():  # padding; or a step whose update was not finite, which its run does not keep
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row: its quantiles are NaN
            q = np.nanquantile(sample, QUANTILES, axis=-1)
    else:  # np.quantile's own arithmetic, from one partition for both quantiles: 20× faster here
        pos = (sample.shape[-1] - 1) * np.asarray(QUANTILES)
        lo, hi = np.floor(pos).astype(int), np.ceil(pos).astype(int)
        part = np.partition(sample, np.unique(np.r_[lo, hi]), axis=-1)
        low, high = part[..., lo], part[..., hi]
        q = np.moveaxis(low + (high - low) * (pos - lo), -1, 0)
    out[..., 1:1 + len(QUANTILES)] = np.moveaxis(q, 0, -1)
    return out
