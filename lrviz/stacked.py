"""Runs that differ in their seed, and where the rate is set at every step in their schedule,
their Adam settings and their network, trained side by side as one model.

Replicas that share a network shape form a block. Layer l of replica k of a block is slice
[..., k] of one kernel [in, out, K] and one bias [out, K]; each replica gathers its own batch
rows (its seed's order) and starts from its own initial weights (model.initial_weights: drawn
after its seed is set, as a run alone draws them). The loss is the sum of the
replicas' losses, so each slice's gradient is its own run's gradient. A block's optimizer is
one Keras Adam, which works element by element: over stacked variables it is K real Adams.
Where the replicas' settings differ (a sweep over beta_1, epsilon, weight decay or the rate),
the Adam gets a vector with one value per replica in place of the number; the replica axis
is the variables' last, so Keras's own update broadcasts each value over its replica's slice.
What differs from K runs alone is the last bits of a batched matmul and, for betas that
differ, of moment updates computed in float64 and rounded once: a replica's final val_loss
equals its run alone within 1e-4 (tests/test_stacked.py checks 1e-5).

Which runs stack is executor.stack_key's to say; the pool hands a worker such runs together.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from . import data as datamod
from . import model as modelmod
from .config import batches
from .executor import block_key
from .schedules import keras_learning_rate
from .inside import WIDTH as INSIDE_WIDTH
from .inside import Inside, record_floats
from .train import Ledger, Outcome, Watch, chunk_size, correction_of, forget, view_grid


class Replicas(keras.optimizers.schedules.LearningRateSchedule):
    """Each replica's own schedule at the step, as a vector: one Adam, K rates."""

    def __init__(self, schedules: list):
        self.schedules = schedules

    def __call__(self, step):
        return tf.stack([tf.cast(s(step), tf.float32) for s in self.schedules])


def per_replica(values: list, dtype=tf.float32):
    """The value the replicas share, or a vector of theirs (None, for an optional setting such
    as weight decay, is 0: no decay)."""
    if all(v == values[0] for v in values):
        return values[0]
    return tf.constant([0.0 if v is None else v for v in values], dtype)


# Keras's Adam computes 1 - beta itself: from a Python float, in float64. From a float32 vector
# it would lose digits near 1 (1 - float32(0.99999) is off by 1.4e-3 of itself), so the betas
# are float64 vectors, which Keras's ops promote, then round once into the float32 moments.
WIDE = {"beta_1", "beta_2"}


def adam(cfgs: list[dict], spe: int) -> tuple[keras.optimizers.Adam, list]:
    """One Keras Adam for a block of replicas, and the callbacks of a schedule set by epoch
    (only one schedule then: executor.stack_key)."""
    first = cfgs[0]
    if all(c["schedule"] == first["schedule"] for c in cfgs):
        learning_rate, callbacks = keras_learning_rate(first["schedule"], spe, spe * first["training"]["epochs"])
    else:
        learning_rate, callbacks = Replicas([keras_learning_rate(c["schedule"], spe, spe * c["training"]["epochs"])[0]
                                             for c in cfgs]), []
    settings = {k: per_replica([c["optimizer"][k] for c in cfgs], tf.float64 if k in WIDE else tf.float32)
                for k in first["optimizer"]}
    return keras.optimizers.Adam(learning_rate=learning_rate, **settings), callbacks


@dataclass(eq=False)
class _Block:
    """Replicas start..end-1 of the stack: one network shape, one Adam."""
    start: int
    end: int
    kernels: list
    biases: list
    activation: object
    adam: keras.optimizers.Optimizer

    @property
    def variables(self):
        return [*self.kernels, *self.biases]


