"""Per-step families that Keras has no class for: each trains as a LearningRateSchedule that
evaluates the same formula with keras.ops (see to_keras.formula_schedule)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..params import ConfigError, Param
from .base import STEP, Family, Mark, Pitfall, rate, steps
from .to_keras import Keras, Script, formula_schedule, keras_class, keras_source, source, warmup_schedule


def _constant(p, t):
    return p["learning_rate"] + 0.0 * t.step


def _legacy(p, t):
    # Keras 2 divided by (1 + decay · iterations) at every update.
    return p["learning_rate"] / (1.0 + p["decay"] * t.step)


# Keras 3 dropped `decay`; InverseTimeDecay(lr, 1, decay) is the exact equivalent.
_LEGACY_KERAS = keras_class("InverseTimeDecay", lambda p: {
    "initial_learning_rate": p["learning_rate"], "decay_steps": 1, "decay_rate": p["decay"], "staircase": False})


def _legacy_pitfalls(p, epochs, spe):
    from . import make, curve

    step, _, modern = curve(make("legacy_adam_decay", **p), epochs, spe)
    flat = np.full_like(modern, p["learning_rate"])
    drop = 1 - modern[-1] / flat[-1] if len(modern) else 0.0
    return [Pitfall(
        "Keras 3 has no Adam(lr=…, decay=…)",
        "`Adam(lr=0.001, decay=1e-6)` raises **ValueError: Argument(s) not recognized: {'lr': 0.001}**. "
        "`Adam(learning_rate=0.001, decay=1e-6)` only warns that `decay` is no longer supported and "
        "trains at a **flat** rate. Keras 2 divided by (1 + decay · iterations) at every update; "
        "the exact Keras 3 equivalent is `InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)`, "
        f"which lrviz trains with. Over this run Keras 2 would have lowered the rate by {drop:.2%}.",
        [("Keras 3: Adam(learning_rate, decay) — decay ignored", step, flat),
         ("InverseTimeDecay(lr, 1, decay) — Keras 2's behaviour", step, modern)],
        "keras.optimizers.Adam(learning_rate=keras.optimizers.schedules.InverseTimeDecay(\n"
        f"    {p['learning_rate']!r}, decay_steps=1, decay_rate={p['decay']!r}))")]


def _cyclical(p, t):
    # Smith (2017), as PyTorch's CyclicLR: up in step_size steps, down in step_size_down. The
    # place in the cycle is counted in whole steps (exact in float32), not as PyTorch's fraction
    # 1 + s/total - cycle, which loses digits to cancellation in float32.
    xp, s = t.xp, t.step
    up = p["step_size"]
    down = p["step_size_down"] or up
    done = xp.floor(s / (up + down))  # cycles completed
    pos = s - done * (up + down)
    height = xp.where(pos <= up, pos / up, (up + down - pos) / down)
    if p["mode"] == "triangular2":
        scale = xp.power(0.5, done)
    elif p["mode"] == "exp_range":
        scale = xp.power(p["gamma"], s)
    else:
        scale = 1.0
    low = p["initial_learning_rate"]
    return low + (p["maximal_learning_rate"] - low) * height * scale


def _anneal(xp, strategy, start, end, pct):
    if strategy == "cos":
        # (1 + cos πp) / 2 written as cos²(πp/2): the same value, without float32 cancellation near p = 1.
        return end + (start - end) * xp.cos(0.5 * math.pi * pct) ** 2
    return start * (1.0 - pct) + end * pct  # exact at both ends in float32 too


def _one_cycle(p, t):
    # PyTorch's OneCycleLR: phase i runs from the previous end_step to its own, and the last
    # phase also covers anything after it.
    xp, s, n = t.xp, t.step, t.total_steps
    top = p["maximal_learning_rate"]
    low = top / p["div_factor"]
    final = low / p["final_div_factor"]
    up_end = p["pct_start"] * n - 1.0
    if p["three_phase"]:
        phases = [(up_end, low, top), (2.0 * p["pct_start"] * n - 2.0, top, low), (n - 1.0, low, final)]
    else:
        phases = [(up_end, low, top), (n - 1.0, top, final)]
    starts = [0.0] + [end for end, _, _ in phases[:-1]]
    lr = None
    for (end, a, b), begin in reversed(list(zip(phases, starts))):
        # A phase shorter than one step (tiny pct_start) would divide by zero; PyTorch crashes there.
        pct = (s - begin) / max(end - begin, 1e-12)
        here = _anneal(xp, p["anneal_strategy"], a, b, pct)
        lr = here if lr is None else xp.where(s <= end, here, lr)
    return lr


def _wsd(p, t):
    # Hugging Face's get_wsd_schedule: every phase is scaled between alpha and 1.
    xp, s, alpha = t.xp, t.step, p["alpha"]
    w, stable, d = p["warmup_steps"], p["stable_steps"], p["decay_steps"]
    warm = s / max(w, 1)
    progress = xp.minimum(xp.maximum(s - w - stable, 0.0) / max(d, 1), 1.0)
    if p["decay_type"] == "cosine":
        decayed = xp.cos(0.5 * math.pi * progress) ** 2  # (1 + cos πp) / 2, see _anneal
    elif p["decay_type"] == "1-sqrt":
        decayed = 1.0 - xp.sqrt(progress)  # Hägele et al. (2024): holds the rate up longer than linear
    else:
        decayed = 1.0 - progress
    factor = xp.where(s < w, warm, xp.where(s < w + stable, 1.0, decayed))
    return p["initial_learning_rate"] * (alpha + (1.0 - alpha) * factor)


def _inverse_sqrt(p, t):
    # Hugging Face's get_inverse_sqrt_schedule; timescale defaults to warmup_steps or 10,000.
    xp, s, w = t.xp, t.step, p["warmup_steps"]
    timescale = p["timescale"] or w or 10_000
    after = 1.0 / xp.sqrt((xp.maximum(s, w) + timescale - w) / timescale)
    return p["initial_learning_rate"] * xp.where(s < w, s / max(w, 1), after)


def _warmup(p, key="warmup_steps"):
    return [Mark("the warmup", p[key], "phase")] if p[key] > 0 else []


def _wsd_marks(p, spe):
    w, stable, d = p["warmup_steps"], p["stable_steps"], p["decay_steps"]
    return _warmup(p) + [Mark("the decay", w + stable + d, "end")]


def _linear_warmup_marks(p, spe):
    fam, inner = _inner(p)
    later = fam.marks(inner, spe) if fam.marks else []
    return _warmup(p) + [Mark(m.what, m.step + p["warmup_steps"], m.kind) for m in later]


def _inner_bad_rates(p):
    from . import _blamed

    return _blamed(p["schedule"], "schedule")


def _inner(p):
    from . import FAMILIES, family_id, params_of

    return FAMILIES[family_id(p["schedule"])], params_of(p["schedule"])


def warm_fraction(xp, shape, power, progress):
    """How far the warmup has come, 0 to 1, at progress = step / warmup_steps: linear; cosine and
    1-sqrt as Hugging Face's get_wsd_schedule; polynomial as optax's polynomial_schedule (fast,
    then flattening, for power > 1)."""
    if shape == "cosine":
        return 0.5 * (1.0 - xp.cos(math.pi * progress))
    if shape == "1-sqrt":
        return 1.0 - xp.sqrt(1.0 - progress)
    if shape == "polynomial":
        return 1.0 - xp.power(1.0 - progress, power)
    return progress


def _linear_warmup(p, t):
    # optax's join_schedules: the inner schedule starts at step W, seeing its own step 0.
    fam, inner = _inner(p)
    xp, w, start = t.xp, p["warmup_steps"], p["initial_learning_rate"]
    later = t.shifted(w)
    after = fam.curve(inner, later)
    first = fam.curve(inner, replace(later, step=0.0 * later.step, epoch=0.0 * later.epoch))
    progress = xp.minimum(t.step / max(w, 1), 1.0)
    warm = start + (first - start) * warm_fraction(xp, p["warmup_shape"], p["power"], progress)
    return xp.where(t.step < w, warm, after)


def _linear_warmup_keras(p, steps_per_epoch, total_steps):
    from . import keras_learning_rate

    w = p["warmup_steps"]
    inner, _ = keras_learning_rate(p["schedule"], steps_per_epoch, max(total_steps - w, 1))
    return warmup_schedule(inner, p["initial_learning_rate"], w, p["warmup_shape"], p["power"]), []


def _linear_warmup_script(p, total, nested):
    inner = nested(p["schedule"], f"max({total} - {p['warmup_steps']}, 1)")
    return Script((*inner.defs, source(warm_fraction), keras_source("Warmup")),
                  f"Warmup({inner.learning_rate}, {p['initial_learning_rate']!r}, {p['warmup_steps']!r}, "
                  f"{p['warmup_shape']!r}, {p['power']!r})")


class ScheduleParam(Param):
    """A nested schedule config, validated like the top-level one."""

    def allowed(self) -> str:
        return "allowed: a per-step schedule object ({'kind': ...} or {'class_name': ...})"

    def check(self, value, where):
        from . import FAMILIES, check_schedule, family_id

        kind = value.get("kind") if isinstance(value, dict) else None
        if kind in FAMILIES and FAMILIES[kind].nests:
            raise ConfigError(f"{where}.kind", kind,
                              "a warmup cannot wrap another warmup; use one with more warmup_steps")
        checked = check_schedule(value, where)
        fam = FAMILIES[family_id(checked)]
        if fam.driver != STEP:
            field = f"{where}.class_name" if "class_name" in checked else f"{where}.kind"
            raise ConfigError(field, fam.id, f"allowed: a per-step schedule; {fam.id} is driven by the "
                              f"{fam.driver}, not the step, so a warmup counted in steps cannot wrap it")
        return checked


COSINE = {"class_name": "CosineDecay",
          "config": {"initial_learning_rate": 0.01, "decay_steps": 1000, "alpha": 0.0,
                     "warmup_target": None, "warmup_steps": 0}}

ORDER = 10  # where its families are listed: see schedules._collect

FAMILIES = (
    Family("constant", "Constant", (rate("learning_rate", 0.001, "Adam's learning_rate, unchanged."),),
           r"\eta_s = \eta", _constant, formula_schedule("constant")),
    Family("legacy_adam_decay", "Keras 2 Adam(decay=…)",
           (rate("learning_rate", 0.001, "Adam's learning_rate before decay."),
            Param("decay", 1e-6, "float", "Keras 2's per-iteration decay.", low=0.0, high=1e3, log=True)),
           r"\eta_s = \frac{\eta_0}{1 + \text{decay} \cdot s}", _legacy, _LEGACY_KERAS, pitfalls=_legacy_pitfalls,
           note="Keras 3 ignores Adam(decay=…) with only a warning; this is its exact equivalent, "
                "InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)."),
    Family("cyclical", "Cyclical (CLR)",
           (rate(default=0.0001, help="Lowest rate of each cycle (Smith's base_lr)."),
            rate("maximal_learning_rate", 0.01, "Highest rate of each cycle (Smith's max_lr)."),
            steps("step_size", 200, "Steps from the lowest rate to the highest (PyTorch's step_size_up)."),
            Param("step_size_down", None, "int", "Steps from the highest rate back to the lowest (null: "
                  "step_size, a symmetric cycle).", low=1, high=10_000_000, optional=True, in_steps=True),
            Param("mode", "triangular", "choice", "triangular: same height; triangular2: halves every "
                  "cycle; exp_range: height times gamma^step.",
                  choices=("triangular", "triangular2", "exp_range")),
            Param("gamma", 0.999, "float", "Per-step height factor of exp_range.", low=0.0, high=1.0,
                  low_open=True)),
           r"\eta_s = \eta_{lo} + (\eta_{hi} - \eta_{lo})\, h(x)\,\sigma,\ x = 1 + \tfrac{s}{U + D} - c,"
           r"\ c = \lfloor 1 + \tfrac{s}{U + D} \rfloor,\ h \text{ up over } U \text{ steps, down over } D,"
           r"\ \sigma = 1,\ 2^{1-c} \text{ or } \gamma^{s}",
           _cyclical, formula_schedule("cyclical")),
    Family("one_cycle", "One-cycle",
           (rate("maximal_learning_rate", 0.01, "Peak rate, reached at pct_start of the run."),
            Param("pct_start", 0.3, "float", "Fraction of the run spent rising.", low=0.0, high=1.0,
                  low_open=True, high_open=True),
            Param("anneal_strategy", "cos", "choice", "Shape of each phase.", choices=("cos", "linear")),
            Param("div_factor", 25.0, "float", "Start rate = maximal_learning_rate / div_factor.",
                  low=1.0, high=1e6, log=True),
            Param("final_div_factor", 1e4, "float", "End rate = start rate / final_div_factor.",
                  low=1.0, high=1e9, log=True),
            Param("three_phase", False, "bool", "Fall back to the start rate before the final descent "
                  "(fast.ai's shape).")),
           r"\eta: \tfrac{\eta_{max}}{div} \nearrow \eta_{max} \searrow \tfrac{\eta_{max}}{div \cdot final}"
           r"\ \text{(PyTorch OneCycleLR over all steps)}",
           _one_cycle, formula_schedule("one_cycle"), helpers=(_anneal,),
           note="The run's total steps set the shape: more epochs stretch the cycle."),
    Family("warmup_stable_decay", "Warmup-stable-decay",
           (rate(default=0.001, help="Peak rate, held during the stable phase."),
            steps("warmup_steps", 100, "Steps of linear warmup from alpha · peak.", low=0),
            steps("stable_steps", 500, "Steps held at the peak.", low=0),
            steps("decay_steps", 400, "Steps of the final decay to alpha · peak."),
            Param("alpha", 0.0, "float", "Floor as a fraction of the peak rate.", low=0.0, high=1.0),
            Param("decay_type", "linear", "choice", "Shape of the decay: linear, cosine, or 1-sqrt "
                  "(1 − √progress, Hägele et al. 2024).", choices=("linear", "cosine", "1-sqrt"))),
           r"\eta_s = \eta_{peak}\,(\alpha + (1 - \alpha) f(s)),\ f: 0 \nearrow 1 \to 1 \searrow 0",
           _wsd, formula_schedule("warmup_stable_decay"), marks=_wsd_marks),
    Family("inverse_sqrt", "Inverse square root",
           (rate(default=0.001, help="Peak rate, at the end of warmup."),
            steps("warmup_steps", 100, "Steps of linear warmup from 0.", low=0),
            Param("timescale", None, "int", "Steps for the rate to fall by √2 (null: warmup_steps, "
                  "or 10,000 without warmup).", low=1, high=10_000_000, optional=True, in_steps=True)),
           r"\eta_s = \eta_0 \,/\, \sqrt{(s + \tau - W) / \tau}\ \text{ after } s / W \text{ warmup}",
           _inverse_sqrt, formula_schedule("inverse_sqrt"), marks=lambda p, spe: _warmup(p)),
    Family("linear_warmup", "Warmup + any per-step schedule",
           (steps("warmup_steps", 100, "Steps of warmup.", low=0),
            Param("initial_learning_rate", 0.0, "float", "Rate at step 0, rising to the inner schedule's "
                  "first rate.", low=0.0, high=10.0, is_rate=True),
            Param("warmup_shape", "linear", "choice", "How the rate rises: linear; cosine (slow, fast, "
                  "slow); 1-sqrt (slow, then steep); polynomial: 1 − (1 − s/W)^power (optax).",
                  choices=("linear", "cosine", "1-sqrt", "polynomial")),
            Param("power", 2.0, "float", "The polynomial warmup's power (>1: fast then flat).",
                  low=0.0, high=10.0, low_open=True),
            ScheduleParam("schedule", COSINE, "schedule", "The schedule that follows; it sees its own "
                          "step 0 at step warmup_steps.")),
           r"\eta_s = \eta_{start} + (f(0) - \eta_{start})\,w(s/W) \text{ for } s < W,\ \text{else } f(s - W)",
           _linear_warmup, Keras(_linear_warmup_keras, _linear_warmup_script), marks=_linear_warmup_marks, bad_rates=_inner_bad_rates),
)
