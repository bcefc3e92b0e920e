"""One real training run: `model.fit` with the schedule's own Keras object or callbacks,
recording the learning rate and the loss of every optimizer step. Workers and the CLI use it.

Speed: a naive fit pays Python and tf.data costs at every batch. Here one Keras "step" is a
chunk of batches run in a graph loop over data that stays in memory, each batch writing its
rate and loss into a buffer that a callback reads once per chunk. The chunk is the whole
epoch for small models, shorter when batches are slow, so Stop lands within a second.

The batches are those of a plain `fit` over data.epoch_order's order, batch after batch,
the last one of an epoch smaller: the generated script trains the very same run.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_stderr():
    """TensorFlow's C++ side prints oneDNN and CUDA notices (at import, and at the first
    device lookup) whatever the log level: send file descriptor 2 to /dev/null meanwhile."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_import():
    with quiet_stderr():
        import tensorflow  # noqa: F401


_quiet_import()
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # a new config traces new functions: retracing notices are noise

try:  # small models run fastest on one thread, and workers share the cores side by side
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass  # TensorFlow already ran something in this process: keep its threads
try:  # the models are small, and lrviz's kernel (lrviz.kernels) runs on the CPU alone
    with quiet_stderr():  # looking for GPUs logs CUDA's failure to start where there is none
        tf.config.set_visible_devices([], "GPU")
except RuntimeError:
    pass  # TensorFlow already placed something

from . import adam  # noqa: E402
from . import data as datamod  # noqa: E402
from .config import batches  # noqa: E402
from . import model as modelmod  # noqa: E402
from . import model_view  # noqa: E402
from . import optimizers  # noqa: E402
from .experiments.range_test import Explosion  # noqa: E402
from .inside import WIDTH as INSIDE_WIDTH  # noqa: E402
from .inside import Inside, with_quantiles  # noqa: E402
from .inside import chunk_cap as inside_cap  # noqa: E402
from .inside import record_floats  # noqa: E402
from .schedules import FAMILIES, family_id, params_of  # noqa: E402
from .store import EPOCH_COLUMNS  # noqa: E402

CHUNK_SECONDS = 0.2     # a chunk this long keeps Stop and live points within a second
STEP_OVERHEAD_S = 2e-4  # measured per batch on a 2-core CPU, for tiny models
FLOPS_PER_S = 2e10      # dense float32 throughput assumed for bigger models


@dataclass(frozen=True)
class Outcome:
    status: str          # done, stopped, diverged or failed
    error: str | None
    steps: int           # optimizer steps recorded
    epochs: int          # complete epochs recorded