class Stack(keras.Model):
    """K MLPs in one model: x [K, batch, features] -> [K, batch, outputs]."""

    def __init__(self, blocks: list[tuple[list[list[tuple]], str, keras.optimizers.Optimizer]], head: str):
        """blocks: (each replica's model.initial_weights, hidden activation, Adam) of each block,
        in replica order."""
        super().__init__()
        self.head, self._blocks, start = keras.activations.get(head), [], 0
        for b, (weights, activation, opt) in enumerate(blocks):
            layers = range(len(weights[0]))
            kernels = [self._stacked(f"kernel_{b}_{i}", [w[i][0] for w in weights]) for i in layers]
            biases = [self._stacked(f"bias_{b}_{i}", [w[i][1] for w in weights]) for i in layers]
            self._blocks.append(_Block(start, start + len(weights), kernels, biases,
                                       keras.activations.get(activation), opt))
            start += len(weights)

    def _stacked(self, name, values):
        value = np.stack(values, axis=-1)
        return self.add_weight(shape=value.shape, initializer=keras.initializers.Constant(value), name=name)

    def call(self, x):
        out = []
        for blk in self._blocks:
            h, last = x[blk.start:blk.end], len(blk.kernels) - 1
            for i, (k, b) in enumerate(zip(blk.kernels, blk.biases)):
                h = tf.einsum("kbi,iok->kbo", h, k) + tf.transpose(b)[:, None, :]
                h = self.head(h) if i == last else blk.activation(h)
            out.append(h)
        return out[0] if len(out) == 1 else tf.concat(out, axis=0)

    def attach(self, data: datamod.Data, batch_size: int, seeds: list[int], chunk: int, task: str) -> None:
        self.feed = _Feed(data, batch_size, seeds, chunk)
        self.task = task
        for blk in self._blocks:  # variables may not be created inside the graph loop
            blk.adam.build(blk.variables)
        self.insides = [Inside([[k, b] for k, b in zip(blk.kernels, blk.biases)], blk.end - blk.start)
                        for blk in self._blocks]
        self.feed.sample = tf.Variable(tf.fill([chunk, len(seeds), max(i.sample for i in self.insides)], np.nan),
                                       trainable=False)  # each block's sample, NaN-padded to the widest

    def losses_of(self, y, pred):
        """Each replica's loss over its batch, as Keras's compiled loss computes one run's."""
        _, loss, _, _ = modelmod.HEADS[self.task]
        per_sample = keras.losses.get(loss)(_as_target(y, self.task), pred)  # [K, batch]
        return tf.reduce_sum(per_sample, axis=1) / tf.cast(tf.shape(per_sample)[1], per_sample.dtype)

    def metric_sums(self, y, pred):
        """Each replica's sum over its batch of the per-sample metric (accuracy or absolute error)."""
        if self.task == "multiclass":
            hit = tf.equal(tf.cast(y, tf.int64), tf.argmax(pred, axis=-1))
            return tf.reduce_sum(tf.cast(hit, tf.float32), axis=1)
        target = tf.cast(_as_target(y, self.task), pred.dtype)
        if self.task == "binary":
            per = tf.reduce_mean(tf.cast(tf.equal(target, tf.cast(pred > 0.5, pred.dtype)), tf.float32), axis=-1)
        else:
            per = tf.reduce_mean(tf.abs(target - pred), axis=-1)
        return tf.reduce_sum(per, axis=1)

    def rates(self):
        """Each replica's rate for the coming step (read before its Adam increments iterations)."""
        return tf.concat([tf.broadcast_to(tf.cast(blk.adam.learning_rate, tf.float32), [blk.end - blk.start])
                          for blk in self._blocks], axis=0)

    def train_step(self, _):
        f, opt = self.feed, self.optimizer  # the first block's Adam: every block's counts the same steps
        pos = tf.cast(opt.iterations, tf.int32) % f.steps_per_epoch
        order = f.order.read_value()
        n = tf.minimum(f.chunk, f.steps_per_epoch - pos)

        for inside in self.insides:
            inside.begin()

        def body(i):
            rows = order[:, (pos + i) * f.batch_size:(pos + i + 1) * f.batch_size]
            x, y = tf.gather(f.X, rows), tf.gather(f.y, rows)
            lr = self.rates()
            with tf.GradientTape() as tape:
                pred = self(x, training=True)
                losses = self.losses_of(y, pred)
                total = tf.reduce_sum(losses)
            grads = dict(zip((v.path for v in self.trainable_variables),
                             tape.gradient(total, self.trainable_variables)))
            for blk in self._blocks:
                blk.adam.apply([grads[v.path] for v in blk.variables], blk.variables)
            for blk, inside in zip(self._blocks, self.insides):
                inside.step(i, [grads[v.path] for v in inside.variables], f.inside, f.sample, first=blk.start)
            size = tf.cast(tf.shape(x)[1], tf.float32)
            f.loss_sum.assign_add(tf.cast(losses, tf.float32) * size)
            f.metric_sum.assign_add(self.metric_sums(y, pred))
            f.count.assign_add(size)
            f.record[i].assign(tf.concat([lr, tf.cast(losses, tf.float32)], axis=0))
            return (i + 1,)

        tf.while_loop(lambda i: i < n, body, (tf.constant(0),))
        return {"steps": n}  # Keras wants some output; the ledgers read the record

    def epoch_values(self, logs, metric: str):
        """(training loss, metric) of each replica over the epoch (train.Watch asks)."""
        return self.feed.take_epoch()

    def validate(self):
        """As train.Recorder.validate: no replica is schedule-free (executor.stack_key)."""
        return (*self._evaluate(), None, None)

    def view(self):
        """As train.Recorder.view: [replicas, grid points, outputs]."""
        f = self.feed
        if f.grid is None:
            return None
        return self._predict(f.grid_points).numpy()

    @tf.function(autograph=False)
    def _predict(self, points):
        k = tf.shape(self.feed.order)[0]
        return self(tf.broadcast_to(points, tf.concat([[k], tf.shape(points)], axis=0)), training=False)

    @tf.function(autograph=False)
    def _evaluate(self):
        """Each replica's (val_loss, val metric) over the whole validation set, as one run's."""
        f = self.feed
        k = tf.shape(f.order)[0]
        x = tf.broadcast_to(f.X_val, tf.concat([[k], tf.shape(f.X_val)], axis=0))
        y = tf.broadcast_to(f.y_val, tf.concat([[k], tf.shape(f.y_val)], axis=0))
        pred = self(x, training=False)
        rows = tf.cast(tf.shape(f.X_val)[0], tf.float32)
        loss = tf.cast(self.losses_of(y, pred), tf.float32)
        return loss * rows / rows, self.metric_sums(y, pred) / rows  # through a weighted mean, as Keras's evaluate


