"""The optimizer section: Adam, or schedule-free AdamW as the "no schedule" choice.

Adam's section is the flat form lrviz always had ({"beta_1": 0.9, ...}). Any optimizer may also
be given in Keras's serialised form, {"class_name": ..., "config": {...}}: Adam's becomes the
flat form, schedule-free AdamW's stays in Keras's form (canonical). The rate is never here: the
schedule section sets it, for either optimizer.
"""
from __future__ import annotations

from .params import ConfigError, Param, Section, keras_form

ADAM, SCHEDULE_FREE = "Adam", "ScheduleFreeAdamW"
KERAS_MODULE = "keras.optimizers"

_BETA_2 = Param("beta_2", 0.999, "float", "Decay of the second-moment (variance) estimate.", low=0.0,
                high=1.0, high_open=True)
_DECAY_AND_CLIPS = (
    Param("weight_decay", None, "float", "Decoupled weight decay: var -= var · wd · lr (null: off).",
          low=0.0, high=1.0, optional=True, log=True),
    Param("clipnorm", None, "float", "Clip each gradient to this norm (null: off).", low=0.0, high=1e6,
          low_open=True, optional=True),
    Param("clipvalue", None, "float", "Clip each gradient element to ±value (null: off).", low=0.0,
          high=1e6, low_open=True, optional=True),
    Param("global_clipnorm", None, "float", "Clip all gradients by their global norm (null: off).",
          low=0.0, high=1e6, low_open=True, optional=True),
)

SECTIONS = {  # Keras's constructor arguments, its defaults
    ADAM: Section((
        Param("beta_1", 0.9, "float", "Decay of the first-moment (mean) estimate.", low=0.0, high=1.0,
              high_open=True),
        _BETA_2,
        Param("epsilon", 1e-7, "float", "Added to the denominator for numerical stability.", low=0.0,
              high=1.0, low_open=True, log=True),
        Param("amsgrad", False, "bool", "Use the maximum of past second moments (AMSGrad)."),
        *_DECAY_AND_CLIPS)),
    SCHEDULE_FREE: Section((
        # Not 0: the averaged point x is recovered from the weights by dividing by beta_1.
        Param("beta_1", 0.9, "float", "Interpolation between the step sequence z and the average x "
              "(the weights are y = (1−β₁)·z + β₁·x).", low=0.0, high=1.0, low_open=True, high_open=True),
        _BETA_2,
        Param("epsilon", 1e-8, "float", "Added to the denominator for numerical stability.", low=0.0,
              high=1.0, low_open=True, log=True),
        Param("warmup_steps", 0, "int", "Its own linear warmup: the rate × min(t / warmup_steps, 1).",
              low=0, high=2_000_000),
        *_DECAY_AND_CLIPS)),
}
CLASSES = tuple(SECTIONS)
LABELS = {ADAM: "Adam", SCHEDULE_FREE: "Schedule-free AdamW"}
RATE_KEYS = {"lr": "Keras 3 removed `lr`; the rate comes from the schedule section",
             "decay": "Keras 3 ignores `decay`; use schedule kind 'legacy_adam_decay'",
             "learning_rate": "the learning rate is set by the schedule section"}


def check(raw, where: str = "optimizer") -> dict:
    """An optimizer section in canonical form, or ConfigError naming the field."""
    if isinstance(raw, dict) and "class_name" in raw:
        return _check_keras_form(raw, where)
    return _checked(ADAM, raw, where)


def _check_keras_form(raw: dict, where: str) -> dict:
    name, config = keras_form(raw, where, CLASSES, KERAS_MODULE)
    return _checked(name, config, f"{where}.config")


def _checked(name: str, config, where: str) -> dict:
    if isinstance(config, dict):
        for key, why in RATE_KEYS.items():
            if key in config:
                raise ConfigError(f"{where}.{key}", config[key], why)
    settings_ = SECTIONS[name].check(config, where)
    clips = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if settings_[k] is not None]
    if len(clips) > 1:
        raise ConfigError(f"{where}.{clips[1]}", settings_[clips[1]],
                          f"only one of clipnorm, clipvalue, global_clipnorm may be set ({clips[0]} is)")
    return make(name, settings_)


def make(name: str, settings_: dict) -> dict:
    """The canonical section of an optimizer class with these (checked) settings."""
    return dict(settings_) if name == ADAM else {"class_name": name, "config": dict(settings_)}


def class_name(section: dict) -> str:
    return section.get("class_name", ADAM)


def settings(section: dict) -> dict:
    """The constructor's arguments but the rate, whichever form the section has."""
    return section["config"] if "class_name" in section else section


def title(section: dict) -> str:
    """The optimizer and its betas, as a heading says them."""
    opt = settings(section)
    return f"{LABELS[class_name(section)]} β₁={opt['beta_1']:g}, β₂={opt['beta_2']:g}"


def is_schedule_free(cfg: dict) -> bool:
    return class_name(cfg["optimizer"]) == SCHEDULE_FREE


def averaged_point(optimizer, variables):
    """Schedule-free AdamW's average x of each variable, where the method is meant to be evaluated.

    Keras writes y = (1 - beta_1)·z + beta_1·x into the model's variables, z being the optimizer's
    `momentum` slot; this is its own recovery of x (ScheduleFreeAdamW.update_step), run eagerly
    (in a graph TensorFlow may turn the division into a multiplication, and round otherwise)."""
    from keras import ops

    beta_1 = optimizer.beta_1
    return [ops.divide(ops.subtract(v, ops.multiply(1 - beta_1, optimizer._momentums[optimizer._get_variable_index(v)])),
                       beta_1) for v in variables]
