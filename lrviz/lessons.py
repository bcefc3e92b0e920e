"""Lessons from the papers, as ready experiments: each a seeded A/B (lrviz.experiments.ab) of two
setups on one small problem, with what to look for. A lesson reports what its own runs show
(the paired difference and its 95 % interval); the paper's claim is only what to look for.

Every lesson trains the same problem, small enough that its 2 × 5 runs take well under a minute
on a 2-core machine: moons (2,000 points, 20 % held out), a 16-16 ReLU MLP, 20 epochs of 50
steps.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from . import config as cfgmod
from .optimizers import SCHEDULE_FREE
from .presets import Preset
from .schedules import make

SETUP = {"data": {"name": "moons", "n_samples": 2000, "noise": 0.2}, "model": {"hidden_units": [16, 16]},
         "training": {"epochs": 20, "batch_size": 32}}
SEEDS = (0, 1, 2, 3, 4)
PEAK = 3e-3
BASE = cfgmod.validate({"schedule": make("constant"), **SETUP})
STEPS = cfgmod.steps_per_epoch(BASE) * SETUP["training"]["epochs"]  # 1,000


def _cosine(name: str, alpha: float = 0.01, **optimizer) -> Preset:
    return Preset(name, "", ("CosineDecay", {"initial_learning_rate": PEAK / 100, "warmup_target": PEAK,
                                              "warmup_steps": 5, "decay_steps": 95, "alpha": alpha}),
                  optimizer=optimizer, units="% of the run")


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    paper: str
    look_for: str
    a: Preset  # each arm: its schedule and optimizer, over SETUP
    b: Preset
    beta_2: float | None = None  # both arms' β₂, where the lesson is about it

    def spec(self) -> dict:
        """The A/B to run: {"a": CONFIG, "b": CONFIG, "seeds": [...]} (lrviz.experiments.ab)."""
        return {"a": self._arm(self.a), "b": self._arm(self.b), "seeds": list(SEEDS)}

    def _arm(self, preset: Preset) -> dict:
        cfg = preset.config(BASE, SETUP["training"]["epochs"])
        if self.beta_2 is not None:
            optimizer = dict(cfg["optimizer"])
            settings = optimizer["config"] if "class_name" in optimizer else optimizer
            settings["beta_2"] = self.beta_2
            cfg = cfgmod.validate({**cfg, "optimizer": optimizer})
        return cfg


LESSONS = (
    Lesson("one_cycle", "One-cycle vs a constant rate", "Smith & Topin 2017 (super-convergence)",
           "One-cycle climbs to a peak no constant run could hold, then anneals far below it. Look at B's loss "
           "in the last third, when its rate drops, and at the final val_loss.",
           Preset("A: constant 3e-3", "", ("constant", {"learning_rate": PEAK})),
           Preset("B: one-cycle, peak 1e-2", "", ("one_cycle", {"maximal_learning_rate": 1e-2, "pct_start": 0.3}))),
    Lesson("restarts", "Warm restarts vs plain cosine", "Loshchilov & Hutter 2016 (SGDR)",
           "Each restart throws the loss back up for a while; SGDR's promise is a good model at the end of every "
           "period. The run ends where B's third period does (within a step): does B match A's final val_loss?",
           Preset("A: cosine over the run", "", ("CosineDecay", {"initial_learning_rate": PEAK, "decay_steps": 100,
                                                                 "alpha": 0.01}), units="% of the run"),
           Preset("B: restarts, periods of 1/7, 2/7, 4/7 of the run", "",
                  ("CosineDecayRestarts", {"initial_learning_rate": PEAK, "first_decay_steps": 100 / 7,
                                           "t_mul": 2.0, "m_mul": 1.0, "alpha": 0.01}), units="% of the run")),
    Lesson("wsd_cooldown", "Warmup-stable-decay: a 10 % vs a 2.5 % cooldown",
           "Hu et al. 2024 (MiniCPM); Hägele et al. 2024",
           "Most of WSD's gain comes in the cooldown: both arms' loss drops once their rate decays. Hägele et al. "
           "found a cooldown of 10–20 % of the run enough; does 2.5 % leave B behind?",
           Preset("A: WSD, 10 % cooldown", "", ("warmup_stable_decay", {
               "initial_learning_rate": PEAK, "warmup_steps": 5, "stable_steps": 85, "decay_steps": 10,
               "alpha": 0.0, "decay_type": "1-sqrt"}), units="% of the run"),
           Preset("B: WSD, 2.5 % cooldown", "", ("warmup_stable_decay", {
               "initial_learning_rate": PEAK, "warmup_steps": 5, "stable_steps": 92.5, "decay_steps": 2.5,
               "alpha": 0.0, "decay_type": "1-sqrt"}), units="% of the run")),
    Lesson("linear_to_zero", "Linear decay to zero vs cosine to 10 %", "Bergsma et al. 2025",
           "Bergsma et al. found that decaying linearly to zero beats a cosine to 10 % of the peak, more so the "
           "longer the run. Same warmup and peak here: does ending at zero lower B's final val_loss?",
           _cosine("A: cosine to 10 %", alpha=0.1),
           Preset("B: linear to zero", "", ("linear_to_zero", {"initial_learning_rate": PEAK, "warmup_steps": 5}),
                  units="% of the run")),
    Lesson("schedule_free", "Schedule-free AdamW vs a cosine schedule", "Defazio et al. 2024",
           "B needs no schedule: a constant rate, its own warmup, validated at its running average x. Its "
           "val_loss at the training weights y (dotted, in the Runs tab) shows what the averaging buys.",
           _cosine("A: Adam, warmup and cosine"),
           Preset("B: schedule-free AdamW, constant 3e-3", "", ("constant", {"learning_rate": PEAK}),
                  optimizer={"class_name": SCHEDULE_FREE, "config": {"warmup_steps": STEPS // 20}})),
    Lesson("warmup", "Adam with vs without warmup", "Ma & Yarats 2019; Liu et al. 2019 (RAdam)",
           "β₂ = 0.99 here, so Adam's second moment averages over ~100 steps and the untuned warmup is "
           "2/(1−β₂) = 200 steps. A starts at its full rate 1e-2 while that estimate is noisy. Look at the "
           "first epochs of the loss, and at the final val_loss.",
           Preset("A: constant 1e-2", "", ("constant", {"learning_rate": 1e-2})),
           Preset("B: 200 steps of linear warmup to 1e-2", "", ("linear_warmup", {
               "warmup_steps": 200, "schedule": make("constant", learning_rate=1e-2)})),
           beta_2=0.99),
)


@functools.cache
def by_id() -> dict[str, Lesson]:
    return {lesson.id: lesson for lesson in LESSONS}


@functools.cache
def by_title() -> dict[str, Lesson]:
    """Lessons by title: an A/B a lesson started carries its title as its name."""
    return {lesson.title: lesson for lesson in LESSONS}
