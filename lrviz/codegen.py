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

import ast
import inspect
import pprint
from pathlib import Path

from .data import DATASETS, epoch_order, labelled, split
from .schedules import FAMILIES, Timeline, family_id, params_of
from .schedules.per_step import warm_fraction

# --- the article's epoch function, shown as the article writes it (compounding) or as its textbook form
TIME_BASED = {
    True: '''
decay = {decay!r}


def lr_time_based_decay(epoch, lr):
    # The article's function as written: Keras passes the *current* rate, so this compounds.
    return lr * 1 / (1 + decay * epoch)
''',
    False: '''
initial_learning_rate, decay = {initial_learning_rate!r}, {decay!r}


def lr_time_based_decay(epoch):
    # The textbook form: always from the initial rate.
    return initial_learning_rate / (1 + decay * epoch)
''',
}
EPOCH_GLUE = '''

PARAMS = {params}


def {name}(epoch, lr):
    # LearningRateScheduler passes the current rate; the formula is of the epoch alone.
    return float({formula}(PARAMS, np.float64(epoch)))
'''



class Unsupported(ValueError):
    pass


def _schedule_code(sched: dict, total: str) -> tuple[list[str], str, list[str]]:
    """(class/function definitions, Adam's learning_rate expression, callback expressions)."""
    fam = family_id(sched)
    p = params_of(sched)
    family = FAMILIES[fam]
    if family.keras_class:
        return [], f"keras.optimizers.schedules.{fam}(**{_lit(p)})", []
    if fam == "legacy_adam_decay":
        # Keras 2's Adam(decay=d) divided by (1 + d · iterations); Keras 3 ignores decay=.
        return [], (f"keras.optimizers.schedules.InverseTimeDecay({p['learning_rate']!r}, decay_steps=1, "
                    f"decay_rate={p['decay']!r})"), []
    if fam in FORMULAS_BY_CODE:  # the formula, not its interpreter (simpleeval)
        return [FORMULAS_BY_CODE[fam](p)], (f"CustomFormula({p['initial_learning_rate']!r}, steps_per_epoch, "
                                            f"{total})"), []
    if getattr(family.keras, "curve_schedule", False):  # the family's own curve, as training runs it
        code = [_keras_source("CurveSchedule"), *map(inspect.getsource, (*family.helpers, family.curve))]
        return code, f"CurveSchedule({family.curve.__name__}, {_lit(p)}, steps_per_epoch, {total})", []
    if fam == "linear_warmup":
        inner_total = f"max({total} - {p['warmup_steps']}, 1)"
        defs, inner, _ = _schedule_code(p["schedule"], inner_total)
        return defs + [inspect.getsource(warm_fraction), _keras_source("Warmup")], (
            f"Warmup({inner}, {p['initial_learning_rate']!r}, {p['warmup_steps']!r}, {p['warmup_shape']!r}, "
            f"{p['power']!r})"), []
    if fam == "time_based_decay":
        return [TIME_BASED[p["compounding"]].format(**p)], repr(float(p["initial_learning_rate"])), [
            "keras.callbacks.LearningRateScheduler(lr_time_based_decay)"]
    formula = getattr(family.keras, "epoch_formula", None)
    if formula:  # the family's own formula of the epoch, as training calls it
        code = inspect.getsource(formula) + EPOCH_GLUE.format(params=_lit(p), name=fam, formula=formula.__name__)
        return [code], repr(float(p["initial_learning_rate"])), [f"keras.callbacks.LearningRateScheduler({fam})"]
    if fam == "reduce_lr_on_plateau":
        args = {k: v for k, v in p.items() if k != "initial_learning_rate"}
        # Adam gets a plain float: ReduceLROnPlateau cannot set the rate of a schedule object.
        return [], repr(float(p["initial_learning_rate"])), [f"keras.callbacks.ReduceLROnPlateau(**{_lit(args)})"]
    raise Unsupported(f"schedule: no plain-Keras code for family {fam!r} yet")


def _keras_source(name: str) -> str:
    """A class of schedules/keras_schedules.py, read from its file: importing it would load Keras
    (TensorFlow) into the server that writes the script."""
    path = Path(inspect.getfile(Timeline)).with_name("keras_schedules.py")
    text = path.read_text()
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name)
    return "\n\n" + ast.get_source_segment(text, node, padded=True) + "\n"


def _lit(value) -> str:
    return pprint.pformat(value, width=100, sort_dicts=False)


