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


def build(cfg: dict, data: Data, cls=keras.Sequential, **compile_kw) -> tuple[keras.Model, list]:
    """(compiled model, the schedule's callbacks). Same config and seed, same weights.

    cls lets training use a Sequential subclass with its own train_step.
    """
    keras.utils.set_random_seed(cfg["training"]["seed"])
    head, loss, metric, _ = HEADS[data.task]
    units = data.n_classes if data.task == "multiclass" else 1
    activation = cfg["model"]["activation"]
    layers = [keras.Input((data.X_train.shape[1],))]
    layers += [keras.layers.Dense(n, activation=activation) for n in cfg["model"]["hidden_units"]]
    layers.append(keras.layers.Dense(units, activation=head))
    model = cls(layers)
    spe = cfgmod.steps_per_epoch(cfg)
    learning_rate, callbacks = keras_learning_rate(cfg["schedule"], spe, spe * cfg["training"]["epochs"])
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, **cfg["optimizer"])
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric], **compile_kw)
    return model, callbacks
