"""keras_script(config): a standalone Python script that reproduces a run with plain Keras.

The script imports only keras, numpy and scikit-learn (plus the standard library). It trains
the run lrviz trains: the same data, initial weights, batch order (data.epoch_order, written
once for both), loss, metric and compile settings. Its schedule is written out as ordinary
Keras code: Keras's own classes from their config, epoch formulas as `def` functions for
LearningRateScheduler, and the other per-step formulas as small LearningRateSchedule
subclasses written with keras.ops. It writes its per-epoch history and the learning rate the
optimizer applied at every step to CSV.
"""
from __future__ import annotations

import inspect
import pprint

from .data import epoch_order
from .schedules import FAMILIES, family_id, params_of

# --- per-step formulas, written out -----------------------------------------------------
FORMULAS = {
    "constant": '''
class Constant(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def __call__(self, step):
        return ops.cast(self.learning_rate, "float32") + 0.0 * ops.cast(step, "float32")
''',
    "cyclical": '''
class Cyclical(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's cyclical learning rate: triangular, triangular2 or exp_range."""

    def __init__(self, initial_learning_rate, maximal_learning_rate, step_size, mode, gamma):
        self.low, self.high, self.half = initial_learning_rate, maximal_learning_rate, float(step_size)
        self.mode, self.gamma = mode, gamma

    def __call__(self, step):
        s = ops.cast(step, "float32")
        cycle = ops.floor(1.0 + s / (2.0 * self.half))
        x = ops.abs(s / self.half - 2.0 * cycle + 1.0)
        if self.mode == "triangular2":
            scale = ops.power(0.5, cycle - 1.0)
        elif self.mode == "exp_range":
            scale = ops.power(self.gamma, s)
        else:
            scale = 1.0
        return self.low + (self.high - self.low) * ops.maximum(0.0, 1.0 - x) * scale
''',
    "one_cycle": '''
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """PyTorch's OneCycleLR over the whole run (total_steps)."""

    def __init__(self, maximal_learning_rate, pct_start, anneal_strategy, div_factor,
                 final_div_factor, three_phase, total_steps):
        top = maximal_learning_rate
        low = top / div_factor
        final = low / final_div_factor
        n = total_steps
        up_end = pct_start * n - 1.0
        if three_phase:
            self.phases = [(up_end, low, top), (2.0 * pct_start * n - 2.0, top, low), (n - 1.0, low, final)]
        else:
            self.phases = [(up_end, low, top), (n - 1.0, top, final)]
        self.cos = anneal_strategy == "cos"

    def anneal(self, start, end, pct):
        if self.cos:
            # (1 + cos(pi p)) / 2 written as cos(pi p / 2) ** 2: no float32 cancellation near p = 1.
            return end + (start - end) * ops.cos(0.5 * math.pi * pct) ** 2
        return start * (1.0 - pct) + end * pct  # exact at both ends in float32 too

    def __call__(self, step):
        s = ops.cast(step, "float32")
        begins = [0.0] + [end for end, _, _ in self.phases[:-1]]
        lr = None
        for (end, a, b), begin in reversed(list(zip(self.phases, begins))):
            here = self.anneal(a, b, (s - begin) / max(end - begin, 1e-12))
            lr = here if lr is None else ops.where(s <= end, here, lr)
        return lr
''',
    "warmup_stable_decay": '''
class WarmupStableDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, a plateau at the peak, then a linear or cosine decay to alpha · peak."""

    def __init__(self, initial_learning_rate, warmup_steps, stable_steps, decay_steps, alpha, decay_type):
        self.peak, self.alpha, self.decay_type = initial_learning_rate, alpha, decay_type
        self.w, self.stable, self.d = warmup_steps, stable_steps, decay_steps

    def __call__(self, step):
        s = ops.cast(step, "float32")
        warm = s / max(self.w, 1)
        progress = ops.minimum(ops.maximum(s - self.w - self.stable, 0.0) / max(self.d, 1), 1.0)
        if self.decay_type == "cosine":
            decayed = ops.cos(0.5 * math.pi * progress) ** 2  # (1 + cos(pi p)) / 2, see OneCycle
        else:
            decayed = 1.0 - progress
        factor = ops.where(s < self.w, warm, ops.where(s < self.w + self.stable, 1.0, decayed))
        return self.peak * (self.alpha + (1.0 - self.alpha) * factor)
''',
    "inverse_sqrt": '''
class InverseSqrt(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then the rate falls as 1 / sqrt(step)."""

    def __init__(self, initial_learning_rate, warmup_steps, timescale):
        self.peak, self.w = initial_learning_rate, float(warmup_steps)
        self.timescale = float(timescale or warmup_steps or 10_000)

    def __call__(self, step):
        s = ops.cast(step, "float32")
        after = 1.0 / ops.sqrt((ops.maximum(s, self.w) + self.timescale - self.w) / self.timescale)
        return self.peak * ops.where(s < self.w, s / max(self.w, 1.0), after)
''',
}

