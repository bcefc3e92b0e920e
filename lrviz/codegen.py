"""keras_script(config): a standalone Python script that reproduces a run with plain Keras.

The script imports only keras, numpy and scikit-learn (plus the standard library). It trains
the run lrviz trains: the same data (the dataset's loader, data.labelled and data.split, written
once for both), initial weights, batch order (data.epoch_order), loss, metric and compile
settings. Its schedule is ordinary Keras code: Keras's own classes from their config; every other
per-step family as lrviz trains it, CurveSchedule over the family's own curve function (the
catalogue's source, carried with Timeline and its helpers), a warmup as the Warmup join; epoch
formulas as `def` functions for LearningRateScheduler. It writes its per-epoch history and the
learning rate the optimizer applied at every step to CSV.
"""
from __future__ import annotations

import inspect
import pprint

from . import optimizers
from .data import DATASETS, epoch_order, labelled, split
from .schedules import FAMILIES, Timeline, family_id, params_of
from .schedules.to_keras import Script, source


def literal(value) -> str:
    return pprint.pformat(value, width=100, sort_dicts=False)


def _schedule_code(sched: dict, total: str) -> Script:
    """The family's own script (schedules.to_keras), nested schedules written the same way."""
    return FAMILIES[family_id(sched)].keras.script(params_of(sched), total, _schedule_code)


def keras_script(config: dict) -> str:
    """The script for a validated config."""
    defs, lr_expr, callbacks = _schedule_code(config["schedule"], "total_steps")
    if any("CurveSchedule(" in d or "Warmup(" in d for d in defs):  # they evaluate on lrviz's Timeline
        defs = (source(Timeline), *defs)
    unique = list(dict.fromkeys(d.strip() for d in defs))  # a warmup around a formula needs each class once
    label = FAMILIES[family_id(config["schedule"])].label
    data = _data_code(config["data"])  # imports csv where its loader reads a file
    imports = "import csv\n" if "csv." in data else ""
    if "class Timeline" in "".join(defs):
        imports += "from dataclasses import dataclass  # lrviz's Timeline\nfrom typing import Any\n"
    head = HEADER.format(label=label, config=literal(config), imports=imports)
    schedule = (f"\n\n# ---- the schedule: {label} ----\n" + "".join(d + "\n\n\n" for d in unique) +
                "def make_schedule(steps_per_epoch, total_steps):\n"
                '    """Adam\'s learning_rate and the callbacks that apply the schedule."""\n'
                f"    return {lr_expr}, [{', '.join(callbacks)}]\n")
    order = ORDER_CODE.format(epoch_order=inspect.getsource(epoch_order))
    make_optimizer, average, evaluate_at = _optimizer_code(config["optimizer"])
    main = MAIN_CODE.replace("{optimizer}", make_optimizer).replace("{evaluate_at}", evaluate_at)
    return head + data + order + MODEL_CODE + schedule + average + main


AVERAGE_CODE = '''

# ---- schedule-free AdamW: evaluated at its average x ----
{averaged_point}

class EvaluateAtAverage(keras.callbacks.Callback):
    """Validation (fit's val_loss and val_ metric) at the average x, where schedule-free AdamW is
    meant to be evaluated; training goes on from the weights y it left."""

    def on_test_begin(self, logs=None):
        variables = self.model.trainable_variables
        self.y = [ops.convert_to_numpy(v) for v in variables]
        for v, x in zip(variables, averaged_point(self.model.optimizer, variables)):
            v.assign(x)

    def on_test_end(self, logs=None):
        for v, y in zip(self.model.trainable_variables, self.y):
            v.assign(y)
'''


