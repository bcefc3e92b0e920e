"""Inside the optimizer, at every step, computed in the training graph beside the update.

Per run: the gradient's global norm (before any clipping), the median, 90th percentile and
maximum of the per-parameter step |Δθ| (the change the update made; the quantiles over at most
SAMPLE parameters, each variable in its share, which is all of them in the page's usual
models, computed on the host by NumPy), and per Dense layer (kernel and bias together) the
update-to-weight ratio ‖Δθ‖/‖θ‖, θ before the update. The bias-correction factor is a function
of the step alone and is computed outside the graph (adam.bias_correction).

Variables come with the run (replica) as their last axis, K runs at once (lrviz.stacked); a run
alone is K = 1. At each step the graph only writes the weights and the gradients, flat, as one
row of a TensorArray (of a variable over LIMIT weights, an even sample and the gradient's
norm); the measures are computed once per graph call, for all its steps at once. A small
model's step costs op dispatch more than arithmetic: this adds a few ops to each step, not the
forty that measuring there would; a big one's costs memory traffic, which the sample bounds
(docs/benchmarks.md).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import tensorflow as tf

from .store import INSIDE_COLUMNS, INSIDE_LIMIT, MAX_LAYERS

QUANTILES = (0.5, 0.9)
SAMPLE = 2048  # parameters the quantiles are taken over at most: selecting in millions at every
# step would cost more than the step
LIMIT = INSIDE_LIMIT  # a variable's weights recorded at most (per run): a bigger one keeps an
# even sample of them, so that a big layer's step costs little more to record than a small one's
WIDTH = len(INSIDE_COLUMNS) - 1  # what the graph records: every column but the bias correction
MEMORY = 256 * 2**20  # bytes a graph call's record may take, with the copies its measures make


def row_floats(sizes: list[int]) -> int:
    """Floats a step records at most for one run whose variables have these sizes: the weights
    kept (all, or at most LIMIT of them), and the gradient whole or, where weights are kept
    strided, its norm."""
    return sum(min(m, LIMIT) + (m if m <= LIMIT else 1) for m in sizes)


def chunk_cap(floats: int) -> int:
    """The most steps a graph call may record when each step records this many floats (every
    run's, row_floats): measuring copies them about 4 times."""
    return max(1, MEMORY // (4 * 4 * max(floats, 1)) - 1)


class Inside:
    """What to measure for a model whose Dense layers are `layers`: per layer, its variables,
    each with K as its last axis (or none, for a run alone: k=1).

    In the train step's loop, a state carried from step to step: `begin()` before the loop,
    `state = step(i, state, grads)` after update i, `measures(state)` after the loop: [steps of
    the call, K, WIDTH]. (A TensorArray: writing a row of a variable that the graph reads
    afterwards copies the whole variable at every step.)

    A variable of more than LIMIT weights records every s-th of them (at most LIMIT) and its
    gradient's norm: its layer's ‖Δθ‖/‖θ‖ is then estimated from them, each standing for s
    weights (within 1–2 % of the exact ratio where measured, tests/test_inside.py); its largest
    step is the largest among them; they stand for it in the quantiles' sample. The gradient
    norm stays exact."""

    def __init__(self, layers: list[list], k: int):
        if len(layers) > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} layers are recorded, not {len(layers)}")
        self.k, self.layers = k, len(layers)
        self.variables = [v for vs in layers for v in vs]
        self.sizes = sizes = [int(np.prod(v.shape)) // k for v in self.variables]
        # A big variable keeps every s-th weight (flat, row-major): a strided slice, three times
        # cheaper a step than a gather. s shares no factor with the rows' length, so that the kept
        # weights reach every unit of the layer.
        self.strides = [None if m <= LIMIT else _stride(m, int(v.shape[-2 if k > 1 else -1]))
                        for v, m in zip(self.variables, sizes)]
        kept = [m if s is None else -(-m // s) for m, s in zip(sizes, self.strides)]
        self.n = sum(kept)  # weights a row holds, then gradient entries: a strided variable's is its norm
        self.g = sum(m if s is None else 1 for m, s in zip(sizes, self.strides))
        # Each kept weight's layer, weighted by how many weights it stands for: a matmul sums layers.
        layer_of = np.repeat(np.repeat(np.arange(self.layers), [len(vs) for vs in layers]), kept)
        weigh = np.zeros((self.n, self.layers), np.float32)
        weigh[np.arange(self.n), layer_of] = np.repeat([m / c for m, c in zip(sizes, kept)], kept)
        self.weigh = tf.constant(weigh)
        index = _quantile_index(sizes, kept, np.random.default_rng(0))  # the same alone and side by side
        self.sample = self.n if index is None else len(index)
        self.index = None if index is None else tf.constant(index)

    def begin(self):
        """The loop's state before its first step: a TensorArray of flat [weights, gradients]
        rows, the first holding the weights before the step (and zeros for gradients). One loop
        variable: each one adds control-flow ops to every iteration."""
        trail = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[(self.n + self.g) * self.k])
        return trail.write(0, _row([v.value for v in self.variables], None, self.strides, self.k))

    def step(self, i, state, grads: list):
        """After update i of the call: its weights and its gradients (in self.variables' order)."""
        return state.write(i + 1, _row([v.value for v in self.variables], grads, self.strides, self.k))

    def measures(self, state) -> tuple[tf.Tensor, tf.Tensor]:
        """([steps, K, WIDTH]: each step's grad_norm, its largest step and per layer its ratio,
        NaN for the quantiles and for layers the model does not have; [steps, K, sample]: the
        steps |Δθ| the quantiles are taken over, on the host (with_quantiles)."""
        return _measures(state.stack(), self.weigh, self.index, self.n, self.g, self.k)


def _quantile_index(sizes, kept, rng):
    """Where in a row's weights the quantiles' sample is, or None for all of them (SAMPLE or
    fewer parameters): each variable's share of the parameters, drawn from its kept weights."""
    total = sum(sizes)
    if total <= SAMPLE:
        return None
    starts = np.cumsum([0, *kept[:-1]])
    return np.concatenate([start + np.sort(rng.choice(c, min(c, round(SAMPLE * m / total)), replace=False))
                           for start, m, c in zip(starts, sizes, kept)]).astype(np.int32)


def _stride(size: int, width: int) -> int:
    """The smallest stride that keeps at most LIMIT of `size` weights and shares no factor with
    `width`, the length of the variable's rows."""
    stride = -(-size // LIMIT)
    while math.gcd(stride, width) != 1:
        stride += 1
    return stride


@tf.function
def _row(weights, gradients, strides, k: int):
    """One step's row: the weights kept, then the gradients (zeros for none), whole or, where
    weights are strided, the norm. A function: its ops are traced once, not at every run."""
    if gradients is None:
        gradients = [tf.zeros_like(w) for w in weights]
    kept = [w if s is None else tf.reshape(w, [-1, k])[::s] for w, s in zip(weights, strides)]
    norms = [g if s is None else tf.math.reduce_euclidean_norm(tf.reshape(g, [-1, k]), axis=0)
             for g, s in zip(gradients, strides)]
    return tf.concat([tf.reshape(t, [-1]) for t in kept + norms], axis=0)  # copies at memcpy speed


# These two are traced once per worker and model shape, not once per run: every run traces its train step anew, and
# tracing these ops cost more than running them in a 1,000-step run (docs/benchmarks.md).
@tf.function
def _measures(stacked, weigh, index, n: int, g: int, k: int):
    rows = tf.reshape(stacked, [-1, n + g, k])  # K last, as each variable holds it
    weights = rows[:, :n]
    delta = weights[1:] - weights[:-1]  # [steps, kept, K]
    # Each layer's sums of squares, of the update and of the weights before it: a matmul each ([steps, K, layers]).
    sums = [tf.matmul(tf.transpose(tf.square(x), [0, 2, 1]), weigh) for x in (delta, weights[:-1])]
    ratios = tf.unstack(tf.sqrt(sums[0] / sums[1]), axis=2)  # each [steps, K]
    largest = tf.maximum(tf.reduce_max(delta, axis=1), -tf.reduce_min(delta, axis=1))
    picked = delta if index is None else tf.gather(delta, index, axis=1)
    nan = tf.fill(tf.shape(largest), np.float32(np.nan))
    grad_norm = tf.math.reduce_euclidean_norm(rows[1:, n:], axis=1)  # a sampled variable's entry is its norm
    columns = [grad_norm, *[nan] * len(QUANTILES), largest, *ratios, *[nan] * (MAX_LAYERS - len(ratios))]
    return tf.stack(columns, axis=2), tf.transpose(tf.abs(picked), [0, 2, 1])


def with_quantiles(measured: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """The graph's measures ([steps, K, WIDTH]) with the quantile columns filled from the sample
    ([steps, K, sample], NaN-padded where a block of replicas has fewer parameters), as
    np.quantile's default (linear) method gives them."""
    out = np.array(measured, dtype=np.float64)
    if not out.size or not sample.shape[-1]:
        return out  # nothing was recorded
    if np.isnan(sample).any():  # padding; or a step whose update was not finite, which its run does not keep
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row: its quantiles are NaN
            q = np.nanquantile(np.asarray(sample, np.float64), QUANTILES, axis=-1)
    else:  # np.quantile's own arithmetic on a float32 sort (SIMD): faster here than its partitions
        pos = (sample.shape[-1] - 1) * np.asarray(QUANTILES)
        lo, hi = np.floor(pos).astype(int), np.ceil(pos).astype(int)
        ordered = np.sort(sample, axis=-1)
        low, high = ordered[..., lo].astype(np.float64), ordered[..., hi].astype(np.float64)
        q = np.moveaxis(low + (high - low) * (pos - lo), -1, 0)
    out[..., 1:1 + len(QUANTILES)] = np.moveaxis(q, 0, -1)
    return out