def _as_target(y, task):
    return y if task == "multiclass" else tf.expand_dims(y, -1)


class _Feed:
    def __init__(self, data, batch_size, seeds, chunk):
        k = len(seeds)
        self.X, self.y = tf.constant(data.X_train), tf.constant(data.y_train)
        self.X_val, self.y_val = tf.constant(data.X_val), tf.constant(data.y_val)
        self.grid, self.grid_points = view_grid(data)
        self.rows, self.batch_size, self.chunk, self.seeds = len(data.X_train), batch_size, chunk, seeds
        self.steps_per_epoch = batches(self.rows, batch_size)
        self.order = tf.Variable(tf.zeros([k, self.rows], tf.int32), trainable=False)
        self.record = tf.Variable(tf.zeros([chunk, 2 * k]), trainable=False)  # each replica's rate, then loss
        self.inside = tf.Variable(tf.fill([chunk, k, INSIDE_WIDTH], np.nan), trainable=False)  # lrviz.inside's
        self.loss_sum = tf.Variable(tf.zeros([k]), trainable=False)
        self.metric_sum = tf.Variable(tf.zeros([k]), trainable=False)
        self.count = tf.Variable(0.0, trainable=False)

    def take_epoch(self):
        """(training loss, metric) of each replica over the epoch, then zero for the next."""
        out = self.loss_sum.numpy() / self.count.numpy(), self.metric_sum.numpy() / self.count.numpy()
        for v in (self.loss_sum, self.metric_sum, self.count):
            v.assign(tf.zeros_like(v))
        return out


class _Orders(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        f = self.model.feed
        f.order.assign(np.stack([datamod.epoch_order(s, epoch, f.rows) for s in f.seeds]).astype(np.int32))


def run(cfgs: list[dict], sinks: list, stops: list, on_start=None) -> list[Outcome]:
    """Train runs with equal executor.stack_key side by side; each reports to its own sink and
    honours its own stop, as train.run."""
    order = sorted(range(len(cfgs)), key=lambda i: block_key(cfgs[i]))  # a block's replicas next to each other
    outcomes = dict(zip(order, _run([cfgs[i] for i in order], [sinks[i] for i in order], [stops[i] for i in order],
                                    on_start)))
    return [outcomes[i] for i in range(len(cfgs))]


def _run(cfgs, sinks, stops, on_start):
    forget()  # as train.run does for a new model
    first = cfgs[0]
    data = datamod.load(first["data"])
    if on_start:
        on_start(modelmod.metric_name(data.task))
    weights = [modelmod.initial_weights(c, data) for c in cfgs]  # each run's own, from its own seed
    batch = first["training"]["batch_size"]
    spe = batches(len(data.X_train), batch)
    blocks, callbacks = [], []
    for _, members in itertools.groupby(range(len(cfgs)), key=lambda i: block_key(cfgs[i])):
        members = list(members)
        opt, own = adam([cfgs[i] for i in members], spe)
        callbacks += own
        blocks.append(([weights[i] for i in members], cfgs[members[0]]["model"]["activation"], opt))
    model = Stack(blocks, modelmod.HEADS[data.task][0])
    model.compile(optimizer=blocks[0][2], jit_compile=False)
    sizes = [sum(k.size + b.size for k, b in w) for w in weights]
    chunk = chunk_size(max(sizes), batch * len(cfgs), spe, record_floats([max(sizes)], len(weights)))
    model.attach(data, batch, [c["training"]["seed"] for c in cfgs], chunk, data.task)
    ledgers = [Ledger(sink, stop, correction=correction_of(c)) for c, sink, stop in zip(cfgs, sinks, stops)]
    ticks = tf.data.Dataset.from_tensors(0).repeat()
    try:
        model.fit(ticks, epochs=first["training"]["epochs"], steps_per_epoch=math.ceil(spe / chunk),
                  callbacks=[_Orders(), Watch(ledgers, modelmod.metric_name(data.task), len(data.X_val) > 0),
                             *callbacks], shuffle=False, verbose=0)
    except Exception as exc:  # noqa: BLE001 - a callback's own error fails the replicas still training
        return [Outcome("failed", f"{exc.__class__.__name__}: {exc}", r.steps, r.epochs) if r.live else r.outcome()
                for r in ledgers]
    return [r.outcome() for r in ledgers]
