"""keras_script(config): a standalone Python script that reproduces a run with plain Keras.

The script imports only keras, numpy and scikit-learn (plus the standard library). Its
schedule is written out as ordinary Keras code: Keras's own classes from their config,
epoch formulas as `def` functions for LearningRateScheduler, and the other per-step
formulas as small LearningRateSchedule subclasses written with keras.ops. It records the
learning rate the optimizer applied at every step and can write it to CSV.
"""
from __future__ import annotations

import pprint

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
        floor = low / final_div_factor
        n = float(total_steps)
        up_end = pct_start * n - 1.0
        if three_phase:
            self.phases = [(up_end, low, top), (2.0 * pct_start * n - 2.0, top, low), (n - 1.0, low, floor)]
        else:
            self.phases = [(up_end, low, top), (n - 1.0, top, floor)]
        self.cos = anneal_strategy == "cos"

    def anneal(self, start, end, pct):
        if self.cos:
            return end + (start - end) / 2.0 * (ops.cos(math.pi * pct) + 1.0)
        return start + (end - start) * pct

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
        self.w, self.stable, self.d = float(warmup_steps), float(stable_steps), float(decay_steps)

    def __call__(self, step):
        s = ops.cast(step, "float32")
        warm = s / max(self.w, 1.0)
        progress = ops.minimum(ops.maximum(s - self.w - self.stable, 0.0) / max(self.d, 1.0), 1.0)
        if self.decay_type == "cosine":
            decayed = 0.5 * (1.0 + ops.cos(math.pi * progress))
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
    schedule = (f"\n# ---- the schedule: {label} ----\n" + "".join(unique) + "\n\n"
                "def make_schedule(steps_per_epoch, total_steps):\n"
                '    """Adam\'s learning_rate and the callbacks that apply the schedule."""\n'
                f"    return {lr_expr}, [{', '.join(callbacks)}]\n")
    return head + DATA_CODE + MODEL_CODE + schedule + MAIN_CODE


HEADER = '''"""Reproduce an lrviz run with plain Keras 3: {label}.

Generated by lrviz. Run:  python THIS_FILE.py [--epochs N] [--lr-csv rates.csv]
It records the learning rate the optimizer applied at every step (--lr-csv writes them).
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


def _read_csv(d):
    with open(d["path"], newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r]
    header, body = rows[0], rows[1:]

    def numeric(j):
        try:
            return np.array([float(r[j]) for r in body])
        except ValueError:
            return None

    columns = {name: numeric(j) for j, name in enumerate(header)}
    target = d["target"] or header[-1]
    x = np.c_[tuple(v for k, v in columns.items() if k != target and v is not None)]
    y = columns[target] if columns[target] is not None else np.array([r[header.index(target)] for r in body])
    labels = np.unique(y)
    integer_like = y.dtype != object and y.dtype.kind == "f" and bool(np.all(y == np.round(y)))
    classify = d["task"] == "classification" or (
        d["task"] == "auto" and (y.dtype.kind not in "f" or (integer_like and len(labels) <= 20)))
    if not classify:
        return x, y, "regression", 0
    return x, np.searchsorted(labels, y), ("binary" if len(labels) == 2 else "multiclass"), len(labels)


def load_data(d):
    \"\"\"(x_train, y_train, x_val, y_val, task, n_classes): shuffled with data.seed, the last
    floor(rows * validation_split) rows held out.\"\"\"
    name, seed = d["name"], d["seed"]
    if name == "csv":
        x, y, task, classes = _read_csv(d)
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

MODEL_CODE = '''

# ---- the model ----
HEADS = {"binary": ("sigmoid", "binary_crossentropy", "accuracy"),
         "multiclass": ("softmax", "sparse_categorical_crossentropy", "accuracy"),
         "regression": ("linear", "mse", "mae")}


def build_model(m, n_features, task, classes):
    \"\"\"An MLP with the task's head; returns (model, loss, metric).\"\"\"
    head, loss, metric = HEADS[task]
    layers = [keras.Input((n_features,))]
    layers += [keras.layers.Dense(units, activation=m["activation"]) for units in m["hidden_units"]]
    layers.append(keras.layers.Dense(classes if task == "multiclass" else 1, activation=head))
    return keras.Sequential(layers), loss, metric
'''

MAIN_CODE = '''

# ---- training ----
class RecordLearningRate(keras.callbacks.Callback):
    """The learning rate the optimizer applies on each update, read just before it."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="override training.epochs")
    parser.add_argument("--lr-csv", help="write step,epoch,learning_rate of every step here")
    args = parser.parse_args()
    cfg, t = CONFIG, CONFIG["training"]
    epochs = args.epochs or t["epochs"]
    x, y, x_val, y_val, task, classes = load_data(cfg["data"])
    keras.utils.set_random_seed(t["seed"])  # same seed, same initial weights and shuffles
    model, loss, metric = build_model(cfg["model"], x.shape[1], task, classes)
    steps_per_epoch = math.ceil(len(x) / t["batch_size"])
    learning_rate, callbacks = make_schedule(steps_per_epoch, epochs * steps_per_epoch)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, **cfg["optimizer"])
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric])
    recorder = RecordLearningRate()
    history = model.fit(x, y, batch_size=t["batch_size"], epochs=epochs, shuffle=True, verbose=2,
                        validation_data=(x_val, y_val) if len(x_val) else None,
                        callbacks=callbacks + [recorder])
    print("final:", {k: round(float(v[-1]), 6) for k, v in history.history.items()})
    if args.lr_csv:
        with open(args.lr_csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "epoch", "learning_rate"])
            for step, rate in enumerate(recorder.rates):
                writer.writerow([step, step // steps_per_epoch, repr(rate)])


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