WARMUP = '''
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warmup in front of another schedule, which sees its own step 0 at step W."""

    def __init__(self, inner, initial_learning_rate, warmup_steps):
        self.inner, self.start, self.w = inner, initial_learning_rate, warmup_steps

    def __call__(self, step):
        step = ops.convert_to_tensor(step)
        s = ops.cast(step, "float32")
        first = ops.cast(self.inner(ops.zeros_like(step)), "float32")
        after = ops.cast(self.inner(ops.maximum(step - self.w, 0)), "float32")
        warm = self.start + (first - self.start) * s / max(self.w, 1)
        return ops.where(s < self.w, warm, after)
'''

# --- per-epoch formulas, for LearningRateScheduler --------------------------------------
EPOCH_FUNCTIONS = {
    ("time_based_decay", True): '''
decay = {decay!r}


def lr_time_based_decay(epoch, lr):
    # The article's function as written: Keras passes the *current* rate, so this compounds.
    return lr * 1 / (1 + decay * epoch)
''',
    ("time_based_decay", False): '''
initial_learning_rate, decay = {initial_learning_rate!r}, {decay!r}


def lr_time_based_decay(epoch):
    # The textbook form: always from the initial rate.
    return initial_learning_rate / (1 + decay * epoch)
''',
    ("step_decay", None): '''
def step_decay(epoch, lr):
    return float({initial_learning_rate!r} * {drop!r} ** math.floor(epoch / {epochs_drop!r}))
''',
    ("multi_step", None): '''
MILESTONES = {milestones!r}


def multi_step(epoch, lr):
    # The rate drops at the start of each milestone epoch.
    return float({initial_learning_rate!r} * {gamma!r} ** sum(1 for m in MILESTONES if m <= epoch))
''',
    ("exponential_per_epoch", None): '''
def exponential_per_epoch(epoch, lr):
    return float({initial_learning_rate!r} * {gamma!r} ** epoch)
''',
}
EPOCH_NAMES = {"time_based_decay": "lr_time_based_decay", "step_decay": "step_decay",
               "multi_step": "multi_step", "exponential_per_epoch": "exponential_per_epoch"}


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
    if fam in FORMULAS:
        cls = FORMULAS[fam].split("class ", 1)[1].split("(", 1)[0]
        args = dict(p, total_steps=total) if fam == "one_cycle" else p
        call = ", ".join(f"{k}={total if k == 'total_steps' else repr(v)}" for k, v in args.items())
        return [FORMULAS[fam]], f"{cls}({call})", []
    if fam in FORMULAS_BY_CODE:
        return [FORMULAS_BY_CODE[fam](p)], (f"CustomFormula({p['initial_learning_rate']!r}, steps_per_epoch, "
                                            f"{total})"), []
    if fam == "linear_warmup":
        inner_total = f"max({total} - {p['warmup_steps']}, 1)"
        defs, inner, _ = _schedule_code(p["schedule"], inner_total)
        return defs + [WARMUP], (f"LinearWarmup({inner}, initial_learning_rate={p['initial_learning_rate']!r}, "
                                 f"warmup_steps={p['warmup_steps']!r})"), []
    if family.driver == "epoch" and fam in EPOCH_NAMES:
        key = (fam, p.get("compounding")) if fam == "time_based_decay" else (fam, None)
        code = EPOCH_FUNCTIONS[key].format(**p)
        return [code], repr(float(p["initial_learning_rate"])), [
            f"keras.callbacks.LearningRateScheduler({EPOCH_NAMES[fam]})"]
    if fam == "reduce_lr_on_plateau":
        args = {k: v for k, v in p.items() if k != "initial_learning_rate"}
        # Adam gets a plain float: ReduceLROnPlateau cannot set the rate of a schedule object.
        return [], repr(float(p["initial_learning_rate"])), [f"keras.callbacks.ReduceLROnPlateau(**{_lit(args)})"]
    raise Unsupported(f"schedule: no plain-Keras code for family {fam!r} yet")


def _lit(value) -> str:
    return pprint.pformat(value, width=100, sort_dicts=False)


def supported(sched: dict) -> bool:
    try:
        _schedule_code(sched, "total_steps")
        return True
    except Unsupported:
        return False


