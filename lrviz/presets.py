"""Ready-made setups: the article's two recipes first, then good modern ones."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from . import config as cfgmod
from .panels import config_state, span_of
from .params import ConfigError
from .schedules import FAMILIES, make

EPOCHS = 20
SETS = ("schedule", "optimizer", "training.epochs")  # what a preset sets; your data, model, batch stay


@dataclass(frozen=True)
class Preset:
    """A ready-made setup. Step counts are in `units`, so that "two epochs of warmup, then a
    cosine over the rest" stays true for any data, batch size and number of epochs."""

    name: str
    about: str
    schedule: tuple  # (family id, {arguments}, step counts in `units`)
    training: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    units: str = "steps"

    def config(self, base: dict | None = None, epochs: int | None = None) -> dict:
        """The preset over `base`'s data, model, batch size and seed (default: the defaults),
        for its own number of epochs or the given one."""
        base = base or cfgmod.default()
        family, params = self.schedule
        run = {"data": base["data"], "model": base["model"],
               "training": {**base["training"], "epochs": epochs or EPOCHS, **self.training}}
        span = span_of(run, self.units)
        steps = {p.name: span.to_steps(params[p.name]) if p.in_steps else params[p.name]
                 for p in FAMILIES[family].params if p.name in params}
        return cfgmod.validate({"schedule": make(family, **steps), "optimizer": dict(self.optimizer), **run})

    def state(self, base: dict | None = None) -> dict:
        """The widget values that show this preset, step counts in its own units."""
        return config_state(self.config(base), self.units)

    def changes(self, cfg: dict) -> list[str]:
        """The fields of a validated config that differ from this preset over the same data.
        Step counts are compared over the config's own epochs: with the preset's epochs and
        units they would follow the run, so only the epochs count as changed."""
        own = self.training.get("epochs", EPOCHS)
        epochs = [] if cfg["training"]["epochs"] == own else ["training.epochs"]
        want = self.config(cfg, cfg["training"]["epochs"])
        return epochs + [f for f in _differences(want, cfg) if f.startswith(SETS)]


def _differences(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if ("kind" in a and a.get("kind") != b.get("kind")) or a.get("class_name", 0) != b.get("class_name", 0):
            return [where + (" (class)" if where == "optimizer" else " (family)")]
        out = []
        for key in a.keys() | b.keys():
            out += _differences(a.get(key), b.get(key), f"{where}.{key}" if where else key)
        return sorted(out)
    return [] if a == b else [where]


def matching(cfg: dict, first: "Preset | None" = None) -> "Preset | None":
    """The preset a config is (trying `first` before the others), or None."""
    for preset in ([first] if first else []) + list(available().values()):
        try:
            if not preset.changes(cfg):
                return preset
        except ConfigError:
            continue  # a CSV that cannot be read: no preset can match it
    return None


PRESETS = (
    Preset("Article: time-based decay (LearningRateScheduler)",
           "initial_learning_rate = 0.1, decay = 0.1 / epochs, the article's function as written.",
           ("time_based_decay", {"initial_learning_rate": 0.1, "decay": 0.1 / EPOCHS, "compounding": True})),
    Preset("Article: Adam(lr=0.001, decay=1e-6)",
           "Keras 2's per-iteration decay; Keras 3 refuses lr= and ignores decay=.",
           ("legacy_adam_decay", {"learning_rate": 0.001, "decay": 1e-6})),
    Preset("Cosine decay with linear warmup",
           "Warmup to 3e-3 over the first 10 % of the run, then a cosine over the rest, down to 1 % of the peak.",
           ("CosineDecay", {"initial_learning_rate": 1e-5, "warmup_target": 3e-3, "warmup_steps": 10,
                            "decay_steps": 90, "alpha": 0.01}), units="% of the run"),
    Preset("One-cycle", "Up to the peak in 30 % of the run, then down far below the start.",
           ("one_cycle", {"maximal_learning_rate": 5e-3, "pct_start": 0.3})),
    Preset("Warmup, stable, decay (WSD)", "Warmup over 10 % of the run, a plateau over 65 %, a final decay "
           "over the last 25 %.",
           ("warmup_stable_decay", {"initial_learning_rate": 3e-3, "warmup_steps": 10, "stable_steps": 65,
                                    "decay_steps": 25, "alpha": 0.01}), units="% of the run"),
    Preset("Inverse square root (Transformer)", "Warmup over 10 % of the run, then lr ∝ 1/√step.",
           ("inverse_sqrt", {"initial_learning_rate": 3e-3, "warmup_steps": 10}), units="% of the run"),
    Preset("Cosine restarts (SGDR)", "Cosine periods of 4, 8 epochs, each restart at 80 % of the peak.",
           ("CosineDecayRestarts", {"initial_learning_rate": 3e-3, "first_decay_steps": 4,
                                    "t_mul": 2.0, "m_mul": 0.8, "alpha": 0.01}), units="epochs"),
    Preset("Exponential decay, staircase", "Halve the rate every 5 epochs.",
           ("ExponentialDecay", {"initial_learning_rate": 3e-3, "decay_steps": 5, "decay_rate": 0.5,
                                 "staircase": True}), units="epochs"),
    Preset("Step decay", "Drop by a factor at fixed epochs.", ("step_decay", {"initial_learning_rate": 3e-3,
                                                                          "drop": 0.5, "epochs_drop": 5})),
    Preset("ReduceLROnPlateau", "Cut the rate when val_loss stops improving.", ("reduce_lr_on_plateau",
                                                                                  {"initial_learning_rate": 3e-3,
                                                                                   "patience": 3, "factor": 0.5})),
    Preset("Constant 1e-3 (Adam's default)", "No decay at all: the baseline.",
           ("constant", {"learning_rate": 1e-3})),
)


@functools.cache
def available() -> dict[str, Preset]:
    """Presets whose family exists and whose settings validate, by name. Fixed for the process:
    the page asks on every rerun. Callers must not change the dict."""
    out = {}
    for p in PRESETS:
        if p.schedule[0] not in FAMILIES:
            continue
        try:
            p.config()
        except ConfigError:
            continue
        out[p.name] = p
    return out
