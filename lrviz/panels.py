"""The sidebar's panels as plain data: which Params each panel shows, which control each
Param gets, and the mapping between a config and the widgets' values (keyed by widget key).

Nothing here imports Streamlit: ui.py draws what this module describes, so the mapping is
testable without a page, and presets, URLs and uploaded JSON all load through one path.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

from . import config as cfgmod
from . import optimizers
from .params import ConfigError, Param
from .schedules import DEFAULT, FAMILIES, family_id, make, params_of

FAMILY_KEY = "s.family"          # the schedule family selector
COMPARE_ON, COMPARE_FAMILY = "c.on", "c.family"
MANTISSAS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
UNITS = ("steps", "epochs", "% of the run")


@dataclass(frozen=True)
class Span:
    """How the page shows a schedule's step counts: as optimizer steps (Keras's unit), as
    epochs, or as a share of the run. The config always holds steps; a count given in epochs
    or in % of the run follows the run when its length changes."""

    unit: str = "steps"
    steps_per_epoch: int = 1
    total_steps: int = 1

    def _scale(self) -> float:
        return self.steps_per_epoch if self.unit == "epochs" else self.total_steps / 100.0

    def to_steps(self, value):
        if self.unit == "steps" or not isinstance(value, (int, float)) or isinstance(value, bool):
            return value
        steps = value * self._scale()
        if not math.isfinite(steps):
            return value  # validation refuses it, naming the field
        # A count the user made positive stays positive: 0.3 epochs of 2 steps is one step, not none.
        return max(int(round(steps)), 1 if value > 0 else 0)

    def from_steps(self, steps):
        """The shortest number in this unit that gives back the same step count."""
        if self.unit == "steps" or not isinstance(steps, (int, float)) or isinstance(steps, bool):
            return steps
        exact = steps / self._scale()
        for digits in range(1, 8):
            value = float(f"{exact:.{digits}g}")
            if self.to_steps(value) == steps:
                return value
        return exact


STEPS = Span()


@dataclass(frozen=True)
class Panel:
    """One sidebar panel: a config section and the Params it shows."""

    title: str
    section: str
    params: tuple[Param, ...]


OPTIMIZER_CLASS = Param("class_name", optimizers.ADAM, "choice", "Adam follows the schedule below. "
                        "ScheduleFreeAdamW needs none: it averages its iterates and is meant to run at a "
                        "constant rate (its own warmup_steps aside), validated at the average.",
                        choices=optimizers.CLASSES)
CLASS_WAS = "optimizer.class_name.was"  # the class the panel showed last: a change is a switch
# Every optimizer's Params on one panel under one key each: switching class keeps the betas.
OPTIMIZER_PARAMS = (OPTIMIZER_CLASS, *{p.name: p for s in optimizers.SECTIONS.values() for p in s.params}.values())

PANELS = (
    Panel("Optimizer", "optimizer", OPTIMIZER_PARAMS),
    Panel("Data", "data", tuple(p for p in cfgmod.DATA.params if p.name != "path")),
    Panel("Model", "model", cfgmod.MODEL.params),
    Panel("Training", "training", cfgmod.TRAINING.params),
)


@dataclass(frozen=True)
class PreviewOptions:
    """The preview panel: not part of the experiment, only of what is drawn."""

    log_y: bool = False
    adam_step: bool = False
    compare: dict | None = None  # a second schedule config, overlaid


@dataclass(frozen=True)
class Control:
    """How a Param is edited. kind: log (select slider over a log grid), number, int, bool,
    choice, list (comma-separated text), text."""

    kind: str
    options: tuple = ()
    low: float | None = None
    high: float | None = None


def log_grid(low: float | None, high: float | None, closed_zero: bool) -> tuple[float, ...]:
    """1, 1.5, 2, 3, 5, 7 per decade between the bounds; 0 first when 0 is allowed."""
    lo = max(low or 0.0, 1e-12)
    hi = high if high is not None else 1e3
    lo_exp, hi_exp = math.floor(math.log10(max(lo, 1e-12))), math.ceil(math.log10(hi))
    lo_exp = max(lo_exp, math.ceil(math.log10(hi)) - 10)  # ten decades are plenty on a slider
    grid = [float(f"{m * 10.0 ** e:.3g}") for e in range(lo_exp, hi_exp + 1) for m in MANTISSAS]
    grid = [g for g in grid if g <= hi and g > 0]
    return ((0.0,) if closed_zero else ()) + tuple(grid)


def control_for(p: Param) -> Control:
    if p.kind == "bool":
        return Control("bool")
    if p.kind == "choice":
        return Control("choice", tuple(p.choices))
    if p.kind in ("floats", "ints"):
        return Control("list")
    if p.kind == "text":
        return Control("text")
    if p.kind == "float" and p.log:
        zero_ok = p.low is not None and p.low <= 0 and not p.low_open
        return Control("log", log_grid(p.low, p.high, zero_ok))
    lo = p.low if p.low is not None else None
    hi = p.high if p.high is not None else None
    return Control("int" if p.kind == "int" else "number", (), lo, hi)


def with_value(options: tuple, value: float) -> tuple:
    """A log grid that surely holds `value` (a preset or URL may carry an off-grid one)."""
    if value in options:
        return options
    return tuple(sorted(set(options) | {float(value)}))


def fallback(p: Param):
    """The value an optional Param takes when the user switches it on."""
    if p.default is not None:
        return p.default
    guess = 1e-3 if p.log else 1.0
    if p.high is not None:
        guess = min(guess, p.high)
    if p.low is not None:
        guess = max(guess, p.low)
    return guess


def to_widget(p: Param, value):
    """A config value as its widget holds it."""
    if value is None:
        return None
    if p.kind in ("floats", "ints"):  # 15 digits: a float reads back as the same number
        return ", ".join(f"{v:.15g}" if isinstance(v, float) else str(v) for v in value)
    if p.kind == "float":
        return float(value)
    return value


def from_widget(p: Param, value, where: str):
    """A widget's value as config data; list text is parsed here (errors name the field)."""
    if p.kind in ("floats", "ints") and isinstance(value, str):
        try:
            items = [float(v) for v in value.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            items = [math.nan]
        if not all(math.isfinite(v) for v in items):
            raise ConfigError(where, value, "allowed: finite numbers separated by commas") from None
        return [int(v) if p.kind == "ints" and v == int(v) else v for v in items]
    return value


def param_state(params, prefix: str, values: dict, span: Span = STEPS) -> dict:
    """Widget keys and values for Params, given their config values."""
    out = {}
    for p in params:
        v = values.get(p.name, p.default)
        key = f"{prefix}.{p.name}"
        if p.kind == "schedule":  # a nested schedule: its own family selector and params
            out.update(schedule_state(v, key, span))
            continue
        if p.optional:
            out[key + ".on"] = v is not None
        v = fallback(p) if v is None else v
        if p.in_steps:
            v = [span.from_steps(x) for x in v] if isinstance(v, list) else span.from_steps(v)
        out[key] = to_widget(p, v)
    return out


def read_params(params, prefix: str, get, where: str, span: Span = STEPS) -> dict:
    """Config values of Params from widget state (get(key, default))."""
    out = {}
    for p in params:
        key = f"{prefix}.{p.name}"
        if p.kind == "schedule":
            out[p.name] = read_schedule(get, key, f"{where}.{p.name}", p.default, span)
            continue
        if p.optional and not get(key + ".on", False):
            out[p.name] = None
            continue
        value = from_widget(p, get(key, to_widget(p, fallback(p))), f"{where}.{p.name}")
        if p.in_steps:
            value = [span.to_steps(x) for x in value] if isinstance(value, list) else span.to_steps(value)
        out[p.name] = value
    return out


def step_params(which: str, get) -> dict:
    """{widget key: Param} of every step count kept for a schedule selector ("s" or "c"), in
    every family the state holds values for (switching families must not mix units)."""
    out = {}

    def walk(prefix: str, params, depth: int = 0):
        for p in params:
            key = f"{prefix}.{p.name}"
            if p.kind == "schedule" and depth == 0:
                for fam in FAMILIES.values():
                    walk(f"{key}.{fam.id}", fam.params, 1)
            elif p.in_steps and get(key, None) is not None:
                out[key] = p

    for fam in FAMILIES.values():
        walk(schedule_prefix(which, fam.id), fam.params)
    return out


def convert_units(which: str, get, old: Span, new: Span) -> dict:
    """The step counts of a schedule selector re-expressed from one unit in another."""
    out = {}
    for key, p in step_params(which, get).items():
        try:
            value = from_widget(p, get(key), key)
        except ConfigError:
            continue  # text that does not parse stays as typed; the page names its field
        if isinstance(value, list):
            out[key] = to_widget(p, [new.from_steps(old.to_steps(v)) for v in value])
        else:
            out[key] = new.from_steps(old.to_steps(value))
    return out


def has_step_counts(sched_family: str, nested_family: str | None = None) -> bool:
    fam = FAMILIES[sched_family]
    if any(p.in_steps for p in fam.params):
        return True
    return nested_family in FAMILIES and any(p.in_steps for p in FAMILIES[nested_family].params)


def schedule_prefix(which: str, family: str) -> str:
    return f"{which}.{family}"


def schedule_state(sched: dict, which: str = "s", span: Span = STEPS) -> dict:
    fam = family_id(sched)
    out = {f"{which}.family": fam}
    if "." not in which:  # a top-level selector owns the unit its step counts are shown in
        out[f"{which}.units"] = out[f"{which}.units.was"] = span.unit
    out.update(param_state(FAMILIES[fam].params, schedule_prefix(which, fam), params_of(sched), span))
    return out


def nested_families() -> list[str]:
    """Families a nested `schedule` param may hold: per-step ones that hold none themselves."""
    return [f.id for f in FAMILIES.values() if f.driver == "step" and not f.nests]


def read_schedule(get, which: str = "s", where: str | None = None, default: dict | None = None,
                  span: Span = STEPS) -> dict:
    fallback_family = family_id(default) if default else DEFAULT
    fam = get(f"{which}.family", fallback_family)
    if fam not in FAMILIES:
        fam = fallback_family
    where = where or ("schedule" if which == "s" else "comparison schedule")
    prefix = schedule_prefix(which, fam)
    if default and fam == family_id(default):
        # Unseen widgets take the nested default's values, not the family's.
        get = _with_defaults(get, FAMILIES[fam].params, prefix, params_of(default), span)
    return make(fam, **read_params(FAMILIES[fam].params, prefix, get, where, span))


def _with_defaults(get, params, prefix, values, span):
    state = param_state(params, prefix, values, span)
    return lambda key, d=None: get(key, state.get(key, d))


def config_state(cfg: dict, unit: str = "steps") -> dict:
    """Every widget value that shows a validated config, step counts in `unit`."""
    out = schedule_state(cfg["schedule"], "s", span_of(cfg, unit))
    for panel in PANELS:
        out.update(param_state(panel.params, panel.section, panel_values(cfg, panel.section)))
    out[CLASS_WAS] = out[f"optimizer.{OPTIMIZER_CLASS.name}"]  # a loaded class is no switch (class_switch)
    out["data.path"] = cfg["data"].get("path")
    return out


def panel_values(cfg: dict, section: str) -> dict:
    """A validated config's values of a panel's Params."""
    if section != "optimizer":
        return cfg[section]
    return {"class_name": optimizers.class_name(cfg["optimizer"]), **optimizers.settings(cfg["optimizer"])}


def shown(panel: Panel, get) -> tuple[Param, ...]:
    """The Params a panel shows now: the optimizer panel, its class's own."""
    if panel.section != "optimizer":
        return panel.params
    kind = get(f"optimizer.{OPTIMIZER_CLASS.name}", optimizers.ADAM)
    return (OPTIMIZER_CLASS, *optimizers.SECTIONS.get(kind, optimizers.SECTIONS[optimizers.ADAM]).params)


def class_switch(get, old: str, new: str) -> dict:
    """Widget values to change when the optimizer panel switches from class `old` to `new`: a
    setting still at the old class's default takes the new class's (Adam's epsilon is 1e-7,
    schedule-free AdamW's 1e-8); one the user set stays."""
    if old not in optimizers.SECTIONS or new not in optimizers.SECTIONS or old == new:
        return {}
    was = optimizers.SECTIONS[old].defaults()
    out = {}
    for p in optimizers.SECTIONS[new].params:
        key = f"optimizer.{p.name}"
        if p.name in was and was[p.name] != p.default and get(key, None) == to_widget(p, was[p.name]):
            out.update(param_state((p,), "optimizer", {p.name: p.default}))
    return out


def span_of(cfg: dict, unit: str) -> Span:
    """The Span of a validated config's run (raises ConfigError when a CSV cannot be read)."""
    if unit == "steps":
        return STEPS
    spe = cfgmod.data_steps_per_epoch(cfg["data"], cfg["training"]["batch_size"])
    return Span(unit, spe, spe * cfg["training"]["epochs"])


def read_config(get) -> dict:
    """The raw (unvalidated) config the widgets describe; config.validate checks it. Step
    counts given in epochs or % of the run become steps of the run the other panels describe:
    a ConfigError names the data or training field when that run cannot be known."""
    raw = {panel.section: read_params(shown(panel, get), panel.section, get, panel.section) for panel in PANELS}
    optimizer = raw["optimizer"]
    raw["optimizer"] = optimizers.make(optimizer.pop("class_name"), optimizer)
    raw["data"]["path"] = get("data.path", None)
    unit = get("s.units", "steps")
    span = STEPS
    if unit in UNITS and unit != "steps":
        span = span_of({"data": cfgmod.DATA.check(raw["data"], "data"),
                        "training": cfgmod.TRAINING.check(raw["training"], "training")}, unit)
    return {"schedule": read_schedule(get, span=span), **raw}


def read_preview(get, steps_per_epoch: int = 1, total_steps: int = 1) -> PreviewOptions:
    compare = None
    if get(COMPARE_ON, False):
        unit = get("c.units", "steps")
        span = Span(unit, steps_per_epoch, total_steps) if unit in UNITS else STEPS
        compare = read_schedule(get, "c", span=span)
    return PreviewOptions(bool(get("p.log_y", False)), bool(get("p.adam", False)), compare)


def peak_rate(sched: dict, epochs: int, steps_per_epoch: int) -> float | None:
    """The schedule's highest rate over the run (sampled beyond 100,000 steps)."""
    return _peak_rate(json.dumps(sched, sort_keys=True), epochs, steps_per_epoch)


@functools.lru_cache(maxsize=1024)
def _peak_rate(sched_json: str, epochs: int, steps_per_epoch: int, points: int = 100_000) -> float | None:
    # A run's config never changes, and the runs table is drawn on every rerun of every
    # session: compute each run's peak once, not once per widget change.
    import numpy as np

    from .schedules import Timeline, curve_on

    total = epochs * steps_per_epoch
    step = np.arange(0, total, max(1, -(-total // points)), dtype=np.float64)
    try:
        lr = curve_on(json.loads(sched_json), Timeline(step, np.floor(step / steps_per_epoch), steps_per_epoch, total))
    except (KeyError, TypeError, ValueError):
        return None
    return float(np.nanmax(lr)) if len(lr) else None


def summary(cfg: dict, steps_per_epoch: int | None = None) -> dict:
    """Key settings of a config, for the runs table."""
    sched = cfg.get("schedule", {})
    training = cfg.get("training", {})
    peak = None
    if sched and steps_per_epoch and training.get("epochs"):
        peak = peak_rate(sched, training["epochs"], steps_per_epoch)
    return {"schedule": family_id(sched) if sched else "?", "peak lr": peak,
            "epochs": training.get("epochs"), "batch size": training.get("batch_size"),
            "data": cfg.get("data", {}).get("name")}


def run_row(run: dict, trace) -> dict:
    """One line of the runs table: key settings and final / best metrics (NaN-safe)."""
    import numpy as np

    e = trace.epochs
    row = {"id": run["id"], "name": run.get("name"), "status": run.get("status"), **summary(run.get("config") or {}, trace.steps_per_epoch)}

    def pick(column, how):
        values = e.get(column)
        if values is None or not len(values) or not np.isfinite(values).any():
            return None
        finite = values[np.isfinite(values)]
        return float({"last": finite[-1], "min": finite.min(), "max": finite.max()}[how])

    name = trace.metric_name
    best = "max" if name == "accuracy" else "min"
    row["final loss"] = pick("loss", "last")
    row["final val_loss"] = pick("val_loss", "last")
    row["best val_loss"] = pick("val_loss", "min")
    row[f"final {name}"] = pick("metric", "last")
    row[f"final val_{name}"] = pick("val_metric", "last")
    row[f"best val_{name}"] = pick("val_metric", best)
    row["trained on"] = run.get("node")  # this machine's worker, or a Ray node's
    return row