class Recorder(keras.Sequential):
    """A Sequential whose train_step runs a chunk of batches in-graph.

    The optimizer still sees one update per batch, so schedules get the real iteration, and
    Keras's callbacks still run around each epoch. Every batch writes (rate, loss) at its
    index in `record`; the rate is read before `apply` increments `iterations`.
    """

    def attach(self, data: datamod.Data, batch_size: int, seed: int, chunk: int, inside: bool = True) -> None:
        """inside: record lrviz.inside's measures at every step (off: only to measure their cost)."""
        self.feed = _Feed(data, batch_size, seed, chunk)
        self.inside = Inside([layer.trainable_variables for layer in self.layers]) if inside else None
        self.feed.sample = tf.Variable(tf.fill([chunk, 1, self.inside.sample if inside else 0], np.nan),
                                       trainable=False)
        # Variables may not be created inside the graph loop: build everything lazy now.
        x, y = self.feed.X[:1], self.feed.y[:1]
        self.optimizer.build(self.trainable_variables)
        y_pred = self(x, training=False)
        self._compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        self.compute_metrics(x, y, y_pred)
        self.reset_metrics()

    def train_step(self, _):
        f, opt = self.feed, self.optimizer
        pos = tf.cast(opt.iterations, tf.int32) % f.steps_per_epoch
        order = f.order.read_value()  # this epoch's, set by _EpochOrder before its first chunk
        n = tf.minimum(f.chunk, f.steps_per_epoch - pos)

        if self.inside:
            self.inside.begin()

        def body(i):
            rows = order[(pos + i) * f.batch_size:(pos + i + 1) * f.batch_size]
            x, y = tf.gather(f.X, rows), tf.gather(f.y, rows)
            lr = tf.cast(opt.learning_rate, tf.float32)
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self._compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            grads = tape.gradient(loss, self.trainable_variables)
            opt.apply(grads, self.trainable_variables)
            self.compute_metrics(x, y, y_pred)
            f.record[i].assign(tf.stack([lr, tf.cast(loss, tf.float32)]))
            if self.inside:
                by_path = {v.path: g for v, g in zip(self.trainable_variables, grads)}
                self.inside.step(i, [by_path[v.path] for v in self.inside.variables], f.inside, f.sample)
            return (i + 1,)

        tf.while_loop(lambda i: i < n, body, (tf.constant(0),))
        return self.get_metrics_result()

    def epoch_values(self, logs, metric: str):
        """([training loss], [metric]) over the epoch, as Keras's compiled metrics report them."""
        return [logs["loss"]], [logs[metric]]

    def validate(self):
        """(val_loss, val metric, the same two at the training point y or None) on the whole
        validation set. Schedule-free AdamW is meant to be evaluated at its average x, not at the
        weights y it trains with: both are measured, x is the run's val_loss."""
        if not isinstance(self.optimizer, keras.optimizers.ScheduleFreeAdamW):
            return (*self._evaluate(), None, None)
        return (*self.evaluated(self._evaluate), *self._evaluate())

    def view(self):
        """[1, grid points, outputs]: the predictions on the model_view grid where the run is
        evaluated, or None for data of more than two features."""
        if self.feed.grid is None:
            return None
        return self.evaluated(lambda: self._predict(self.feed.grid_points)).numpy()[None]

    @tf.function(autograph=False)
    def _predict(self, points):
        return self(points, training=False)

    def evaluated(self, measure):
        """measure() where the run is evaluated: at the weights, or schedule-free AdamW's average x
        (then the weights y it trains with are put back)."""
        if not isinstance(self.optimizer, keras.optimizers.ScheduleFreeAdamW):
            return measure()
        variables = self.trainable_variables
        y = [keras.ops.convert_to_numpy(v) for v in variables]  # a copy: v.value is the variable itself
        for v, x in zip(variables, optimizers.averaged_point(self.optimizer, variables)):
            v.assign(x)
        try:
            return measure()
        finally:
            for v, value in zip(variables, y):
                v.assign(value)

    @tf.function(autograph=False)
    def _evaluate(self):
        """(val_loss, val metric) at the current weights."""
        f = self.feed
        y_pred = self(f.X_val, training=False)
        loss = self._compute_loss(x=f.X_val, y=f.y_val, y_pred=y_pred, training=False)
        # Through a Mean weighted by the rows, as Keras's evaluate() reports val_loss (loss · n / n
        # rounds): the generated script's val_loss, from evaluate(), is then bit-equal to this.
        for metric, args in ((f.val_loss, (loss, tf.shape(f.X_val)[0])), (f.val_metric, (f.y_val, y_pred))):
            metric.reset_state()
            metric.update_state(*args)
        return f.val_loss.result(), f.val_metric.result()


class _Feed:
    """The data in memory, the shuffle order of the current epoch and the record buffer."""

    def __init__(self, data, batch_size, seed, chunk):
        self.X, self.y = tf.constant(data.X_train), tf.constant(data.y_train)
        self.X_val, self.y_val = tf.constant(data.X_val), tf.constant(data.y_val)
        self.grid, self.grid_points = view_grid(data)
        # Here, not on the model: Keras would log them as training metrics.
        self.val_loss, self.val_metric = keras.metrics.Mean(), modelmod.metric_object(data.task)
        self.rows, self.batch_size, self.chunk = len(data.X_train), batch_size, chunk
        self.steps_per_epoch = batches(self.rows, batch_size)
        self.seed = seed
        self.order = tf.Variable(tf.range(self.rows), trainable=False)
        self.record = tf.Variable(tf.zeros([chunk, 2]), trainable=False)
        self.inside = tf.Variable(tf.fill([chunk, 1, INSIDE_WIDTH], np.nan), trainable=False)


