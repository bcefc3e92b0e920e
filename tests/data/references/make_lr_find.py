"""Write reference LR-finder data produced by fastai itself (fastai.callback.schedule).

This script is NOT part of lrviz and is not imported by its tests. It needs fastai, which lrviz does
not depend on, so run it in a separate scratch virtual environment:

    python3.11 -m venv /tmp/fastaivenv
    /tmp/fastaivenv/bin/pip install fastai==2.8.12 fastcore==2.2.41 torch==2.14.1 \
        torchvision==0.29.1 numpy==2.4.6
    /tmp/fastaivenv/bin/python tests/data/references/make_lr_find.py    # from the repository root

(The versions above are the ones the committed lr_find.json was generated with: Python 3.11.7,
fastai 2.8.12, fastcore 2.2.41, torch 2.14.1 (the default PyPI wheel, run on the CPU), numpy 2.4.6.
The script records the versions it actually ran with in the JSON file.)

It writes, next to itself, lr_find.json. For every case the raw per-batch losses are scripted
(deterministic, numpy.random.default_rng(seed)), and everything else comes from fastai's own code:

* learning_rate[i] = fastai's SchedExp(start_lr, end_lr)(i / num_it), i.e.
  start_lr * (end_lr / start_lr) ** (i / num_it), a Python float (float64). LRFinder.before_batch calls
  self._update_val(self.train_iter / self.num_it) and train_iter is the number of batches already
  done (TrainEvalCallback increments it in after_batch), so batch i (from 0) uses pos = i / num_it.
* smoothed_loss[i] = fastai.learner.AvgSmoothLoss(beta=0.98).value after the i-th accumulate:
  val = torch.lerp(loss, val, 0.98) (val starts at tensor(0.)), value = val / (1 - 0.98 ** count).
  This is float32 arithmetic: val starts as a float32 tensor and torch.lerp refuses a float64 loss,
  and a real fastai loss is float32, so the raw float64 loss is given to it as a float32 tensor.
  smoothed_loss_float64 is the same formula evaluated by this script in float64 (NOT fastai's
  numbers; there only to show how far float32 rounding moves the values).
* recorded: LRFinder.after_batch (callback order 60) runs after Recorder.after_batch (order 50), which
  appends (lr, smoothed loss) for the batch, and after TrainEvalCallback.after_batch (order -10),
  which increments train_iter. LRFinder then does
      if smooth_loss < best_loss: best_loss = smooth_loss          (best_loss starts at float('inf'))
      if smooth_loss > 4*best_loss and stop_div: raise CancelFitException()
      if train_iter >= num_it: raise CancelFitException()
  so the batch that triggers the stop is recorded, and at most num_it batches are recorded. The
  factor 4 is hard-coded in fastai (stop_factor 4.0 here). A NaN smoothed loss compares False both
  ways, so NaN never stops the finder (once val is NaN it stays NaN). An inf loss makes the smoothed
  loss inf (inf > 4*best, so it stops on that batch); a finite loss after an inf gives NaN.
* suggestions: exactly Learner.lr_find: lrs, losses = tensor(recorder.lrs[num_it//10:-5]),
  tensor(recorder.losses[num_it//10:-5]) (fastai's tensor() turns float64 into float32, so both are
  float32 tensors); if losses has a NaN, both are cut before the first NaN; then fastai's own valley,
  steep and minimum (fastai.callback.schedule) are called as func(lrs, losses, num_it). Each entry
  stores the returned suggestion and point (lr, loss) as Python floats.

As a cross-check the script also runs fastai's real Learner.lr_find on a dummy model whose loss
function returns the scripted losses, and asserts that its Recorder (lrs, losses) and its
suggestions equal the emulation exactly.
"""
from __future__ import annotations

import inspect
import json
import math
import platform
import re
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

import fastai
import fastcore
from fastai.callback.schedule import LRFinder, SchedExp, minimum, steep, valley
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import AvgSmoothLoss, Learner, Recorder
from fastai.optimizer import SGD
from fastai.torch_core import tensor

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

OUT = Path(__file__).resolve().parent
BETA = 0.98
STOP_FACTOR = 4.0  # hard-coded in fastai's LRFinder.after_batch

VERSIONS = {
    "python": platform.python_version(),
    "fastai": fastai.__version__,
    "fastcore": fastcore.__version__,
    "torch": torch.__version__,
    "numpy": np.__version__,
}


