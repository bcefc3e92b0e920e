"""Inside the optimizer, at every step, computed in the training graph beside the update.

Per run: the gradient's global norm (before any clipping), the median, 90th percentile and
maximum of the per-parameter step |Δθ| (the change the update made; the quantiles over at most
SAMPLE parameters, each variable in its share, which is all of them in the page's usual
models, computed on the host by NumPy), and per Dense layer (kernel and bias together) the
update-to-weight ratio ‖Δθ‖/‖θ‖, θ before the update. The bias-correction factor is a function
of the step alone and is computed outside the graph (adam.bias_correction).

Variables come with the run (replica) as their last axis, K runs at once (lrviz.stacked); a run
alone is K = 1. At each step the graph writes the weights and the gradients, flat, as one row
of a TensorArray (a variable over LIMIT weights: four numbers measured in the step and an even
sample of its steps, its share of the quantiles'); the measures are computed once per graph
call, for all its steps at once.
A small model's step costs op dispatch more than arithmetic: this adds a few ops to each step,
not the forty that measuring there would; a big one's costs memory traffic, which measuring its
big variables in the step bounds to one copy and a few passes (docs/benchmarks.md).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .store import INSIDE_COLUMNS, MAX_LAYERS

QUANTILES = (0.5, 0.9)
SAMPLE = 2048  # parameters the quantiles are taken over at most: selecting in millions at every
# step would cost more than the step
LIMIT = 1024  # a variable of more weights is "big": measured in the step, its row holding only its
# share of the quantiles' sample (as cheap as copying 64-64-64's 4,096-weight kernels whole into
# every row, in a fifth of the row)
WIDTH = len(INSIDE_COLUMNS) - 1  # what the graph records: every column but the bias correction
MEMORY = 256 * 2**20  # bytes a graph call's record may take, with the copies its measures make


def row_floats(sizes: list[int]) -> int:
    """Floats a step records at most for one run whose variables have these sizes: a small
    variable's weights and gradient, a big one's kept steps (at most four times its share of
    SAMPLE, so at most 4 × SAMPLE: _stride) and four numbers."""
    return sum(2 * m if m <= LIMIT else min(m, 4 * SAMPLE) + 4 for m in sizes)


def chunk_cap(floats: int) -> int:
    """The most steps a graph call may record when each step records this many floats (every
    run's, row_floats): measuring copies them about 4 times."""
    return max(1, MEMORY // (4 * 4 * max(floats, 1)) - 1)


class Inside:
    """What to measure for a model whose Dense layers are `layers`: per layer, its variables,
    each with K replicas on its last axis (lrviz.stacked, even for K = 1), or k=None for a model
    alone, whose variables have no such axis.

    In the train step's loop, a state carried from step to step: `begin()` before the loop;
    `marks = mark()` before update i and `state = step(i, state, grads, marks)` after it;
    `measures(state)` after the loop: [steps of the call, K, WIDTH]. (A TensorArray: writing a
    row of a variable that the graph reads afterwards copies the whole variable at every step.)

    A variable of more than LIMIT weights is "big": its row holds, rather than its weights and
    gradient, every s-th weight's step Δθ (its share of the quantiles' sample) and four
    exact numbers computed in the step: its gradient's norm, ‖Δθ‖, ‖θ‖ before the update and
    the largest |Δθ|. Copying a big variable at every step and measuring it once per call would
    cost its bytes many times over; this costs one copy and a few passes (docs/benchmarks.md)."""

    def __init__(self, layers: list[list], k: int | None = None):
        if len(layers) > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} layers are recorded, not {len(layers)}")
        self.k, self.alone, self.layers = k or 1, k is None, len(layers)
        self.variables = [v for vs in layers for v in vs]
        self.sizes = sizes = [int(np.prod(v.shape)) // self.k for v in self.variables]
        # A big variable keeps every s-th step (flat, row-major): a strided slice, cheaper than
        # a gather. s shares no factor with the rows' length where it can, so that the kept steps
        # reach every unit of the layer.
        counts = _shares(sizes)
        self.strides = [None if m <= LIMIT else _stride(m, c, int(v.shape[-1 if k is None else -2]))
                        for v, m, c in zip(self.variables, sizes, counts)]
        big = [s is not None for s in self.strides]
        kept = [m if s is None else -(-m // s) for m, s in zip(sizes, self.strides)]
        # A row: the small variables' weights (n), their gradients (n), the big ones' kept steps,
        # their four numbers each. The measures' passes touch only the small variables' entries;
        # a big one's kept steps only lend the quantiles their share.
        self.n = sum(m for m, b in zip(kept, big) if not b)
        self.kept = sum(m for m, b in zip(kept, big) if b)
        self.big = sum(big)
        layer_of = np.repeat(np.arange(self.layers), [len(vs) for vs in layers])
        one_hot = np.eye(self.layers, dtype=np.float32)
        # Matmuls sum each layer: its small variables' entries, its big variables' numbers.
        self.small = tf.constant(one_hot[np.repeat(layer_of[~np.asarray(big)], [m for m, b in zip(kept, big) if not b])]
                                 .reshape(-1, self.layers))
        self.layer_of_big = tf.constant(one_hot[layer_of[big]].reshape(-1, self.layers))
        # The quantiles' sample, the same alone and side by side: where in the variables' kept
        # entries (index, in the variables' order), then where those are in a row's small weights
        # and in its big variables' kept steps.
        self.index = _quantile_index(counts, kept, np.random.default_rng(0), sum(sizes) <= SAMPLE)
        self.sample = sum(kept) if self.index is None else len(self.index)
        self.picks = (None, None)
        if self.index is not None:
            ends, places = [0, self.n], []  # the two parts laid end to end
            for m, b in zip(kept, big):
                places.append(ends[b] + np.arange(m))
                ends[b] += m
            at = np.concatenate(places)[self.index].astype(np.int32)
            self.picks = (tf.constant(at[at < self.n]), tf.constant(at[at >= self.n] - self.n))

    def begin(self):
        """The loop's state before its first step: a TensorArray of rows ([width], or [width, K]
        side by side), the first holding the weights before the step (zeros for the rest). One
        loop variable: each one adds control-flow ops to every iteration."""
        width = 2 * self.n + self.kept + 4 * self.big
        trail = tf.TensorArray(tf.float32, size=0, dynamic_size=True,
                               element_shape=[width] if self.alone else [width, self.k])
        return trail.write(0, _row([v.value for v in self.variables], None, None, self.strides, self.k, self.alone))

    def mark(self) -> list:
        """Before an update: the big variables' values, read now (the update then copies them)."""
        return [None if s is None else tf.convert_to_tensor(v.value) for v, s in zip(self.variables, self.strides)]

    def step(self, i, state, grads: list, marks: list):
        """After update i of the call: its weights, its gradients (in self.variables' order) and
        what mark() gave before it."""
        return state.write(i + 1, _row([v.value for v in self.variables], grads, marks, self.strides, self.k,
                                        self.alone))

    def measures(self, state) -> tuple[tf.Tensor, tf.Tensor]:
        """([steps, K, WIDTH]: each step's grad_norm, its largest step and per layer its ratio,
        NaN for the quantiles and for layers the model does not have; [steps, K, sample]: the
        steps |Δθ| the quantiles are taken over, on the host (with_quantiles)."""
        return _measures(state.stack(), self.small, self.layer_of_big, *self.picks, self.n, self.kept, self.big,
                         self.k)


def _shares(sizes: list[int]) -> np.ndarray:
    """How many of each variable's parameters the quantiles are taken over: all of them in a
    model of SAMPLE or fewer, else SAMPLE in all, each variable in its share."""
    total = sum(sizes)
    if total <= SAMPLE:
        return np.asarray(sizes)
    share = SAMPLE * np.asarray(sizes) / total
    counts = np.floor(share).astype(int)  # then one more for the largest remainders: SAMPLE in all
    counts[np.argsort(counts - share)[:SAMPLE - counts.sum()]] += 1
    return counts


def _stride(size: int, count: int, width: int) -> int:
    """The largest stride that keeps at least `count` of `size` weights (one at least), among
    those that share no factor with `width`, the length of the variable's rows, down to half of
    it (at most four times the count kept); else the largest (the kept weights then lie in a
    fraction of the units)."""
    most = max(1, size // max(count, 1))
    return next((s for s in range(most, max(most // 2, 1) - 1, -1) if math.gcd(s, width) == 1), most)


def _quantile_index(counts, kept, rng, everything: bool):
    """Where the quantiles' sample is among the variables' kept entries (in the variables'
    order; Inside maps it into a row), or None for all of them: each variable's count drawn
    from its kept entries."""
    if everything:
        return None
    starts = np.cumsum([0, *kept[:-1]])
    return np.concatenate([start + np.sort(rng.choice(c, min(c, count), replace=False))
                           for start, count, c in zip(starts, counts, kept)]).astype(np.int32)


@tf.function(autograph=False)
def _row(weights, gradients, marks, strides, k: int, alone: bool):
    """One step's row, in four blocks: the small variables' weights, their gradients, the big
    ones' kept steps, and each big one's gradient norm, ‖Δθ‖, ‖θ‖ before and largest |Δθ|
    (zeros without gradients, before the first step). Flat ([entries], or [entries, K] side by
    side), reshaping only what is not: each op costs about 1 µs a step, a reshape as much as a
    norm (docs/benchmarks.md).
    A function: its ops are traced once, not at every run."""
    shape = [-1] if alone else [-1, k]
    flat = lambda t: t if t.shape.rank == len(shape) else tf.reshape(t, shape)  # noqa: E731
    over = lambda t: None if alone else list(range(len(t.shape) - 1))  # noqa: E731  each replica (K last)
    small, grads, steps, numbers = [], [], [], []
    for i, (w, s) in enumerate(zip(weights, strides)):
        if s is None:
            small.append(w)
            grads.append(tf.zeros_like(w) if gradients is None else gradients[i])
        elif gradients is None:
            steps.append(tf.zeros_like(tf.reshape(w, shape)[::s]))
            numbers.append(tf.zeros([4] if alone else [4, k]))
        else:
            delta = w - marks[i]
            steps.append(tf.reshape(delta, shape)[::s])
            numbers.append(tf.stack([tf.math.reduce_euclidean_norm(gradients[i], axis=over(w)),
                                     tf.math.reduce_euclidean_norm(delta, axis=over(w)),
                                     tf.math.reduce_euclidean_norm(marks[i], axis=over(w)),
                                     tf.reduce_max(tf.abs(delta), axis=over(w))]))
    return tf.concat([flat(t) for t in small + grads + steps + numbers], axis=0)  # copies at memcpy speed


# These two are traced once per worker and model shape, not once per run: a run of a new config traces its train step
# anew, and tracing these ops cost more than running them in a 1,000-step run (docs/benchmarks.md).
@tf.function(autograph=False)
def _measures(stacked, small, layer_of_big, pick_small, pick_big, n: int, kept: int, big: int, k: int):
    rows = tf.reshape(stacked, [-1, 2 * n + kept + 4 * big, k])  # K last, as each variable holds it
    weights = rows[:, :n]
    delta = weights[1:] - weights[:-1]  # [steps, n, K]
    steps = rows[1:, 2 * n:2 * n + kept]  # the big variables' kept steps
    numbers = tf.reshape(rows[1:, 2 * n + kept:], [tf.shape(rows)[0] - 1, big, 4, k])  # [steps, big, 4, K]
    # Each layer's sums of squares, of the update and of the weights before it: a matmul for the
    # small variables, one for the big ones' norms ([steps, K, layers]).
    sums = [tf.matmul(tf.transpose(tf.square(x), [0, 2, 1]), small) +
            tf.matmul(tf.transpose(tf.square(numbers[:, :, j]), [0, 2, 1]), layer_of_big)
            for x, j in ((delta, 1), (weights[:-1], 2))]
    ratios = tf.unstack(tf.sqrt(sums[0] / sums[1]), axis=2)  # each [steps, K]
    largest = tf.maximum(tf.reduce_max(tf.abs(delta), axis=1), tf.reduce_max(numbers[:, :, 3], axis=1))
    grad_norm = tf.sqrt(tf.reduce_sum(tf.square(rows[1:, n:2 * n]), axis=1) +
                        tf.reduce_sum(tf.square(numbers[:, :, 0]), axis=1))
    nan = tf.fill(tf.shape(largest), np.float32(np.nan))
    columns = [grad_norm, *[nan] * len(QUANTILES), largest, *ratios, *[nan] * (MAX_LAYERS - len(ratios))]
    if pick_small is not None:
        delta, steps = tf.gather(delta, pick_small, axis=1), tf.gather(steps, pick_big, axis=1)
    sample = tf.abs(tf.concat([delta, steps], axis=1))
    return tf.stack(columns, axis=2), tf.transpose(sample, [0, 2, 1])


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
