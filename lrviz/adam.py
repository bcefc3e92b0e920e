"""Adam's own factors as functions of the step, in NumPy: what multiplies the learning rate
inside the optimizer, drawn at once beside the schedule (no training).

t is the step count Keras and PyTorch use, step + 1: the first update is t = 1.
"""
from __future__ import annotations

import numpy as np

# PyTorch's RAdam takes the rectified adaptive step once rho_t > 5; Liu et al. (2019) write 4.
# This follows PyTorch, the reference the tests check against.
RHO_MIN = 5.0


def step_size(step, lr, beta_1: float, beta_2: float) -> np.ndarray:
    """Adam's bias-corrected step size lr·sqrt(1−β2^t)/(1−β1^t), with t = step + 1."""
    t = np.asarray(step, dtype=np.float64) + 1.0
    with np.errstate(all="ignore"):
        return np.asarray(lr) * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)


def schedule_free_warmup(step, warmup_steps: int) -> np.ndarray:
    """Schedule-free AdamW's own warmup, a factor on the rate: min(t / warmup_steps, 1)."""
    t = np.asarray(step, dtype=np.float64) + 1.0
    return np.minimum(t / warmup_steps, 1.0) if warmup_steps > 0 else np.ones_like(t)


def _betas(section: dict) -> tuple[float, float]:
    """(β1, β2) as the bias correction sees them: schedule-free AdamW keeps no first moment to
    correct (its β1 blends z and x), so its β1 there is 0."""
    from . import optimizers

    opt = optimizers.settings(section)
    first = 0.0 if optimizers.class_name(section) == optimizers.SCHEDULE_FREE else opt["beta_1"]
    return first, opt["beta_2"]


def bias_correction(step, section: dict) -> np.ndarray:
    """The factor bias correction puts on the rate at each step: Adam's √(1−β2^t)/(1−β1^t),
    schedule-free AdamW's √(1−β2^t)."""
    return step_size(step, 1.0, *_betas(section))


def optimizer_step_size(step, lr, section: dict) -> tuple[str, np.ndarray]:
    """(what it is, the values) of the step the config's optimizer takes along its raw moments'
    direction: the rate times the bias correction (times schedule-free AdamW's own warmup)."""
    from . import optimizers

    if optimizers.class_name(section) == optimizers.SCHEDULE_FREE:
        warmup = schedule_free_warmup(step, optimizers.settings(section)["warmup_steps"])
        return ("schedule-free step size lr·min(t/warmup_steps, 1)·√(1−β₂ᵗ)",
                step_size(step, np.asarray(lr) * warmup, *_betas(section)))
    return "Adam step size α_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ)", step_size(step, lr, *_betas(section))


def rectification(step, beta_2: float) -> np.ndarray:
    """RAdam's variance rectification r_t (Liu et al. 2019): how far the variance of Adam's
    adaptive step is from its long-run value, as a factor on the step. NaN while rho_t <= 5,
    where RAdam takes no adaptive step at all (plain momentum instead)."""
    t = np.asarray(step, dtype=np.float64) + 1.0
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    with np.errstate(all="ignore"):
        rho = rho_inf - 2.0 * t * beta_2**t / (1.0 - beta_2**t)
        r = np.sqrt((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
    return np.where(rho > RHO_MIN, r, np.nan)


def untuned_warmup(step, beta_2: float) -> np.ndarray:
    """Ma & Yarats (2019)'s untuned linear warmup: the rate's factor min(1, t·(1−β2)/2), over
    2/(1−β2) steps; it tracks RAdam's rectification, which is why warmup helps Adam early on."""
    t = np.asarray(step, dtype=np.float64) + 1.0
    return np.minimum(1.0, t * (1.0 - beta_2) / 2.0)