def view_grid(data: datamod.Data):
    """(model_view's grid over every row the model sees, its points as a constant), or (None, None)."""
    grid = model_view.grid(np.concatenate([data.X_train, data.X_val]))
    return grid, None if grid is None else tf.constant(grid.points)


def chunk_size(params: int, batch_size: int, spe: int, recorded: int = 0) -> int:
    """Batches per graph call: the whole epoch for small models, fewer when a batch is slow, or
    when the call's record of the optimizer's insides (`recorded` floats a step, every replica's:
    lrviz.inside.record_floats) would outgrow lrviz.inside.MEMORY."""
    step_s = STEP_OVERHEAD_S + 6 * batch_size * params / FLOPS_PER_S
    chunk = max(1, min(spe, int(CHUNK_SECONDS / step_s)))
    return min(chunk, inside_cap(recorded)) if recorded else chunk


class _EpochOrder(keras.callbacks.Callback):
    """Sets each epoch's batch order before its first batch: one small copy an epoch, and the
    graph loop only reads it."""

    def on_epoch_begin(self, epoch, logs=None):
        f = self.model.feed
        f.order.assign(datamod.epoch_order(f.seed, epoch, f.rows).astype(np.int32))


class Ledger:
    """One run's bookkeeping while it trains, alone or side by side with others: which of its
    recorded steps it keeps (up to a non-finite loss, an explosion or Stop), how it ends, and
    the rows it hands to its sink."""

    def __init__(self, sink, stop, stop_factor: float | None = None, correction=None):
        """correction(steps): the optimizer's bias correction at those steps (adam.bias_correction)."""
        self.sink, self.stop, self.correction = sink, stop, correction
        self.explosion = Explosion(stop_factor) if stop_factor else None
        self.steps = self.epochs = 0
        self.status, self.error = "done", None
        self.epoch_lr = None

    @property
    def live(self) -> bool:
        return self.status == "done"

    def outcome(self) -> Outcome:
        return Outcome(self.status, self.error, self.steps, self.epochs)

    def chunk(self, epoch: int, steps_per_epoch: int, lr, loss, wall, inside=None) -> None:
        """The steps of one graph call: (rate, loss, wall time) each, and lrviz.inside's measures
        ([steps, INSIDE_WIDTH], NaN where not recorded); nothing once ended."""
        if not self.live:
            return
        n = len(loss)
        bad = np.flatnonzero(~np.isfinite(loss))
        finite = int(bad[0]) if bad.size else n
        at = self.explosion.first(loss[:finite]) if self.explosion else None
        if at is not None:  # that step is kept, as fastai's lr_find keeps it
            self.status, n = "diverged", at + 1
            self.error = (f"the smoothed loss passed {self.explosion.stop_factor:g}× its lowest at step "
                          f"{self.steps + at} (epoch {epoch})")
        elif bad.size:
            self.status, n = "diverged", finite
            self.error = f"loss became {_loss_text(loss[n])} at step {self.steps + n} (epoch {epoch})"
        elif self.stop is not None and self.stop.is_set():
            self.status = "stopped"
        if self.steps == epoch * steps_per_epoch and n:
            self.epoch_lr = float(lr[0])  # the rate of the epoch's first step
        steps = np.arange(self.steps, self.steps + n)
        measured = np.full((n, INSIDE_WIDTH), np.nan) if inside is None else np.asarray(inside[:n], np.float64)
        correction = self.correction(steps) if self.correction else np.full(n, np.nan)
        # In INSIDE_COLUMNS order, the bias correction second; a value not measured is NaN,
        # which the store keeps as NULL.
        inside_rows = np.column_stack([measured[:, :1], correction, measured[:, 1:]]).tolist()
        self._hand([(s, epoch, r, v, w, *m) for s, r, v, w, m in zip(
            steps.tolist(), np.asarray(lr[:n]).tolist(), np.asarray(loss[:n]).tolist(),
            np.asarray(wall[:n]).tolist(), inside_rows)], [])
        self.steps += n

    def _hand(self, step_rows, epoch_rows, views=()) -> None:
        """To the sink (views, the model's view at epochs, only to a sink that takes them); a sink
        that refuses (its run deleted, a full disk) ends this run alone."""
        try:
            if views and hasattr(self.sink, "views"):
                self.sink.views(views)
            self.sink(step_rows, epoch_rows)
        except Exception as exc:  # noqa: BLE001 - the run's reason, kept with the run
            self.status, self.error = "failed", f"{exc.__class__.__name__}: {exc}"

    def epoch_end(self, epoch: int, steps_per_epoch: int, loss, val, metric, val_metric, wall,
                  val_at_y=None, val_metric_at_y=None, view=None) -> None:
        """The epoch's row, once all its steps are recorded (an epoch cut short has none), and
        the model's view then ((extent, predictions), lrviz.model_view) to a sink that takes views."""
        if self.steps < (epoch + 1) * steps_per_epoch or self.epochs != epoch or self.status == "failed":
            return
        views = [(epoch, *model_view.encode(*view))] if view is not None else []
        self._hand([], [(epoch, self.epoch_lr, loss, val, metric, val_metric, wall, val_at_y, val_metric_at_y)], views)
        self.epochs += 1


