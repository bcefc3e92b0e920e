"""ReduceLROnPlateau: the rate reacts to a monitored metric, so no curve exists before training.
`replay` applies Keras's rule to a given series of that metric."""
from __future__ import annotations

import numpy as np

from ..params import ConfigError, Param
from .base import METRIC, Family, Pitfall
from .to_keras import Keras, Script, call

MONITORS = ("val_loss", "loss", "val_accuracy", "accuracy", "val_mae", "mae")
NOT_SETTABLE = ("allowed: a number. ReduceLROnPlateau cannot lower a LearningRateSchedule: Keras raises "
                "TypeError ('This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not settable') when "
                "the first reduction fires, mid-training")


class PlainRate(Param):
    """A learning rate that must be a number, with Keras's reason when it is a schedule."""

    def check(self, value, where):
        if isinstance(value, dict):
            raise ConfigError(where, value, NOT_SETTABLE)
        return super().check(value, where)


def _flat(p, t):
    return p["initial_learning_rate"] + 0.0 * t.step


def _maximize(p) -> bool:
    if p["mode"] != "auto":
        return p["mode"] == "max"
    # Keras 3 asks the compiled metric for its direction: accuracy rises, loss and mae fall.
    return p["monitor"].removeprefix("val_") == "accuracy"


def _check_run(p, data, task, where):
    """Keras only warns when the monitored metric never appears, and then never reduces.
    task: the data's ('classification' or 'auto' for a CSV not read yet)."""
    monitor = p["monitor"]
    if monitor.startswith("val_") and data["validation_split"] == 0:
        raise ConfigError(f"{where}.monitor", monitor,
                          "a val_ metric needs data.validation_split > 0; monitor 'loss' instead")
    regression = task == "regression"
    classification = task in ("binary", "multiclass", "classification")
    metric = monitor.removeprefix("val_")
    if (metric == "accuracy" and regression) or (metric == "mae" and classification):
        task = "regression" if regression else "classification"
        raise ConfigError(f"{where}.monitor", monitor,
                          f"this {task} run records {'mae' if regression else 'accuracy'}, not {metric}")


PITFALL = Pitfall(
    "ReduceLROnPlateau needs a plain-number learning rate",
    "`ReduceLROnPlateau` sets `optimizer.learning_rate` when it fires. An Adam built with a "
    "`LearningRateSchedule` object refuses that: **TypeError: This optimizer was created with a "
    "`LearningRateSchedule` object as its `learning_rate` constructor argument, hence its learning "
    "rate is not settable** — and only when the first reduction fires, mid-training. lrviz gives "
    "Adam a float here. The preview assumes val_loss never improves; the real curve depends on "
    "training.")


def replay(p: dict, metric_values) -> np.ndarray:
    """The rate of each epoch that Keras's ReduceLROnPlateau gives for these metric values
    (value e is logged at the end of epoch e; the result's e is the rate during epoch e)."""
    f32 = np.float32
    maximize, delta, factor, min_lr = _maximize(p), p["min_delta"], p["factor"], p["min_lr"]
    # The optimizer holds its rate in a float32 variable.
    lr = float(f32(p["initial_learning_rate"]))
    best, wait, cooldown, out = None, 0, 0, []
    for current in metric_values:
        out.append(lr)
        if current is None:  # Keras only warns when the metric is missing
            continue
        if cooldown > 0:  # Keras counts down before testing: cooldown c skips c − 1 epochs
            cooldown -= 1
            wait = 0
        # keras.ops.less/greater compare the two Python floats as float32 tensors.
        if maximize:
            better = best is None or f32(current - delta) > f32(best)
        else:
            better = best is None or f32(current + delta) < f32(best)
        if better:
            best, wait = current, 0
        elif cooldown == 0:
            wait += 1
            if wait >= p["patience"] and lr > f32(min_lr):
                lr = float(f32(max(lr * factor, min_lr)))
                cooldown, wait = p["cooldown"], 0
    return np.asarray(out, dtype=np.float64)


def _keras(p, steps_per_epoch, total_steps):
    import keras

    callback = keras.callbacks.ReduceLROnPlateau(
        monitor=p["monitor"], factor=p["factor"], patience=p["patience"], mode=p["mode"],
        min_delta=p["min_delta"], cooldown=p["cooldown"], min_lr=p["min_lr"])
    return float(p["initial_learning_rate"]), [callback]


def _script(p, total, nested):
    args = {k: v for k, v in p.items() if k != "initial_learning_rate"}
    # Adam gets a plain float: ReduceLROnPlateau cannot set the rate of a schedule object.
    return Script((), repr(float(p["initial_learning_rate"])), (call("keras.callbacks.ReduceLROnPlateau", args),))


ORDER = 40  # where its families are listed: see schedules._collect

FAMILIES = (
    Family("reduce_lr_on_plateau", "ReduceLROnPlateau",
           (PlainRate("initial_learning_rate", 0.001, "float", "Adam's learning_rate until the first "
                      "reduction (a number, never a schedule).", low=0.0, high=10.0, low_open=True, log=True,
                      is_rate=True),
            Param("monitor", "val_loss", "choice", "Metric watched at the end of each epoch.",
                  choices=MONITORS),
            Param("factor", 0.1, "float", "new rate = rate · factor (Keras refuses factor >= 1).",
                  low=0.0, high=1.0, low_open=True, high_open=True),
            Param("patience", 10, "int", "Epochs without improvement before a reduction (Keras counts "
                  "the epoch that fails to improve, so 0 acts as 1).", low=0, high=10_000),
            Param("mode", "auto", "choice", "min: lower is better; max: higher is better; auto: from "
                  "the metric (accuracy: max, loss and mae: min).", choices=("auto", "min", "max")),
            Param("min_delta", 1e-4, "float", "Smallest change that counts as an improvement.", low=0.0,
                  high=1e6),
            Param("cooldown", 0, "int", "After a reduction, Keras 3 stops counting epochs without "
                  "improvement for cooldown − 1 epochs, so 1 is the same as 0.", low=0, high=10_000),
            Param("min_lr", 0.0, "float", "The rate never goes below this.", low=0.0, high=10.0, is_rate=True)),
           r"\eta \leftarrow \max(\eta \cdot \text{factor},\ \eta_{min})"
           r"\ \text{after patience epochs without improvement}",
           _flat, Keras(_keras, _script), driver=METRIC, check_run=_check_run,
           pitfalls=lambda p, epochs, spe: [PITFALL],
           note="The rate reacts to the monitored metric during training, so the preview is flat at "
                "initial_learning_rate; the training chart shows the rate Keras applied."),
)