def keras_script(config: dict) -> str:
    """The script for a validated config (raises Unsupported for a family it cannot write)."""
    defs, lr_expr, callbacks = _schedule_code(config["schedule"], "total_steps")
    seen, unique = set(), []
    for d in defs:  # a warmup around a formula needs each class once
        if d not in seen:
            seen.add(d)
            unique.append(d)
    label = FAMILIES[family_id(config["schedule"])].label
    head = HEADER.format(label=label, config=_lit(config))
    schedule = (f"\n\n# ---- the schedule: {label} ----\n" + "".join(unique) + "\n\n"
                "def make_schedule(steps_per_epoch, total_steps):\n"
                '    """Adam\'s learning_rate and the callbacks that apply the schedule."""\n'
                f"    return {lr_expr}, [{', '.join(callbacks)}]\n")
    order = ORDER_CODE.format(epoch_order=inspect.getsource(epoch_order))
    return head + DATA_CODE + order + MODEL_CODE + schedule + MAIN_CODE


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
import csv
import math

import keras
import numpy as np
from keras import ops

CONFIG = {config}
'''

DATA_CODE = '''
# ---- the data (the same arrays lrviz trains on) ----
def _sk_seed(rng):
    return int(rng.integers(2**31 - 1))


def _synthetic(name, n, noise, rng):
    from sklearn.datasets import make_circles, make_moons

    if name == "moons":
        return make_moons(n, noise=noise, random_state=_sk_seed(rng))
    if name == "circles":
        return make_circles(n, noise=noise, factor=0.5, random_state=_sk_seed(rng))
    if name == "spirals":  # two interleaved arms, as in TensorFlow Playground
        y = np.arange(n) % 2
        t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3.0 * np.pi
        angle = t + np.pi * y
        x = np.c_[t * np.cos(angle), t * np.sin(angle)] / np.pi
        return x + rng.normal(0.0, noise, x.shape), y
    if name == "xor":
        x = rng.uniform(-1.0, 1.0, (n, 2))
        x += np.sign(x) * 0.05
        y = (x[:, 0] * x[:, 1] > 0).astype(int)
        return x + rng.normal(0.0, noise, x.shape), y
    if name == "blobs":
        y = np.arange(n) % 2
        centres = np.where(y[:, None] == 1, 1.0, -1.0) * np.array([1.0, 1.0])
        return centres + rng.normal(0.0, 0.3 + noise, (n, 2)), y
    x = rng.uniform(-3.0, 3.0, (n, 1))  # regression
    return x, np.sin(x[:, 0]) + rng.normal(0.0, noise, n)


def _read_csv(path, d):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r]
    header, body = rows[0], rows[1:]

    def numeric(j):
        try:
            return np.array([float(r[j]) for r in body])
        except ValueError:
            return None  # a text column: a target's class names, or not a feature

    columns = {name: numeric(j) for j, name in enumerate(header)}
    target = d["target"] or header[-1]
    x = np.c_[tuple(v for k, v in columns.items() if k != target and v is not None)]
    y = columns[target] if columns[target] is not None else np.array([r[header.index(target)] for r in body])
    labels = np.unique(y)
    integer_like = y.dtype.kind == "f" and bool(np.all(y == np.round(y)))
    classify = d["task"] == "classification" or (
        d["task"] == "auto" and (y.dtype.kind != "f" or (integer_like and len(labels) <= 20)))
    if not classify:
        return x, y, "regression", 0
    return x, np.searchsorted(labels, y), ("binary" if len(labels) == 2 else "multiclass"), len(labels)


def load_data(d, csv_path=None):
    """(x_train, y_train, x_val, y_val, task, n_classes): shuffled with data.seed, the last
    floor(rows * validation_split) rows held out; tables and CSVs standardised on the training rows."""
    name, seed = d["name"], d["seed"]
    if name == "csv":
        x, y, task, classes = _read_csv(csv_path, d)
    elif name in ("digits", "breast_cancer", "wine", "iris"):
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, "load_" + name)()
        x, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
        classes = int(y.max()) + 1
        task = "binary" if classes == 2 else "multiclass"
    else:
        x, y = _synthetic(name, d["n_samples"], d["noise"], np.random.default_rng(seed))
        task, classes = ("regression", 0) if name == "regression" else ("binary", 2)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = len(x) - int(math.floor(len(x) * d["validation_split"]))
    if name in ("digits", "breast_cancer", "wine", "iris", "csv"):
        mean, std = x[:cut].mean(axis=0), x[:cut].std(axis=0)
        x = (x - mean) / np.where(std > 0, std, 1.0)
    x, y = np.asarray(x, "float32"), np.asarray(y, "float32")
    return x[:cut], y[:cut], x[cut:], y[cut:], task, classes
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
