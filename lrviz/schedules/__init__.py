"""The schedule catalogue: every family, its validation, and its curve.

A schedule config is either Keras's serialised form, {"class_name": ..., "config": {...}},
for Keras's six LearningRateSchedule classes, or {"kind": ..., <arguments>} for the rest.
"""
from __future__ import annotations

import numpy as np

from ..params import ConfigError, keras_form
from .base import EPOCH, METRIC, STEP, Family, Pitfall, Timeline

KERAS_MODULE = "keras.optimizers.schedules"
# The package's modules that declare no family (keras_schedules imports Keras: only training and
# generated scripts load it; coverage reads the catalogue).
NOT_FAMILIES = ("base", "coverage", "keras_schedules", "to_keras")


def _collect() -> dict[str, Family]:
    """Every module of this package that declares FAMILIES: a new family is one file. They are
    listed (on the page too) by each module's ORDER, then by name."""
    import importlib
    import pkgutil

    modules = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)
               if m.name not in NOT_FAMILIES]
    out: dict[str, Family] = {}
    for module in sorted((m for m in modules if hasattr(m, "FAMILIES")),
                         key=lambda m: (getattr(m, "ORDER", 50), m.__name__)):
        for fam in module.FAMILIES:
            out[fam.id] = fam
    return out


FAMILIES: dict[str, Family] = _collect()
DEFAULT = "constant"  # the family a new config starts from


def get_family(family_id: str) -> Family:
    return FAMILIES[family_id]


def family_id(cfg: dict) -> str:
    """The family a canonical schedule config belongs to."""
    return cfg["class_name"] if "class_name" in cfg else cfg["kind"]


def params_of(cfg: dict) -> dict:
    return cfg["config"] if "class_name" in cfg else {k: v for k, v in cfg.items() if k != "kind"}


def make(family: str, **params) -> dict:
    """A canonical schedule config from a family id and its arguments (defaults filled)."""
    fam = FAMILIES[family]
    full = {**fam.defaults(), **params}
    return {"class_name": family, "config": full} if fam.keras_class else {"kind": family, **full}


def check_schedule(raw, where: str = "schedule") -> dict:
    """Validate a schedule config and return its canonical form, or raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(where, raw, "allowed: a JSON object with 'kind' or 'class_name'")
    if "class_name" in raw:
        return _check_keras_form(raw, where)
    kind = raw.get("kind")
    fam = FAMILIES.get(kind) if isinstance(kind, str) else None
    if fam is None or fam.keras_class:
        kinds = ", ".join(sorted(f.id for f in FAMILIES.values() if not f.keras_class))
        raise ConfigError(f"{where}.kind", kind, f"allowed kinds: {kinds} (or a Keras class_name)")
    params = {k: v for k, v in raw.items() if k != "kind"}
    checked = fam.section.check(params, where)
    if fam.check:
        fam.check(checked, where)
    return {"kind": fam.id, **checked}


def _check_keras_form(raw: dict, where: str) -> dict:
    name, config = keras_form(raw, where, [f.id for f in FAMILIES.values() if f.keras_class], KERAS_MODULE)
    fam = FAMILIES[name]
    checked = fam.section.check(config, f"{where}.config")
    if fam.check:
        fam.check(checked, f"{where}.config")
    return {"class_name": name, "config": checked}


def curve_on(cfg: dict, timeline: Timeline) -> np.ndarray:
    """The learning rate at every step of a timeline, float64."""
    fam = FAMILIES[family_id(cfg)]
    with np.errstate(all="ignore"):
        values = fam.curve(params_of(cfg), timeline)
    return np.broadcast_to(np.asarray(values, dtype=np.float64), timeline.step.shape).copy()


def curve(cfg: dict, epochs: int, steps_per_epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step, epoch, learning_rate) for every optimizer step of a run."""
    t = Timeline.of(epochs, steps_per_epoch)
    return t.step.astype(np.int64), t.epoch.astype(np.int64), curve_on(cfg, t)


def check_on_run(cfg: dict, epochs: int, steps_per_epoch: int, where: str = "schedule") -> None:
    """Refuse a schedule that gives a rate that is not finite and >= 0 somewhere in this run.

    Only families that can (a typed formula, shrinking restarts) are evaluated; the message
    quotes the run's own steps per epoch, as the page shows them."""
    field = _blamed(cfg, where)
    if field is None:
        return
    _, _, lr = curve(cfg, epochs, steps_per_epoch)
    bad = ~np.isfinite(lr) | (lr < 0)
    if bad.any():
        at = int(np.argmax(bad))
        value = _field_value(cfg, field.removeprefix(where + "."))
        raise ConfigError(field, value, f"gives the rate {float(lr[at])!r} at step {at:,} (epoch {at // steps_per_epoch}, "
                          f"with {steps_per_epoch:,} steps per epoch); a learning rate must be finite and >= 0")


def _blamed(cfg: dict, where: str) -> str | None:
    fam = FAMILIES[family_id(cfg)]
    name = fam.bad_rates(params_of(cfg)) if fam.bad_rates else None
    if name is None:
        return None
    inner = "config." if "class_name" in cfg else ""
    return f"{where}.{inner}{name}"


def _field_value(cfg: dict, dotted: str):
    value = cfg
    for part in dotted.split("."):
        value = value[part]
    return value


def pitfalls(cfg: dict, epochs: int, steps_per_epoch: int) -> list[Pitfall]:
    """What Keras really does with this schedule that users do not expect."""
    fam = FAMILIES[family_id(cfg)]
    return fam.pitfalls(params_of(cfg), epochs, steps_per_epoch) if fam.pitfalls else []


def scaled(cfg: dict, factor: float) -> dict:
    """The schedule with every learning rate it holds (nested ones too) times factor: the same
    shape at another height. Raises ConfigError where a rate leaves its range."""
    fam = FAMILIES[family_id(cfg)]
    p = dict(params_of(cfg))
    for param in fam.params:
        value = p[param.name]
        if param.kind == "schedule":
            p[param.name] = scaled(value, factor)
        elif param.is_rate and value is not None:
            p[param.name] = [v * factor for v in value] if isinstance(value, list) else value * factor
    return check_schedule(make(fam.id, **p))


def with_peak(cfg: dict, learning_rate: float, epochs: int, steps_per_epoch: int) -> dict:
    """The schedule scaled so that its highest rate over this run is learning_rate."""
    _, _, lr = curve(cfg, epochs, steps_per_epoch)
    peak = float(np.max(lr)) if len(lr) else 0.0
    if not peak > 0:
        raise ConfigError("schedule", params_of(cfg), "has no positive rate in this run to scale")
    return scaled(cfg, learning_rate / peak)


def keras_learning_rate(cfg: dict, steps_per_epoch: int, total_steps: int) -> tuple:
    """(Adam's learning_rate argument, [callbacks]) that make Keras apply this schedule."""
    fam = FAMILIES[family_id(cfg)]
    return fam.keras(params_of(cfg), steps_per_epoch, total_steps)


__all__ = ["FAMILIES", "DEFAULT", "Family", "Timeline", "STEP", "EPOCH", "METRIC", "ConfigError",
           "get_family", "family_id", "params_of", "make", "check_schedule", "check_on_run", "curve", "curve_on",
           "keras_learning_rate", "Pitfall", "pitfalls", "scaled", "with_peak"]