def _optimizer_code(section: dict) -> tuple[str, str, str]:
    """(the line that makes the optimizer, the code it needs, the callback it adds)."""
    name = optimizers.class_name(section)
    if name == optimizers.ADAM:
        return 'optimizer = keras.optimizers.Adam(learning_rate=learning_rate, **cfg["optimizer"])', "", ""
    code = AVERAGE_CODE.format(averaged_point=inspect.getsource(optimizers.averaged_point))
    return (f'optimizer = keras.optimizers.{name}(learning_rate=learning_rate, **cfg["optimizer"]["config"])\n'
            "    # Built here, before compile: built by fit (Keras 3.15), its z (`momentum`) starts at 0, not at\n"
            "    # the initial weights, and training starts from zero weights.\n"
            "    optimizer.build(model.trainable_variables)",
            code, ", EvaluateAtAverage()")


def _data_code(d: dict) -> str:
    """The dataset's loader and what it needs, then lrviz's own labelling and split: source, not a copy."""
    ds = DATASETS[d["name"]]
    parts = ds.script or (ds.load,)
    code = [p if isinstance(p, str) else inspect.getsource(p) for p in (*parts, labelled, split)]
    return ("\n# ---- the data (lrviz's own functions: the same arrays) ----\n" + "\n\n".join(code)
            + LOAD_CODE.format(loader=parts[-1].__name__, task=ds.task, standardise=ds.standardise,
                             reads_file=bool(ds.file)))


HEADER = '''"""Reproduce an lrviz run with plain Keras 3: {label}.

Generated by lrviz. Run:
    python THIS_FILE.py [--epochs N] [--csv DATA.csv] [--history-csv H.csv] [--lr-csv R.csv]

This is the run lrviz trains, not only its learning rates: the same data split, initial
weights (the seed is set just before the layers are built), batch order (epoch_order below),
loss, metric and compile settings, so its per-epoch loss, val_loss and metrics equal lrviz's.
(With the same versions of Keras, TensorFlow, NumPy and scikit-learn: none of them promises
bit-equal random streams or kernels across versions.)
--history-csv writes epoch,learning_rate,loss,val_loss,<metric>,val_<metric> per epoch;
--lr-csv the learning rate the optimizer applied at every step.
"""
import argparse
import math
{imports}
import keras
import numpy as np
from keras import ops

CONFIG = {config}
'''

LOAD_CODE = '''
READS_FILE = {reads_file!r}  # whether this dataset is the user's own file


def load_data(d, csv_path=None):
    """(x_train, y_train, x_val, y_val, task, n_classes), as lrviz makes them."""
    d = dict(d, path=csv_path or d["path"])
    x, y, task, classes = labelled({loader}, {task!r}, d)
    return (*split(x, y, d["seed"], d["validation_split"], {standardise!r}), task, classes)
'''

ORDER_CODE = '''

# ---- the batch order (lrviz's own definition) ----
{epoch_order}

def batches(x, y, batch_size, seed, epochs):
    """Every batch of the run in lrviz's order; an epoch's last batch may be smaller.

    A generator, with fit(steps_per_epoch=...), because Keras keeps one iterator over it for the
    whole fit, so epochs cannot drift: a PyDataset is asked for its epoch's batches on a new
    iterator each epoch, and fit calls its on_epoch_end once before the first epoch too.
    """
    for epoch in range(epochs):
        order = epoch_order(seed, epoch, len(x))
        for start in range(0, len(x), batch_size):
            rows = order[start:start + batch_size]
            yield x[rows], y[rows]
'''

MODEL_CODE = '''

# ---- the model ----
HEADS = {"binary": ("sigmoid", "binary_crossentropy", "accuracy"),
         "multiclass": ("softmax", "sparse_categorical_crossentropy", "accuracy"),
         "regression": ("linear", "mse", "mae")}


def build_model(m, n_features, task, classes):
    """An MLP with the task's head; returns (model, loss, metric)."""
    head, loss, metric = HEADS[task]
    layers = [keras.Input((n_features,))]
    layers += [keras.layers.Dense(units, activation=m["activation"]) for units in m["hidden_units"]]
    layers.append(keras.layers.Dense(classes if task == "multiclass" else 1, activation=head))
    return keras.Sequential(layers), loss, metric
'''

