"""The Keras MLP and its Adam from a config. Imports Keras: only workers and tests load this."""
from __future__ import annotations

import random

import keras
import numpy as np

from . import config as cfgmod
from . import optimizers
from .data import Data
from .schedules import keras_learning_rate

HEADS = {  # task -> (output activation, loss, metric, the metric's class as Keras resolves it)
    "binary": ("sigmoid", "binary_crossentropy", "accuracy", keras.metrics.BinaryAccuracy),
    "multiclass": ("softmax", "sparse_categorical_crossentropy", "accuracy",
                   keras.metrics.SparseCategoricalAccuracy),
    "regression": ("linear", "mse", "mae", keras.metrics.MeanAbsoluteError),
}


def metric_name(task: str) -> str:
    return HEADS[task][2]


def metric_object(task: str) -> keras.metrics.Metric:
    """A fresh instance of the metric that compile(metrics=[name]) gives this task."""
    return HEADS[task][3]()


def _layers(cfg: dict, data: Data) -> list[keras.layers.Dense]:
    """The MLP's Dense layers, made after the run's seed is set: building them draws its weights."""
    _seed(cfg["training"]["seed"])
    units = data.n_classes if data.task == "multiclass" else 1
    activation = cfg["model"]["activation"]
    hidden = [keras.layers.Dense(n, activation=activation) for n in cfg["model"]["hidden_units"]]
    return hidden + [keras.layers.Dense(units, activation=HEADS[data.task][0])]


def _seed(seed: int) -> None:
    """Seed what Keras's initializers draw from, as keras.utils.set_random_seed (which the
    generated script calls) does, but for TensorFlow's own seed: nothing here draws from it, and
    setting it empties TensorFlow's cache of instantiated graphs, so that a kept model's next
    call (lrviz.train) would optimise its graph anew, 0.15 s of a 0.5 s run."""
    random.seed(seed)
    np.random.seed(seed)


def network(cfg: dict, data: Data, cls=keras.Sequential) -> keras.Sequential:
    """The MLP with its initial weights: same config and seed, same weights."""
    return cls([keras.Input((data.X_train.shape[1],)), *_layers(cfg, data)])


def initial_weights(cfg: dict, data: Data) -> list[tuple]:
    """(kernel, bias) of each layer as network() starts them, drawn by the layers' own
    initializers in the order building draws them, without a model (6 ms, not 30 ms: a stack
    of replicas needs one set per replica)."""
    weights, width = [], data.X_train.shape[1]
    for layer in _layers(cfg, data):
        weights.append((keras.ops.convert_to_numpy(layer.kernel_initializer((width, layer.units))),
                        keras.ops.convert_to_numpy(layer.bias_initializer((layer.units,)))))
        width = layer.units
    return weights


def optimizer(cfg: dict) -> tuple[keras.optimizers.Optimizer, list]:
    """The optimizer (Adam or ScheduleFreeAdamW) with the schedule's learning_rate, and the
    callbacks that apply the schedule."""
    spe = cfgmod.steps_per_epoch(cfg)
    learning_rate, callbacks = keras_learning_rate(cfg["schedule"], spe, spe * cfg["training"]["epochs"])
    cls = getattr(keras.optimizers, optimizers.class_name(cfg["optimizer"]))
    return cls(learning_rate=learning_rate, **optimizers.settings(cfg["optimizer"])), callbacks


def build(cfg: dict, data: Data, cls=keras.Sequential, **compile_kw) -> tuple[keras.Model, list]:
    """(compiled model, the schedule's callbacks). Same config and seed, same weights.

    cls lets training use a Sequential subclass with its own train_step.
    """
    _, loss, metric, _ = HEADS[data.task]
    model = network(cfg, data, cls)
    adam, callbacks = optimizer(cfg)
    model.compile(optimizer=adam, loss=loss, metrics=[metric], **compile_kw)
    return model, callbacks
