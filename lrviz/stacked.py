"""Runs that differ only in their seed, trained side by side as one model.

Layer l of replica k is slice k of one kernel [K, in, out] and one bias [K, out]; each replica
gathers its own batch rows (its seed's order) and starts from its own initial weights (each
solo model is built after its seed is set, as a run alone builds it, and copied in). The loss
is the sum of the replicas' losses, so each slice's gradient is its own run's gradient, and
Keras's Adam works element by element, so one Adam over the stacked variables is K real Adams.
Replicas may differ in their per-step schedule too (a sweep over the rate): Adam then runs at
rate 1 and each replica's slice moves by its own rate times that step, which is Adam's update
at that rate (it is linear in the rate, weight decay included).
What differs from K runs alone is the last bits of a batched matmul: a replica's final
val_loss equals its run alone within 1e-4 (tests/test_stacked.py).

Which runs stack is executor.stack_key's to say; the pool hands a worker such runs together.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from . import data as datamod
from . import model as modelmod
from .config import batches
from .schedules import keras_learning_rate
from .train import Ledger, Outcome, Watch, chunk_size

class Stack(keras.Model):
    """K MLPs in one model: x [K, batch, features] -> [K, batch, outputs]."""

    def __init__(self, solos: list[keras.Sequential], activation: str, head: str, schedules: list | None = None):
        """schedules: each replica's own LearningRateSchedule (the optimizer then runs at rate 1);
        None: the optimizer's own rate, the same for all."""
        super().__init__()
        self.schedules = schedules
        dense = [[layer for layer in m.layers] for m in solos]
        self.kernels = [self._stacked(f"kernel_{i}", [d[i].kernel for d in dense]) for i in range(len(dense[0]))]
        self.biases = [self._stacked(f"bias_{i}", [d[i].bias for d in dense]) for i in range(len(dense[0]))]
        self.act, self.head = keras.activations.get(activation), keras.activations.get(head)

    def _stacked(self, name, variables):
        value = np.stack([keras.ops.convert_to_numpy(v) for v in variables])
        return self.add_weight(shape=value.shape, initializer=keras.initializers.Constant(value), name=name)

    def call(self, x):
        last = len(self.kernels) - 1
        for i, (k, b) in enumerate(zip(self.kernels, self.biases)):
            x = tf.einsum("kbi,kio->kbo", x, k) + b[:, None, :]
            x = self.head(x) if i == last else self.act(x)
        return x

    def attach(self, data: datamod.Data, batch_size: int, seeds: list[int], chunk: int, task: str) -> None:
        self.feed = _Feed(data, batch_size, seeds, chunk)
        self.task = task
        self.optimizer.build(self.trainable_variables)

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

    def train_step(self, _):
        f, opt = self.feed, self.optimizer
        pos = tf.cast(opt.iterations, tf.int32) % f.steps_per_epoch
        order = f.order.read_value()
        n = tf.minimum(f.chunk, f.steps_per_epoch - pos)

        def body(i):
            rows = order[:, (pos + i) * f.batch_size:(pos + i + 1) * f.batch_size]
            x, y = tf.gather(f.X, rows), tf.gather(f.y, rows)
            if self.schedules is None:
                lr = tf.fill([len(f.seeds)], tf.cast(opt.learning_rate, tf.float32))
            else:
                lr = tf.stack([tf.cast(s(opt.iterations), tf.float32) for s in self.schedules])
            with tf.GradientTape() as tape:
                pred = self(x, training=True)
                losses = self.losses_of(y, pred)
                total = tf.reduce_sum(losses)
            grads = tape.gradient(total, self.trainable_variables)
            if self.schedules is None:
                opt.apply(grads, self.trainable_variables)
            else:  # Adam's step at rate 1, then each slice's share of it at its own rate
                before = [tf.identity(v) for v in self.trainable_variables]
                opt.apply(grads, self.trainable_variables)
                for v, b in zip(self.trainable_variables, before):
                    rate = tf.reshape(tf.cast(lr, v.dtype), [-1] + [1] * (len(v.shape) - 1))
                    v.assign(b + (v - b) * rate)
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

    @tf.function
    def validate(self):
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
        self.rows, self.batch_size, self.chunk, self.seeds = len(data.X_train), batch_size, chunk, seeds
        self.steps_per_epoch = batches(self.rows, batch_size)
        self.order = tf.Variable(tf.zeros([k, self.rows], tf.int32), trainable=False)
        self.record = tf.Variable(tf.zeros([chunk, 2 * k]), trainable=False)  # each replica's rate, then loss
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
    keras.backend.clear_session(free_memory=False)  # as train.run
    first = cfgs[0]
    data = datamod.load(first["data"])
    if on_start:
        on_start(modelmod.metric_name(data.task))
    solos = [modelmod.network(c, data) for c in cfgs]  # each after its own seed: a run's own weights
    batch = first["training"]["batch_size"]
    spe = batches(len(data.X_train), batch)
    adam, callbacks = modelmod.optimizer(first)
    schedules = None
    if any(c["schedule"] != first["schedule"] for c in cfgs):  # per-step schedules of their own (stack_key)
        schedules = [keras_learning_rate(c["schedule"], spe, spe * c["training"]["epochs"])[0] for c in cfgs]
        adam = keras.optimizers.Adam(learning_rate=1.0, **first["optimizer"])
    model = Stack(solos, first["model"]["activation"], modelmod.HEADS[data.task][0], schedules)
    model.compile(optimizer=adam, jit_compile=False)
    chunk = chunk_size(solos[0], batch * len(cfgs), spe)
    model.attach(data, batch, [c["training"]["seed"] for c in cfgs], chunk, data.task)
    ledgers = [Ledger(sink, stop) for sink, stop in zip(sinks, stops)]
    ticks = tf.data.Dataset.from_tensors(0).repeat()
    try:
        model.fit(ticks, epochs=first["training"]["epochs"], steps_per_epoch=math.ceil(spe / chunk),
                  callbacks=[_Orders(), Watch(ledgers, modelmod.metric_name(data.task), len(data.X_val) > 0),
                             *callbacks], shuffle=False, verbose=0)
    except Exception as exc:  # noqa: BLE001 - a callback's own error fails the replicas still training
        return [Outcome("failed", f"{exc.__class__.__name__}: {exc}", r.steps, r.epochs) if r.live else r.outcome()
                for r in ledgers]
    return [r.outcome() for r in ledgers]