class Watch(keras.callbacks.Callback):
    """Hands each graph call's record to the runs' ledgers (the record holds each run's rate,
    then each run's loss, at every step of the call; one run alone or several side by side, see
    lrviz.stacked), and each epoch's values; training ends once no run is live."""

    def __init__(self, ledgers: list[Ledger], metric: str, has_val: bool):
        super().__init__()
        self.ledgers, self.metric, self.has_val, self.steps = ledgers, metric, has_val, 0

    def on_train_begin(self, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.chunk_start = time.perf_counter() - self.t0

    def on_train_batch_end(self, batch, logs=None):
        f = self.model.feed
        n = min(f.chunk, (self.epoch + 1) * f.steps_per_epoch - self.steps)
        record = f.record.numpy()[:n]
        # The chunk's batches ran inside one graph call, unseen: spread its time evenly over them.
        ends = time.perf_counter() - self.t0
        wall = self.chunk_start + (ends - self.chunk_start) * np.arange(1, n + 1) / n
        inside = with_quantiles(f.inside.numpy()[:n], f.sample.numpy()[:n])  # [steps, runs, INSIDE_WIDTH]
        count = len(self.ledgers)
        for k, ledger in enumerate(self.ledgers):
            ledger.chunk(self.epoch, f.steps_per_epoch, record[:, k], record[:, count + k], wall, inside[:, k])
        self.steps += n
        self.model.stop_training = not any(ledger.live for ledger in self.ledgers)

    def on_epoch_end(self, epoch, logs=None):
        spe = self.model.feed.steps_per_epoch
        if self.steps < (epoch + 1) * spe:
            return  # an epoch cut short leaves its steps, not an epoch row
        loss, metric = self.model.epoch_values(logs, self.metric)
        vals = [[None] * len(self.ledgers)] * 4
        if self.has_val:
            vals = [[None] * len(self.ledgers) if v is None else np.atleast_1d(np.asarray(v, dtype=np.float64)).tolist()
                    for v in self.model.validate()]
            logs["val_loss"], logs[f"val_{self.metric}"] = vals[0][0], vals[1][0]  # for ReduceLROnPlateau, after us
        val, val_metric, val_at_y, val_metric_at_y = vals
        views = self.model.view()  # [runs, grid points, outputs] or None
        extent = self.model.feed.grid.extent if views is not None else None
        wall = time.perf_counter() - self.t0
        for k, ledger in enumerate(self.ledgers):
            ledger.epoch_end(epoch, spe, float(loss[k]), val[k], float(metric[k]), val_metric[k], wall,
                             val_at_y[k], val_metric_at_y[k], None if views is None else (extent, views[k]))


def _loss_text(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def correction_of(cfg: dict):
    """The run's bias correction as a function of its steps (for its Ledger)."""
    return functools.partial(adam.bias_correction, section=cfg["optimizer"])


def run(cfg: dict, sink, stop=None, on_start=None, inside: bool = True) -> Outcome:
    """Train as the config says. sink(step_rows, epoch_rows) gets rows as they come, tuples
    in store.STEP_COLUMNS / EPOCH_COLUMNS order: steps (step, epoch, learning_rate, loss,
    wall_time, then store.INSIDE_COLUMNS), epochs (epoch, learning_rate at its first step, loss,
    val_loss, metric, val_metric, wall_time, val_loss_at_y, val_metric_at_y); wall_time in
    seconds since training began, val_ values None without validation data, _at_y ones None but
    for schedule-free AdamW. stop: anything with is_set(). on_start(metric name) once the data
    is loaded. inside: record lrviz.inside's measures (off only to measure what they cost). A
    bad dataset raises ConfigError."""
    data = datamod.load(cfg["data"])
    if on_start:
        on_start(modelmod.metric_name(data.task))
    batch = cfg["training"]["batch_size"]
    spe = batches(len(data.X_train), batch)
    model, callbacks, chunk = _model(cfg, data, inside)
    family = FAMILIES[family_id(cfg["schedule"])]
    ledger = Ledger(sink, stop, family.stop_factor(params_of(cfg["schedule"])) if family.stop_factor else None,
                    correction_of(cfg))
    watch = Watch([ledger], modelmod.metric_name(data.task), len(data.X_val) > 0)
    ticks = tf.data.Dataset.from_tensors(0).repeat()  # the data lives in the model; fit just ticks
    try:
        model.fit(ticks, epochs=cfg["training"]["epochs"], steps_per_epoch=math.ceil(spe / chunk),
                  callbacks=[_EpochOrder(), watch, *callbacks], shuffle=False, verbose=0)
    except Exception as exc:  # a callback's own error (e.g. ReduceLROnPlateau with a schedule)
        forget()
        return Outcome("failed", f"{exc.__class__.__name__}: {exc}", ledger.steps, ledger.epochs)
    return ledger.outcome()


_kept: dict = {}  # the last run's model, by what its graph was traced for (_model)


def _model(cfg: dict, data: datamod.Data, inside: bool) -> tuple[Recorder, list, int]:
    """(the run's model, attached, at its initial weights; the schedule's callbacks; its chunk).

    Keras traces and optimises each new model's train step anew: about 0.3 s of a default run
    of 0.8 s. A run whose config differs from the last one here only by its seed would get the
    very same graph (the same data, schedule, optimizer and chunk), so it gets the last model
    back: its weights set to this seed's initial ones, its optimizer's variables (step, rate,
    moments) to those of a new optimizer built on them, its batch order to this seed's. Its
    numbers are those of a new model (tests/test_training.py)."""
    weights = modelmod.initial_weights(cfg, data)
    sizes = [a.size for layer in weights for a in layer]
    batch = cfg["training"]["batch_size"]
    chunk = chunk_size(sum(sizes), batch, batches(len(data.X_train), batch), record_floats(sizes) if inside else 0)
    key = (json.dumps({**cfg, "training": {**cfg["training"], "seed": None}}, sort_keys=True),
           data.digest(), inside, chunk)
    model = _kept.get(key)
    if model is None:
        forget()
        model, callbacks = modelmod.build(cfg, data, cls=Recorder, jit_compile=False)
        model.attach(data, batch, cfg["training"]["seed"], chunk, inside)
        _kept[key] = model
        return model, callbacks, chunk
    model.set_weights([a for layer in weights for a in layer])
    fresh, callbacks = modelmod.optimizer(cfg)
    fresh.build(model.trainable_variables)
    for mine, new in zip(model.optimizer.variables, fresh.variables, strict=True):
        mine.assign(new)
    model.feed.seed = cfg["training"]["seed"]
    return model, callbacks, chunk


def forget() -> None:
    """Drop the last run's model and graphs: the next run builds its own. Without the full
    garbage collection clear_session adds (~0.2 s a run); Python's own collector and the pool's
    recycling of a grown worker keep memory bounded."""
    _kept.clear()
    keras.backend.clear_session(free_memory=False)


def warm_up() -> None:
    """Pay the one-time costs (lazy imports, the first trace) before any real job."""
    from .config import validate
    from .schedules import make

    run(validate({"schedule": make("constant"), "data": {"n_samples": 64}, "training": {"epochs": 2}}),
        lambda steps, epochs: None)


@dataclass
class Foreground:
    outcome: Outcome
    steps: list   # rows in STEP_COLUMNS order
    epochs: list  # rows in EPOCH_COLUMNS order
    metric: str
    views: list   # the model's view at each epoch: (epoch, extent, bytes), lrviz.model_view

    @property
    def ended(self) -> str:
        o = self.outcome
        return f"lrviz: run {o.status} after {o.epochs} epochs, {o.steps} steps" + (f": {o.error}" if o.error else "")


def foreground(cfg: dict) -> Foreground:
    """Train here with a progress bar on stderr."""
    from tqdm import tqdm

    from .config import steps_per_epoch as config_steps

    steps, epochs, metric = [], [], []
    bar = tqdm(total=cfg["training"]["epochs"] * config_steps(cfg), unit="step", file=sys.stderr,
               dynamic_ncols=True, mininterval=0.2)

    def sink(step_rows, epoch_rows):
        steps.extend(step_rows)
        epochs.extend(epoch_rows)
        bar.update(len(step_rows))
        if epoch_rows:
            bar.set_postfix_str(_progress(epoch_rows[-1], metric[0]), refresh=False)

    views = []
    sink.views = views.extend  # a sink that takes the model's views (Ledger.epoch_end)
    outcome = run(cfg, sink, on_start=metric.append)
    bar.close()
    return Foreground(outcome, steps, epochs, metric[0] if metric else "", views)


def train_cli(cfg: dict, out: str | None, steps_out: str | None, view_out: str | None = None) -> int:
    """Foreground training; writes the CSVs and the model's view (as the page's downloads) and
    says on stderr what it wrote; 0 when the run is done."""
    done = foreground(cfg)
    for path, kind, rows in ((out, "epochs", done.epochs), (steps_out, "steps", done.steps)):
        if path:
            _write_rows(path, kind, rows, done.metric)
    if view_out:
        _write_view(view_out, cfg, done.views)
    print(done.ended, file=sys.stderr)
    return 0 if done.outcome.status == "done" else 1


def _write_view(path: str, cfg: dict, views: list) -> None:
    from . import exports, model_view

    if not views:
        print(f"lrviz: no model view written to {path}: it is drawn for data of one or two features",
              file=sys.stderr)
        return
    shown = set(model_view.frame_epochs([epoch for epoch, *_ in views]))
    fig = model_view.animation([v for v in views if v[0] in shown], cfg["data"], len(views), "this run")
    with open(path, "w", encoding="utf-8") as f:
        f.write(exports.html(fig))
    print(f"lrviz: wrote {path}: the model's view over {len(views)} epochs", file=sys.stderr)


def _progress(epoch_row: tuple, metric: str) -> str:
    last = dict(zip(EPOCH_COLUMNS, epoch_row))
    val = "" if last["val_loss"] is None else f", val_loss {last['val_loss']:.4g}"
    return f"loss {last['loss']:.4g}{val}, {metric} {last['metric']:.4g}"


def _write_rows(path: str, kind: str, rows: list, metric: str) -> None:
    """The page's CSV of a run's rows, then one line on stderr: the file, its rows, its columns."""
    from . import exports

    columns = exports.run_columns(rows, kind, metric)
    with open(path, "w", newline="", encoding="utf-8") as f:
        exports.write_csv(columns, f)
    print(f"lrviz: wrote {path}: {len(rows)} rows, columns {','.join(columns)}", file=sys.stderr)
