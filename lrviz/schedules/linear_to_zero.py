"""Linear decay to zero: an optional linear warmup, then a straight line from the peak to 0, held
at 0 after (Hugging Face's get_linear_schedule_with_warmup; optax's linear_schedule to 0 and
PyTorch's LinearLR(end_factor=0) without warmup)."""
from __future__ import annotations

from ..params import Param
from .base import Family, Mark, rate, steps
from .to_keras import formula_schedule

ORDER = 15  # after the other per-step families


def _decay_steps(p, total_steps):
    """decay_steps, or null: until the run ends."""
    return p["decay_steps"] or max(total_steps - p["warmup_steps"], 1)


def _curve(p, t):
    xp, s, w = t.xp, t.step, p["warmup_steps"]
    d = _decay_steps(p, t.total_steps)
    after = xp.maximum(0.0, 1.0 - (s - w) / d)
    return p["initial_learning_rate"] * xp.where(s < w, s / max(w, 1), after)


def _marks(p, spe):
    warm = [Mark("the warmup", p["warmup_steps"], "phase")] if p["warmup_steps"] else []
    end = [Mark("the decay to zero", p["warmup_steps"] + p["decay_steps"], "end")] if p["decay_steps"] else []
    return warm + end


FAMILIES = (
    Family("linear_to_zero", "Linear decay to zero",
           (rate(default=0.001, help="Peak rate: at step warmup_steps, falling from there to 0."),
            steps("warmup_steps", 0, "Steps of linear warmup from 0 to the peak.", low=0),
            Param("decay_steps", None, "int", "Steps of the decay to 0 (null: until the run ends).",
                  low=1, high=10_000_000, optional=True, in_steps=True)),
           r"\eta_s = \eta_{peak}\,\tfrac{s}{W} \text{ for } s < W,\ \text{else } "
           r"\eta_{peak} \max\!\left(0,\ 1 - \tfrac{s - W}{D}\right)",
           _curve, formula_schedule("linear_to_zero"), marks=_marks, helpers=(_decay_steps,),
           note="Decay steps null: the line reaches 0 at the run's last step, whatever its length."),
)
