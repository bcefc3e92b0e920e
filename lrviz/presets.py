"""Ready-made setups (the article's two recipes first, then good modern ones) and the
article's pitfalls: what Keras 3 really does with each recipe, as curves and notes."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from . import config as cfgmod
from .panels import config_state, span_of
from .params import ConfigError
from .schedules import FAMILIES, curve, family_id, make, params_of

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
            return [where + " (family)"]
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


@dataclass
class Pitfall:
    """A warning about the chosen schedule, with the curves that show it."""

    title: str
    text: str  # Markdown written here, never user text
    curves: list = field(default_factory=list)  # [(label, step, lr)]
    code: str = ""


def pitfalls(cfg: dict, epochs: int, spe: int) -> list[Pitfall]:
    """The article's pitfalls that apply to a validated config."""
    sched = cfg["schedule"]
    fam = family_id(sched)
    p = params_of(sched)
    out: list[Pitfall] = []
    if fam == "legacy_adam_decay":
        step, _, modern = curve(sched, epochs, spe)
        flat = np.full_like(modern, p["learning_rate"])
        drop = 1 - modern[-1] / flat[-1] if len(modern) else 0.0
        out.append(Pitfall(
            "Keras 3 has no Adam(lr=…, decay=…)",
            "`Adam(lr=0.001, decay=1e-6)` raises **ValueError: Argument(s) not recognized: {'lr': 0.001}**. "
            "`Adam(learning_rate=0.001, decay=1e-6)` only warns that `decay` is no longer supported and "
            "trains at a **flat** rate. Keras 2 divided by (1 + decay · iterations) at every update; "
            "the exact Keras 3 equivalent is `InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)`, "
            f"which lrviz trains with. Over this run Keras 2 would have lowered the rate by {drop:.2%}.",
            [("Keras 3: Adam(learning_rate, decay) — decay ignored", step, flat),
             ("InverseTimeDecay(lr, 1, decay) — Keras 2's behaviour", step, modern)],
            "keras.optimizers.Adam(learning_rate=keras.optimizers.schedules.InverseTimeDecay(\n"
            f"    {p['learning_rate']!r}, decay_steps=1, decay_rate={p['decay']!r}))"))
    elif fam == "time_based_decay":
        as_written = {**sched, "compounding": True}
        textbook = {**sched, "compounding": False}
        step, _, lr_w = curve(as_written, epochs, spe)
        _, _, lr_t = curve(textbook, epochs, spe)
        _, _, lr_d = curve({**as_written, "initial_learning_rate": 0.001}, epochs, spe)
        last = max(epochs - 1, 0)
        out.append(Pitfall(
            "The article's function compounds",
            "`LearningRateScheduler` calls `lr_time_based_decay(epoch, lr)` with the **current** rate, so "
            "`lr * 1 / (1 + decay * epoch)` divides again every epoch: "
            "η_e = η_0 / ∏(1 + decay·k), not the textbook η_0 / (1 + decay·e). "
            f"At epoch {last}: {lr_w[-1]:.3g} as written vs {lr_t[-1]:.3g} textbook. "
            "And its start is the optimizer's own `learning_rate`: with `optimizer='adam'` that is "
            "**0.001**, not the `initial_learning_rate = 0.1` the article sets (lrviz starts Adam at "
            "initial_learning_rate).",
            [("as written (compounding)", step, lr_w), ("textbook η0 / (1 + d·e)", step, lr_t),
             ("as written, started by optimizer='adam' (0.001)", step, lr_d)]))
    elif FAMILIES[fam].driver == "metric":
        out.append(Pitfall(
            "ReduceLROnPlateau needs a plain-number learning rate",
            "`ReduceLROnPlateau` sets `optimizer.learning_rate` when it fires. An Adam built with a "
            "`LearningRateSchedule` object refuses that: **TypeError: This optimizer was created with a "
            "`LearningRateSchedule` object as its `learning_rate` constructor argument, hence its learning "
            "rate is not settable** — and only when the first reduction fires, mid-training. lrviz gives "
            "Adam a float here. The preview assumes val_loss never improves; the real curve depends on "
            "training."))
    return out