MAIN_CODE = '''

# ---- training ----
class RecordLearningRate(keras.callbacks.Callback):
    \"\"\"The learning rate the optimizer applies on each update, read just before it.

    Read eagerly: inside the compiled train step TensorFlow rewrites x / c as x * (1 / c), so
    where a schedule divides by a constant the applied rate may differ in its last float32 bits.\"\"\"

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def train(cfg, epochs, csv_path):
    \"\"\"Train as lrviz does: (Keras's history, the rate of every step, metric name, steps per epoch).\"\"\"
    t = cfg["training"]
    x, y, x_val, y_val, task, classes = load_data(cfg["data"], csv_path)
    keras.utils.set_random_seed(t["seed"])  # right before the layers: lrviz's initial weights
    model, loss, metric = build_model(cfg["model"], x.shape[1], task, classes)
    steps_per_epoch = math.ceil(len(x) / t["batch_size"])
    learning_rate, callbacks = make_schedule(steps_per_epoch, epochs * steps_per_epoch)
    {optimizer}
    # lrviz compiles without XLA; Keras's default ("auto") turns it on where a GPU is, and
    # XLA's fused kernels round differently.
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric], jit_compile=False)
    recorder = RecordLearningRate()
    history = model.fit(
        batches(x, y, t["batch_size"], t["seed"], epochs), steps_per_epoch=steps_per_epoch, epochs=epochs,
        # lrviz validates the held-out rows as one batch: so does this.
        validation_data=(x_val, y_val) if len(x_val) else None, validation_batch_size=len(x_val) or None,
        callbacks=callbacks + [recorder{evaluate_at}], verbose=2)
    return history.history, recorder.rates, metric, steps_per_epoch


def write_csv(path, header, rows):
    \"\"\"As lrviz writes its CSVs: floats exact (repr), empty cells for missing values.\"\"\"
    def cell(v):
        return "" if v is None else str(v) if isinstance(v, int) else repr(float(v))

    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(",".join(header) + "\\n")
        f.writelines(",".join(map(cell, row)) + "\\n" for row in rows)


def write_history(path, logs, rates, metric, steps_per_epoch):
    \"\"\"Per epoch: the rate of its first step (as lrviz's epoch rows), the losses and the metric.\"\"\"
    epochs = range(len(logs["loss"]))
    missing = [None] * len(epochs)  # no validation data
    write_csv(path, ["epoch", "learning_rate", "loss", "val_loss", metric, "val_" + metric],
              zip(epochs, rates[::steps_per_epoch], logs["loss"], logs.get("val_loss", missing), logs[metric],
                  logs.get("val_" + metric, missing)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="override training.epochs")
    parser.add_argument("--csv", help="the CSV file to train on, where the run trained on one (default: data.path)")
    parser.add_argument("--history-csv", help="write epoch,learning_rate,loss,val_loss,<metric>,val_<metric> here")
    parser.add_argument("--lr-csv", help="write step,epoch,learning_rate of every step here")
    args = parser.parse_args()
    csv_path = args.csv or CONFIG["data"]["path"]
    if READS_FILE and not csv_path:
        parser.error("this run trains on a CSV file: give its path with --csv")
    logs, rates, metric, steps_per_epoch = train(CONFIG, args.epochs or CONFIG["training"]["epochs"], csv_path)
    print("final:", {k: round(float(v[-1]), 6) for k, v in logs.items()})
    if args.history_csv:
        write_history(args.history_csv, logs, rates, metric, steps_per_epoch)
    if args.lr_csv:
        write_csv(args.lr_csv, ["step", "epoch", "learning_rate"],
                  ((step, step // steps_per_epoch, rate) for step, rate in enumerate(rates)))


if __name__ == "__main__":
    main()
'''

