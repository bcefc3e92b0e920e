"""Exercise links: a teacher fixes a setup and hides or locks chosen controls (as TensorFlow
Playground's `*_hide` keys do); every visitor who opens the link starts from that setup, and
their runs are the exercise's, for a class view that overlays them all.

An exercise is stored (its id is the link's `exercise` parameter), so a student cannot unlock
a control by editing the link: the server checks every run asked for in an exercise against its
fixed controls (check_run). A control is `schedule` (the whole schedule), or a sidebar setting
by its config path (`optimizer.beta_1`, `training.epochs`); `data.name` fixes the data set and
its CSV file.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from . import config as cfgmod
from . import optimizers
from .panels import PANELS
from .params import ConfigError

PARAM = "exercise"  # the link's query parameter
CONTROLS = ("schedule", *(f"{panel.section}.{p.name}" for panel in PANELS for p in panel.params))
MAX_NAME = 100


@dataclass(frozen=True)
class Exercise:
    id: str
    name: str
    config: dict
    hidden: tuple[str, ...]  # not drawn at all
    locked: tuple[str, ...]  # drawn, not changeable
    visitor: str | None = None  # who made it

    @property
    def fixed(self) -> tuple[str, ...]:
        return (*self.hidden, *self.locked)

    def check(self, cfg: dict) -> None:
        """ConfigError for the first fixed control whose value a validated config changes."""
        for control in self.fixed:
            wanted, got = value(self.config, control), value(cfg, control)
            if got != wanted:
                raise ConfigError(control, got, f"the exercise “{self.name}” fixes it at {wanted!r}")


def value(cfg: dict, control: str):
    """A validated config's value of one control."""
    if control == "schedule":
        return cfg["schedule"]
    section, name = control.split(".", 1)
    if section == "optimizer":
        kind = optimizers.class_name(cfg["optimizer"])
        return kind if name == "class_name" else optimizers.settings(cfg["optimizer"]).get(name)
    if control == "data.name":
        return cfg["data"]["name"], cfg["data"].get("path")
    return cfg[section].get(name)


def control_of(key: str) -> str:
    """The control a sidebar widget's session key belongs to: the schedule's widgets are "s.…";
    a setting's own extras ("training.seed.on") go with it, and the CSV file with the data set."""
    if key.startswith("s."):
        return "schedule"
    section, _, rest = key.partition(".")
    control = f"{section}.{rest.split('.')[0]}"
    return "data.name" if control == "data.path" else control


def control_of_path(path: str) -> str:
    """The control a config path belongs to (a sweep's field: `schedule.decay_steps`,
    `optimizer.config.beta_1`)."""
    if path.split(".")[0] == "schedule":
        return "schedule"
    return control_of(".".join(part for part in path.split(".") if part != "config"))


def make(store, name: str, config: dict, hidden, locked, visitor: str | None = None) -> Exercise:
    """A new exercise of this config (validated), stored; ConfigError names a bad field."""
    shown = (name or "").strip()
    if not shown or len(shown) > MAX_NAME:
        raise ConfigError("exercise name", name, f"allowed: 1 to {MAX_NAME} characters")
    cfg = cfgmod.validate(config)
    for field, controls in (("hide", hidden), ("lock", locked)):
        unknown = [c for c in controls if c not in CONTROLS]
        if unknown:
            raise ConfigError(field, unknown[0], "allowed: " + ", ".join(CONTROLS))
    hidden, locked = list(dict.fromkeys(hidden)), [c for c in dict.fromkeys(locked) if c not in hidden]
    ident = secrets.token_urlsafe(9)
    store.create_exercise(ident, shown, cfg, hidden, locked, visitor)
    return get(store, ident)


def get(store, ident) -> Exercise | None:
    """The stored exercise of a link's id, or None (no such exercise; junk)."""
    if not isinstance(ident, str) or not 0 < len(ident) <= 32:
        return None
    row = store.exercise(ident)
    if row is None:
        return None
    return Exercise(row["id"], row["name"], row["config"], tuple(row["hidden"]), tuple(row["locked"]), row["visitor"])


def check_run(store, ident: str, cfg: dict) -> None:
    """ConfigError unless a run of this validated config may train in the exercise."""
    exercise = get(store, ident) if store is not None else None
    if exercise is None:
        raise ConfigError(PARAM, ident, "no such exercise on this server: open the link your teacher gave again")
    exercise.check(cfg)