def _strip_docstrings(src: str) -> str:
    return re.sub(r'(?s)\n(\s*)r?"""(.*?)"""', r"\n\1# (docstring removed)", src)


def source_of(obj) -> str:
    return _strip_docstrings(inspect.getsource(obj))


# --- scripted raw losses ---------------------------------------------------------------------------
def lr_grid(start_lr: float, end_lr: float, num_it: int) -> list[float]:
    sched = SchedExp(start_lr, end_lr)
    lrs = [float(sched(i / num_it)) for i in range(num_it)]
    for i, v in enumerate(lrs):
        assert v == start_lr * (end_lr / start_lr) ** (i / num_it)
    return lrs


def shaped_losses(lrs, *, seed, base, low, x_descent, width, x_explode, scale, amp, noise,
                  explode=True):
    """Flat ~base, sigmoid descent to ~low around log10(lr) = x_descent, then (if explode) a term
    amp * exp((log10(lr) - x_explode) / scale) that grows fast; multiplicative gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.log10(np.asarray(lrs, dtype=np.float64))
    curve = base - (base - low) / (1.0 + np.exp(-(x - x_descent) / width))
    if explode:
        curve = curve + amp * np.exp((x - x_explode) / scale)
    raw = curve * (1.0 + noise * rng.standard_normal(len(lrs)))
    raw = np.abs(raw)
    return [float(v) for v in raw]


CASES = [
    dict(name="typical_100", num_it=100, start_lr=1e-7, end_lr=10.0,
         shape=dict(seed=0, base=2.30, low=0.9, x_descent=-3.5, width=0.35, x_explode=-1.2,
                    scale=0.25, amp=0.2, noise=0.03)),
    dict(name="narrow_range_200", num_it=200, start_lr=1e-5, end_lr=1.0,
         shape=dict(seed=1, base=1.10, low=0.35, x_descent=-2.6, width=0.25, x_explode=-1.3,
                    scale=0.15, amp=0.1, noise=0.02)),
    dict(name="never_explodes_300", num_it=300, start_lr=1e-7, end_lr=10.0,
         shape=dict(seed=2, base=0.70, low=0.25, x_descent=-2.0, width=0.5, x_explode=0.0,
                    scale=1.0, amp=0.0, noise=0.02, explode=False)),
    dict(name="nan_loss_200", num_it=200, start_lr=1e-7, end_lr=10.0,
         shape=dict(seed=3, base=4.60, low=2.0, x_descent=-3.0, width=0.3, x_explode=-0.6,
                    scale=0.3, amp=0.3, noise=0.03),
         nan_from=150),   # raw loss NaN from batch 150 on (before the smoothed loss reaches 4x best)
    dict(name="very_noisy_300", num_it=300, start_lr=1e-7, end_lr=10.0,
         shape=dict(seed=4, base=3.0, low=1.2, x_descent=-3.2, width=0.4, x_explode=-1.0,
                    scale=0.3, amp=0.3, noise=0.25)),
    dict(name="inf_loss_100", num_it=100, start_lr=1e-7, end_lr=10.0,
         shape=dict(seed=5, base=1.5, low=0.6, x_descent=-4.0, width=0.3, x_explode=-0.5,
                    scale=0.3, amp=0.2, noise=0.04),
         inf_from=80),    # raw loss +inf from batch 80 on
]


# --- fastai emulation -------------------------------------------------------------------------------
class _StandIn:
    """What AvgSmoothLoss.accumulate reads from a Learner: only `.loss`."""
    loss: torch.Tensor


def fastai_smoothed(raw: list[float]) -> list[torch.Tensor]:
    m = AvgSmoothLoss(beta=BETA)
    m.reset()
    learn = _StandIn()
    out = []
    for v in raw:
        learn.loss = torch.tensor(v, dtype=torch.float32)  # a real fastai loss is float32
        m.accumulate(learn)
        val = m.value
        assert val.dtype == torch.float32
        out.append(val)
    return out


def float64_smoothed(raw: list[float]) -> list[float]:
    """AvgSmoothLoss's formula (same torch.lerp) evaluated in float64 -- not fastai's own numbers."""
    val, out = torch.tensor(0.0, dtype=torch.float64), []
    for n, v in enumerate(raw, 1):
        val = torch.lerp(torch.tensor(v, dtype=torch.float64), val, BETA)
        out.append(float(val / (1 - BETA ** n)))
    return out


def lr_finder_stop(smoothed: list[torch.Tensor], num_it: int) -> int:
    """LRFinder.after_batch (stop_div=True); returns how many batches the Recorder holds."""
    best_loss = float("inf")
    for i, smooth_loss in enumerate(smoothed):
        train_iter = i + 1  # TrainEvalCallback.after_batch (order -10) already ran
        if smooth_loss < best_loss:
            best_loss = smooth_loss
        if smooth_loss > 4 * best_loss:
            return train_iter
        if train_iter >= num_it:
            return train_iter
    raise AssertionError("ran out of scripted losses")


def suggestions(rec_lrs: list, rec_losses: list, num_it: int) -> tuple[dict, dict]:
    lrs, losses = tensor(rec_lrs[num_it // 10:-5]), tensor(rec_losses[num_it // 10:-5])
    assert lrs.dtype == torch.float32 and losses.dtype == torch.float32
    nan_idxs = torch.nonzero(torch.isnan(losses.view(-1)))
    info = {"slice": [num_it // 10, len(rec_lrs) - 5], "nan_cut": None}
    if len(nan_idxs) > 0:
        drop_idx = min(nan_idxs)
        lrs = lrs[:drop_idx]
        losses = losses[:drop_idx]
        info["nan_cut"] = int(drop_idx)
    info["n"] = len(losses)
    out = {}
    for func in (valley, steep, minimum):
        sugg, (plr, ploss) = func(lrs, losses, num_it)
        out[func.__name__] = {"learning_rate": float(sugg), "point": [float(plr), float(ploss)]}
    return out, info


# --- cross-check with fastai's real Learner.lr_find ----------------------------------------------
class _ScriptedLoss:
    def __init__(self, raw):
        self.raw, self.i = raw, 0

    def __call__(self, pred, *yb):
        v = self.raw[self.i]
        self.i += 1
        return pred.sum() * 0.0 + torch.tensor(v, dtype=torch.float32)


def real_lr_find(c: dict, raw: list[float]):
    torch.manual_seed(0)
    n = len(raw)
    ds = [(torch.zeros(1), torch.zeros(1)) for _ in range(n)]
    dls = DataLoaders(DataLoader(ds, bs=1, shuffle=False), DataLoader(ds[:2], bs=1), device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        learn = Learner(dls, nn.Linear(1, 1), loss_func=_ScriptedLoss(raw), path=tmp,
                        opt_func=SGD)
        with learn.no_bar():
            res = learn.lr_find(start_lr=c["start_lr"], end_lr=c["end_lr"], num_it=c["num_it"],
                                show_plot=False, suggest_funcs=(valley, steep, minimum))
        rec: Recorder = learn.recorder
        return list(rec.lrs), list(rec.losses), res, learn.loss_func.i


def _num(v: float):
    return v if math.isfinite(v) else None


def _nonfinite(values) -> list:
    """[[index, "nan" | "inf" | "-inf"], ...] -- what the nulls stood for."""
    return [[i, "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")]
            for i, v in enumerate(values) if not math.isfinite(v)]


def run_case(c: dict) -> dict:
    num_it = c["num_it"]
    lrs = lr_grid(c["start_lr"], c["end_lr"], num_it)
    raw = shaped_losses(lrs, **c["shape"])
    if "nan_from" in c:
        raw[c["nan_from"]:] = [float("nan")] * (num_it - c["nan_from"])
    if "inf_from" in c:
        raw[c["inf_from"]:] = [float("inf")] * (num_it - c["inf_from"])
    sm_t = fastai_smoothed(raw)
    recorded = lr_finder_stop(sm_t, num_it)
    rec_lrs, rec_losses = lrs[:recorded], sm_t[:recorded]
    sugg, info = suggestions(rec_lrs, rec_losses, num_it)

    # cross-check against fastai's own lr_find
    r_lrs, r_losses, r_res, n_calls = real_lr_find(c, raw)
    assert n_calls == recorded, (c["name"], n_calls, recorded)
    assert r_lrs == rec_lrs, c["name"]
    assert len(r_losses) == recorded
    for a, b in zip(r_losses, rec_losses):
        assert (torch.isnan(a) and torch.isnan(b)) or bool(a == b), (c["name"], a, b)
    for nm in ("valley", "steep", "minimum"):
        assert float(getattr(r_res, nm)) == sugg[nm]["learning_rate"], (c["name"], nm)

    sm64 = float64_smoothed(raw)
    rec64 = lr_finder_stop([torch.tensor(v, dtype=torch.float64) for v in sm64], num_it)
    smoothed = [float(v) for v in sm_t]
    return {
        "name": c["name"],
        "num_it": num_it,
        "stop_factor": STOP_FACTOR,
        "start_lr": c["start_lr"],
        "end_lr": c["end_lr"],
        "learning_rate": lrs,
        "loss": [_num(v) for v in raw],
        "smoothed_loss": [_num(v) for v in smoothed],
        "smoothed_loss_float64": [_num(v) for v in sm64],
        "nonfinite": {"loss": _nonfinite(raw), "smoothed_loss": _nonfinite(smoothed),
                      "smoothed_loss_float64": _nonfinite(sm64)},
        "recorded": recorded,
        "recorded_if_float64": rec64,
        "suggestion_input": info,
        "suggestions": sugg,
        "loss_shape": {k: v for k, v in c.items() if k in ("shape", "nan_from", "inf_from")},
    }


def main():
    print(json.dumps(VERSIONS), file=sys.stderr)
    cases = [run_case(c) for c in CASES]
    doc = {
        "library": "fastai",
        "versions": VERSIONS,
        "source": "fastai.callback.schedule (SchedExp, LRFinder.before_batch/after_batch, "
                  "Learner.lr_find, valley, steep, minimum) and fastai.learner (AvgSmoothLoss, Recorder)",
        "learning_rate": "learning_rate[i] = SchedExp(start_lr, end_lr)(i / num_it) = "
                         "start_lr * (end_lr / start_lr) ** (i / num_it), float64, i = 0..num_it-1",
        "smoothing": "AvgSmoothLoss(beta=0.98) in float32: val_0 = 0; val_n = torch.lerp(loss_n, val_{n-1}, "
                     "0.98) = loss_n + 0.98 * (val_{n-1} - loss_n); smoothed_n = val_n / (1 - 0.98**n) "
                     "(n from 1). smoothed_loss has one value per raw loss (computed past the stop too).",
        "stop_rule": "after batch i (recorded first): train_iter = i + 1; if s < best: best = s; "
                     "if s > 4 * best: stop; if train_iter >= num_it: stop (best starts at inf). "
                     "recorded = number of (lr, smoothed loss) rows the Recorder holds, stopping batch "
                     "included. NaN never stops it; inf stops it.",
        "suggestion_rule": "Learner.lr_find: lrs, losses = tensor(rec.lrs[num_it//10:-5]), "
                           "tensor(rec.losses[num_it//10:-5]) (float32); cut both before the first NaN "
                           "loss; func(lrs, losses, num_it) for valley, steep, minimum. "
                           "suggestion_input.slice = [start, stop) into the recorded rows, "
                           "nan_cut = index (into the slice) of the first NaN or null, n = length used.",
        "notes": "Non-finite numbers are stored as null (loss and smoothed_loss of the NaN/inf cases); "
                 "each case's nonfinite lists [index, 'nan'|'inf'|'-inf'] for every null. "
                 "Verified against fastai's real Learner.lr_find on a dummy model whose loss function "
                 "returns the scripted losses: same recorded lrs/losses and suggestions.",
        "fastai_source": {
            "SchedExp": source_of(SchedExp) + source_of(sys.modules[SchedExp.__module__].sched_exp),
            "LRFinder": source_of(LRFinder),
            "AvgSmoothLoss": source_of(AvgSmoothLoss),
            "lr_find": source_of(Learner.lr_find),
            "valley": source_of(valley),
            "steep": source_of(steep),
            "minimum": source_of(minimum),
        },
        "cases": cases,
    }
    path = OUT / "lr_find.json"
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    print(f"wrote {path} ({len(cases)} cases)")
    for c in cases:
        s = c["suggestions"]
        print(f"{c['name']:20s} num_it={c['num_it']:3d} recorded={c['recorded']:3d} "
              f"(float64: {c['recorded_if_float64']:3d}) n={c['suggestion_input']['n']:3d} "
              f"nan_cut={c['suggestion_input']['nan_cut']} "
              + " ".join(f"{k}={v['learning_rate']:.6g}@({v['point'][0]:.4g},{v['point'][1]:.4g})"
                         for k, v in s.items()))


if __name__ == "__main__":
    main()
