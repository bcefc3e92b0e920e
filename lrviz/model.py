"""The Keras MLP and its Adam from a config. Imports Keras: only workers and tests load this."""
from __future__ import annotations

import keras

from . import config as cfgmod
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


def network(cfg: dict, data: Data, cls=keras.Sequential) -> keras.Sequential:
    """The MLP with its initial weights: same config and seed, same weights."""
    keras.utils.set_random_seed(cfg["training"]["seed"])
    head = HEADS[data.task][0]
    units = data.n_classes if data.task == "multiclass" else 1
    activation = cfg["model"]["activation"]
    layers = [keras.Input((data.X_train.shape[1],))]
    layers += [keras.layers.Dense(n, activation=activation) for n in cfg["model"]["hidden_units"]]
    layers.append(keras.layers.Dense(units, activation=head))
    return cls(layers)


def optimizer(cfg: dict) -> tuple[keras.optimizers.Adam, list]:
    """Adam with the schedule's learning_rate, and the callbacks that apply the schedule."""
    spe = cfgmod.steps_per_epoch(cfg)
    learning_rate, callbacks = keras_learning_rate(cfg["schedule"], spe, spe * cfg["training"]["epochs"])
    return keras.optimizers.Adam(learning_rate=learning_rate, **cfg["optimizer"]), callbacks


def build(cfg: dict, data: Data, cls=keras.Sequential, **compile_kw) -> tuple[keras.Model, list]:
    """(compiled model, the schedule's callbacks). Same config and seed, same weights.

    cls lets training use a Sequential subclass with its own train_step.
    """
    _, loss, metric, _ = HEADS[data.task]
    model = network(cfg, data, cls)
    adam, callbacks = optimizer(cfg)
    model.compile(optimizer=adam, loss=loss, metrics=[metric], **compile_kw)
    return model, callbacks