def keras_script(config: dict) -> str:
    """The script for a validated config (raises Unsupported for a family it cannot write)."""
    defs, lr_expr, callbacks = _schedule_code(config["schedule"], "total_steps")
    if any("CurveSchedule(" in d or "Warmup(" in d for d in defs):  # they evaluate on lrviz's Timeline
        defs = ["\n\n" + inspect.getsource(Timeline)] + defs
    seen, unique = set(), []
    for d in defs:  # a warmup around a formula needs each class once
        if d not in seen:
            seen.add(d)
            unique.append(d)
    label = FAMILIES[family_id(config["schedule"])].label
    data = _data_code(config["data"])  # imports csv where its loader reads a file
    imports = "import csv\n" if "csv." in data else ""
    if "class Timeline" in "".join(defs):
        imports += "from dataclasses import dataclass  # lrviz's Timeline\nfrom typing import Any\n"
    head = HEADER.format(label=label, config=_lit(config), imports=imports)
    schedule = (f"\n\n# ---- the schedule: {label} ----\n" + "".join(unique) + "\n\n"
                "def make_schedule(steps_per_epoch, total_steps):\n"
                '    """Adam\'s learning_rate and the callbacks that apply the schedule."""\n'
                f"    return {lr_expr}, [{', '.join(callbacks)}]\n")
    order = ORDER_CODE.format(epoch_order=inspect.getsource(epoch_order))
    return head + data + order + MODEL_CODE + schedule + MAIN_CODE


def _data_code(d: dict) -> str:
    """The dataset's loader and what it needs, then lrviz's own labelling and split: source, not a copy."""
    ds = DATASETS[d["name"]]
    parts = ds.script or (ds.load,)
    code = [p if isinstance(p, str) else inspect.getsource(p) for p in (*parts, labelled, split)]
    return ("\n# ---- the data (lrviz's own functions: the same arrays) ----\n" + "\n\n".join(code)
            + LOAD_CODE.format(loader=parts[-1].__name__, task=ds.task, standardise=ds.standardise))


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
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, **cfg["optimizer"])
    # lrviz compiles without XLA; Keras's default ("auto") turns it on where a GPU is, and
    # XLA's fused kernels round differently.
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric], jit_compile=False)
    recorder = RecordLearningRate()
    history = model.fit(
        batches(x, y, t["batch_size"], t["seed"], epochs), steps_per_epoch=steps_per_epoch, epochs=epochs,
        # lrviz validates the held-out rows as one batch: so does this.
        validation_data=(x_val, y_val) if len(x_val) else None, validation_batch_size=len(x_val) or None,
        callbacks=callbacks + [recorder], verbose=2)
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
    parser.add_argument("--csv", help="the CSV file to train on when data.name is 'csv' (default: data.path)")
    parser.add_argument("--history-csv", help="write epoch,learning_rate,loss,val_loss,<metric>,val_<metric> here")
    parser.add_argument("--lr-csv", help="write step,epoch,learning_rate of every step here")
    args = parser.parse_args()
    csv_path = args.csv or CONFIG["data"]["path"]
    if CONFIG["data"]["name"] == "csv" and not csv_path:
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


def _expression_code(text: str) -> str:
    """The validated formula as keras.ops code (the same whitelist the preview enforces)."""
    import ast

    from .schedules.expression import BINARY, COMPARE, FUNCTIONS, parse

    names = {"pi": "math.pi", "e": "math.e"}

    def walk(node) -> str:
        if isinstance(node, ast.Constant):
            return repr(float(node.value))
        if isinstance(node, ast.Name):
            return names.get(node.id, node.id)
        if isinstance(node, ast.UnaryOp):
            inner = walk(node.operand)
            return f"ops.negative({inner})" if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp):
            return f"ops.{BINARY[type(node.op)]}({walk(node.left)}, {walk(node.right)})"
        if isinstance(node, ast.Compare):
            fn = COMPARE[type(node.ops[0])]
            return f"ops.where(ops.{fn}({walk(node.left)}, {walk(node.comparators[0])}), 1.0, 0.0)"
        if isinstance(node, ast.IfExp):
            return f"ops.where(ops.not_equal({walk(node.test)}, 0.0), {walk(node.body)}, {walk(node.orelse)})"
        name = node.func.id
        args = ", ".join(walk(a) for a in node.args)
        if name == "where":
            c, a, b = (walk(x) for x in node.args)
            return f"ops.where(ops.not_equal({c}, 0.0), {a}, {b})"
        return f"ops.{FUNCTIONS[name][0]}({args})"

    return walk(parse(text))


FORMULAS_BY_CODE = {"expression": lambda p: '''
class CustomFormula(keras.optimizers.schedules.LearningRateSchedule):
    """lr = %s"""

    def __init__(self, initial_learning_rate, steps_per_epoch, total_steps):
        self.lr0, self.steps_per_epoch, self.total_steps = initial_learning_rate, steps_per_epoch, total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        epoch = ops.floor(step / self.steps_per_epoch)
        lr0, steps_per_epoch, total_steps = self.lr0, float(self.steps_per_epoch), float(self.total_steps)
        return ops.cast(%s, "float32") + 0.0 * step
''' % (p["expression"].replace('"""', "'''").replace("\\", "\\\\"), _expression_code(p["expression"]))}
