"""Ready-made setups (the article's two recipes first, then good modern ones) and the
article's pitfalls: what Keras 3 really does with each recipe, as curves and notes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import config as cfgmod
from .params import ConfigError
from .schedules import FAMILIES, curve, family_id, make, params_of

# The default data (2,000 moons, 20 % held out, batch 32) gives 50 steps per epoch.
EPOCHS = 20
SPE = 50


@dataclass(frozen=True)
class Preset:
    name: str
    about: str
    schedule: tuple  # (family id, {arguments})
    training: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)

    def config(self) -> dict:
        family, params = self.schedule
        return cfgmod.validate({"schedule": make(family, **params),
                                "training": {"epochs": EPOCHS, **self.training},
                                "optimizer": dict(self.optimizer)})


PRESETS = (
    Preset("Article: time-based decay (LearningRateScheduler)",
           "initial_learning_rate = 0.1, decay = 0.1 / epochs, the article's function as written.",
           ("time_based_decay", {"initial_learning_rate": 0.1, "decay": 0.1 / EPOCHS, "compounding": True})),
    Preset("Article: Adam(lr=0.001, decay=1e-6)",
           "Keras 2's per-iteration decay; Keras 3 refuses lr= and ignores decay=.",
           ("legacy_adam_decay", {"learning_rate": 0.001, "decay": 1e-6})),
    Preset("Cosine decay with linear warmup",
           "Two epochs of warmup to 3e-3, then a cosine down to 1 % of the peak.",
           ("CosineDecay", {"initial_learning_rate": 1e-5, "warmup_target": 3e-3, "warmup_steps": 2 * SPE,
                            "decay_steps": (EPOCHS - 2) * SPE, "alpha": 0.01})),
    Preset("One-cycle", "Up to the peak in 30 % of the run, then down far below the start.",
           ("one_cycle", {"maximal_learning_rate": 5e-3, "pct_start": 0.3})),
    Preset("Warmup, stable, decay (WSD)", "Short warmup, long plateau, quick final decay.",
           ("warmup_stable_decay", {"initial_learning_rate": 3e-3, "warmup_steps": 2 * SPE,
                                    "stable_steps": 13 * SPE, "decay_steps": 5 * SPE, "alpha": 0.01})),
    Preset("Inverse square root (Transformer)", "Warmup, then lr ∝ 1/√step.", ("inverse_sqrt", {"initial_learning_rate": 3e-3,
                                                                       "warmup_steps": 2 * SPE})),
    Preset("Cosine restarts (SGDR)", "Cosine periods of 4, 8 epochs, each restart at 80 % of the peak.",
           ("CosineDecayRestarts", {"initial_learning_rate": 3e-3, "first_decay_steps": 4 * SPE,
                                    "t_mul": 2.0, "m_mul": 0.8, "alpha": 0.01})),
    Preset("Exponential decay, staircase", "Halve the rate every 5 epochs.",
           ("ExponentialDecay", {"initial_learning_rate": 3e-3, "decay_steps": 5 * SPE, "decay_rate": 0.5,
                                 "staircase": True})),
    Preset("Step decay", "Drop by a factor at fixed epochs.", ("step_decay", {"initial_learning_rate": 3e-3,
                                                                          "drop": 0.5, "epochs_drop": 5})),
    Preset("ReduceLROnPlateau", "Cut the rate when val_loss stops improving.", ("reduce_lr_on_plateau",
                                                                                  {"initial_learning_rate": 3e-3,
                                                                                   "patience": 3, "factor": 0.5})),
    Preset("Constant 1e-3 (Adam's default)", "No decay at all: the baseline.",
           ("constant", {"learning_rate": 1e-3})),
)


def available() -> dict[str, Preset]:
    """Presets whose family exists and whose settings validate, by name."""
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
