"""Does the schedule fit the run? Step counts are fixed numbers while the run's length follows
the epochs, the batch size and the data: a cosine may end halfway through training, or a
warmup may outlast it. notes() says where, from each family's declared marks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import FAMILIES, Timeline, curve_on, family_id, params_of


SLACK = 0.01  # a phase that misses the run's end by less than this share (or one step) fits it:
# step counts given in % of the run are rounded one by one, and their sum may be a step off


@dataclass(frozen=True)
class Note:
    text: str          # Markdown written here: no user text
    step: float        # where to mark it on the preview
    label: str         # a few words for that mark


def notes(cfg: dict, epochs: int, steps_per_epoch: int) -> list[Note]:
    fam = FAMILIES[family_id(cfg)]
    if fam.marks is None:
        return []
    total = epochs * steps_per_epoch
    out = []
    for mark in fam.marks(params_of(cfg), steps_per_epoch):
        note = _note(mark, cfg, total, epochs, steps_per_epoch)
        if note:
            out.append(note)
    return out


def _note(mark, cfg, total, epochs, spe) -> Note | None:
    what, at = mark.what, mark.step
    slack = max(1.0, SLACK * total)
    where = f"step {at:,.0f} ({_epoch(at, spe)})"
    run = f"the run has {total:,} steps ({epochs} epochs)"
    if mark.kind == "change":
        if at < total:
            return None
        return Note(f"**{what.capitalize()} never happens**: it comes at {where}, but {run}.", total, "no " + what)
    if at > total + slack:
        share = f"{100 * total / at:.0f} % of the way" if mark.kind == "end" else ""
        last = f"; the rate at the last step is {_last_rate(cfg, total, spe):.3g}"
        return Note(f"**{what.capitalize()} never completes**: it would end at {where}, but {run}"
                    f"{' (' + share + ')' if share else ''}{last}.", total, what + " cut off")
    if mark.kind == "end" and at < total - slack:
        rest = total - int(at)
        return Note(f"**The schedule ends before training does**: {what} ends at {where} of {epochs}; "
                    f"the last {rest:,} steps ({100 * rest / total:.0f} % of the run) stay at "
                    f"{_last_rate(cfg, total, spe):.3g}.", at, what + " ends")
    return None


def _last_rate(cfg: dict, total: int, spe: int) -> float:
    """The rate of the run's last step, alone: the page asks on every rerun."""
    step = np.array([total - 1.0])
    return float(curve_on(cfg, Timeline(step, np.floor(step / spe), spe, total))[0])


def _epoch(step: float, spe: int) -> str:
    e = step / spe
    return f"epoch {e:,.0f}" if e == int(e) else f"epoch {e:,.1f}"


def arithmetic(cfg: dict, epochs: int, steps_per_epoch: int) -> list[str]:
    """Where Keras's float32 arithmetic departs from the mathematical schedule in this run (the
    preview and training follow Keras)."""
    if family_id(cfg) != "CosineDecayRestarts":
        return []
    import numpy as np

    from .keras_classes import cosine_restarts_departures

    p = params_of(cfg)
    rounded = float(np.float32(p["t_mul"]))
    cause = (f"Keras computes with t_mul rounded to float32 ({rounded!r}), so its periods drift from the "
             "exact ones" if rounded != p["t_mul"] else
             "Keras finds the period with floor(log(…)/log(t_mul)) in float32, which can land a restart a "
             "step early or late")
    found = cosine_restarts_departures(p, epochs * steps_per_epoch)
    if found is None:
        return [f"**This run has too many restart periods to compare Keras's float32 arithmetic with the exact "
                f"SGDR schedule step by step.** {cause}. The preview shows what Keras trains with."]
    if not found:
        return []
    shown = "; ".join(f"step {s:,} ({_epoch(s, steps_per_epoch)}): Keras is in period {k}, the exact schedule "
                      f"in period {e}" for s, k, e in found[:3])
    more = f" and {len(found) - 3:,} more" if len(found) > 3 else ""
    return [f"**Keras's float32 arithmetic departs from the exact SGDR schedule** at {len(found):,} step(s) of "
            f"this run — {shown}{more}. {cause}. The preview shows what Keras trains with."]
