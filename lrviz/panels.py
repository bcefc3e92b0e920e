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
from .params import ConfigError, Param
from .schedules import FAMILIES, family_id, make, params_of

FAMILY_KEY = "s.family"          # the schedule family selector
COMPARE_ON, COMPARE_FAMILY = "c.on", "c.family"
MANTISSAS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)


@dataclass(frozen=True)
class Panel:
    """One sidebar panel: a config section and the Params it shows."""

    title: str
    section: str
    params: tuple[Param, ...]


PANELS = (
    Panel("Adam", "optimizer", cfgmod.OPTIMIZER.params),
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
    if p.kind in ("floats", "ints"):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if p.kind == "float":
        return float(value)
    return value


def from_widget(p: Param, value, where: str):
    """A widget's value as config data; list text is parsed here (errors name the field)."""
    if p.kind in ("floats", "ints") and isinstance(value, str):
        try:
            items = [float(v) for v in value.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            raise ConfigError(where, value, "allowed: numbers separated by commas") from None
        return [int(v) if p.kind == "ints" and v == int(v) else v for v in items]
    return value


def param_state(params, prefix: str, values: dict) -> dict:
    """Widget keys and values for Params, given their config values."""
    out = {}
    for p in params:
        v = values.get(p.name, p.default)
        key = f"{prefix}.{p.name}"
        if p.kind == "schedule":  # a nested schedule: its own family selector and params
            out.update(schedule_state(v, key))
            continue
        if p.optional:
            out[key + ".on"] = v is not None
        out[key] = to_widget(p, fallback(p) if v is None else v)
    return out


def read_params(params, prefix: str, get, where: str) -> dict:
    """Config values of Params from widget state (get(key, default))."""
    out = {}
    for p in params:
        key = f"{prefix}.{p.name}"
        if p.kind == "schedule":
            out[p.name] = read_schedule(get, key, f"{where}.{p.name}", p.default)
            continue
        if p.optional and not get(key + ".on", False):
            out[p.name] = None
            continue
        out[p.name] = from_widget(p, get(key, to_widget(p, fallback(p))), f"{where}.{p.name}")
    return out


def schedule_prefix(which: str, family: str) -> str:
    return f"{which}.{family}"


def schedule_state(sched: dict, which: str = "s") -> dict:
    fam = family_id(sched)
    out = {f"{which}.family": fam}
    out.update(param_state(FAMILIES[fam].params, schedule_prefix(which, fam), params_of(sched)))
    return out


def nested_families() -> list[str]:
    """Families a nested `schedule` param may hold: per-step ones, no warmup in a warmup."""
    return [f.id for f in FAMILIES.values() if f.driver == "step" and f.id != "linear_warmup"]


def read_schedule(get, which: str = "s", where: str | None = None, default: dict | None = None) -> dict:
    fallback_family = family_id(default) if default else "constant"
    fam = get(f"{which}.family", fallback_family)
    if fam not in FAMILIES:
        fam = fallback_family
    where = where or ("schedule" if which == "s" else "comparison schedule")
    if default and fam == family_id(default):
        # Unseen widgets take the nested default's values, not the family's.
        inner = read_params(FAMILIES[fam].params, schedule_prefix(which, fam),
                            _with_defaults(get, FAMILIES[fam].params, schedule_prefix(which, fam),
                                           params_of(default)), where)
        return make(fam, **inner)
    values = read_params(FAMILIES[fam].params, schedule_prefix(which, fam), get, where)
    return make(fam, **values)


def _with_defaults(get, params, prefix, values):
    state = param_state(params, prefix, values)
    return lambda key, d=None: get(key, state.get(key, d))


def config_state(cfg: dict) -> dict:
    """Every widget value that shows a validated config."""
    out = schedule_state(cfg["schedule"])
    for panel in PANELS:
        out.update(param_state(panel.params, panel.section, cfg[panel.section]))
    out["data.path"] = cfg["data"].get("path")
    return out


def read_config(get) -> dict:
    """The raw (unvalidated) config the widgets describe; config.validate checks it."""
    raw = {"schedule": read_schedule(get)}
    for panel in PANELS:
        raw[panel.section] = read_params(panel.params, panel.section, get, panel.section)
    raw["data"]["path"] = get("data.path", None)
    return raw


def read_preview(get) -> PreviewOptions:
    compare = read_schedule(get, "c") if get(COMPARE_ON, False) else None
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
        return float(values[np.isfinite(values)][-1] if how == "last" else np.nanmin(values))

    row["final loss"] = pick("loss", "last")
    row["best val_loss"] = pick("val_loss", "min")
    row[f"final {trace.metric or 'metric'}"] = pick("metric", "last")
    return row
