"""Write independent reference learning-rate curves from optax, PyTorch and Hugging Face transformers.

This script is NOT part of lrviz and is not imported by its tests. It needs the reference libraries,
which lrviz does not depend on, so run it in a separate scratch virtual environment:

    python3.11 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install "jax[cpu]==0.10.2" jaxlib==0.10.2 optax==0.2.8 \
        torch==2.13.0 transformers==5.24.0 numpy==2.4.6
    /tmp/refvenv/bin/python tests/data/references/make_references.py    # from the repository root

(The versions above are the ones the committed JSON files were generated with:
Python 3.11.7, jax 0.10.2, jaxlib 0.10.2, optax 0.2.8, torch 2.13.0+cpu, transformers 5.24.0,
numpy 2.4.6. The script records the versions it actually ran with in every JSON file.)

It writes, next to itself:

    wsd_1_sqrt.json               transformers.get_wsd_schedule (decay 1-sqrt, linear, cosine)
    warmup_shapes.json            transformers.get_wsd_schedule warmups (linear, cosine, 1-sqrt) and
                                  optax.join_schedules([linear|polynomial warmup, cosine_decay_schedule])
    exponential_end_value.json    optax.exponential_decay(..., end_value=...)
    cyclical_step_size_down.json  torch.optim.lr_scheduler.CyclicLR(step_size_down != step_size_up)
    linear_to_zero.json           optax.linear_schedule(init, 0, N), torch LinearLR(1 -> 0, N),
                                  transformers.get_linear_schedule_with_warmup

Each file: {"library", "function", "step_semantics", "formula", "source", "cases": [{"params" (lrviz-style
names), "reference_args" (the library's own argument names), "function" (the exact call), "steps": N,
"learning_rate": [N float64 values, index s = the rate applied to update s]}, ...]}.

What "step s" means (s counts from 0; lrviz compares with the rate Keras applies at optimizer
iteration s, i.e. to the s-th update, the first update being s = 0):

* optax: an optax optimizer calls the schedule with its update counter `count`, which starts at 0
  (ScaleByScheduleState(count=jnp.zeros([], jnp.int32))) and is incremented after each update, so
  update s uses schedule(s). "learning_rate" here is schedule(jnp.asarray(s, jnp.int64)) evaluated
  with jax_enable_x64 (a float64 result). Every optax case also carries "learning_rate_applied": the
  rate optax.sgd(schedule) actually applied to update s (parameter 0, gradient 1.0, both float64:
  update = -lr * 1.0 exactly). Inside the optimizer the counter is int32, and int32 / python int
  is float32 in JAX even with x64 enabled, so linear/polynomial/exponential schedules are computed
  in float32 there; "applied_max_abs_diff" records how far that is from the float64 value.
* torch: after the scheduler is constructed, optimizer.param_groups[0]["lr"] is the rate used by
  the first optimizer.step() (update 0): the constructor already performs the scheduler's initial
  step (last_epoch goes from -1 to 0). The loop is: read lr for update s; optimizer.step();
  scheduler.step(). So update s uses the lr computed with last_epoch == s. The script checks that
  the rate SGD actually applied (a float64 parameter reset to 0, gradient 1.0) equals the
  param_groups value exactly; "learning_rate" holds those applied rates.
* transformers: its schedules are torch LambdaLR objects, so the same as torch: update s uses
  base_lr * lr_lambda(s), where base_lr is the optimizer's lr at construction.
"""
from __future__ import annotations

import inspect
import json
import math
import platform
import re
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import get_linear_schedule_with_warmup, get_wsd_schedule  # noqa: E402
from transformers import optimization as hf_optimization  # noqa: E402

OUT = Path(__file__).resolve().parent

VERSIONS = {
    "python": platform.python_version(),
    "jax": jax.__version__,
    "optax": optax.__version__,
    "numpy": np.__version__,
    "torch": torch.__version__,
    "transformers": transformers.__version__,
}
OPTAX = f"optax {optax.__version__} (jax {jax.__version__}, jax_enable_x64=True)"
TORCH = f"torch {torch.__version__}"
HF = f"transformers {transformers.__version__} (torch {torch.__version__})"

SEMANTICS = {
    "optax": "learning_rate[s] = schedule(jnp.asarray(s, jnp.int64)) with jax_enable_x64 (float64). An "
             "optax optimizer uses schedule(count) for update s with count = s (starts at 0, int32). "
             "learning_rate_applied[s] = the rate optax.sgd(schedule) applied to update s (int32 count, so "
             "linear/polynomial/exponential pieces are computed in float32 inside the optimizer).",
    "torch": "learning_rate[s] = optimizer.param_groups[0]['lr'] read before the s-th optimizer.step() "
             "(s from 0), with scheduler.step() called after each optimizer.step(); the scheduler's "
             "constructor already sets the lr for update 0 (last_epoch -1 -> 0). Checked equal to the "
             "rate SGD actually applied (float64 parameter).",
    "transformers": "A torch LambdaLR: learning_rate[s] = base_lr * lr_lambda(s), read from "
                    "optimizer.param_groups[0]['lr'] before the s-th optimizer.step() (s from 0), "
                    "scheduler.step() after each optimizer.step(). Checked equal to the applied rate.",
}


def _strip_docstrings(src: str) -> str:
    return re.sub(r'(?s)\n(\s*)r?"""(.*?)"""', r"\n\1# (docstring removed)", src)


def source_of(obj) -> str:
    return _strip_docstrings(inspect.getsource(obj))


# --- runners -------------------------------------------------------------------------------------
def optax_curve(schedule, n: int) -> dict:
    direct = [float(schedule(jnp.asarray(s, jnp.int64))) for s in range(n)]
    tx = optax.sgd(schedule)
    params = jnp.zeros((), jnp.float64)
    grad = jnp.ones((), jnp.float64)
    state = tx.init(params)
    step = jax.jit(tx.update)
    applied = []
    for _ in range(n):
        updates, state = step(grad, state, params)
        assert updates.dtype == jnp.float64
        applied.append(-float(updates))
    diff = max(abs(a - b) for a, b in zip(direct, applied))
    rel = max((abs(a - b) / abs(b) if b else abs(a)) for a, b in zip(applied, direct))
    return {"learning_rate": direct, "learning_rate_applied": applied,
            "applied_max_abs_diff": diff, "applied_max_rel_diff": rel}


def torch_curve(make_scheduler, base_lr: float, n: int) -> dict:
    """make_scheduler(optimizer) -> scheduler. Reads the rate in effect for update s, s = 0..n-1."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_scheduler(opt)
    rates = []
    for s in range(n):
        lr = opt.param_groups[0]["lr"]
        assert isinstance(lr, float), type(lr)
        with torch.no_grad():
            p.zero_()
        p.grad = torch.ones_like(p)
        opt.step()
        applied = -p.item()
        assert applied == lr, (s, applied, lr)
        assert sched.last_epoch == s
        rates.append(lr)
        sched.step()
    return {"learning_rate": rates}


def case(params, reference_args, function, n, curve, **extra):
    return {"params": params, "reference_args": reference_args, "function": function, "steps": n,
            **extra, **curve}


def write(name, library, function, formula, source, cases, semantics, notes=None):
    doc = {"library": library, "function": function, "versions": VERSIONS,
           "step_semantics": semantics, "formula": formula, "source": source}
    if notes:
        doc["notes"] = notes
    doc["cases"] = cases
    for c in cases:
        assert len(c["learning_rate"]) == c["steps"]
        assert all(isinstance(v, float) and math.isfinite(v) for v in c["learning_rate"])
    path = OUT / name
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path} ({len(cases)} cases)")


def fmt_call(fn: str, args: dict, first: str | None = "optimizer") -> str:
    inner = ", ".join(([first] if first else []) + [f"{k}={v!r}" for k, v in args.items()])
    return f"{fn}({inner})"


# --- 1. warmup-stable-decay -----------------------------------------------------------------------
HF_WSD_FORMULA = (
    "lr_s = base_lr * lambda(s), lambda = _get_wsd_scheduler_lambda:\n"
    "if s < W: progress = s / max(1, W); factor = progress (linear) | 0.5*(1 - cos(pi*progress)) (cosine) "
    "| 1 - sqrt(1 - progress) (1-sqrt); return max(0, factor*(1 - min_lr_ratio) + min_lr_ratio)\n"
    "elif s < W + S: return 1.0\n"
    "elif s < W + S + D: progress = (s - W - S) / max(1, D); factor = 1 - progress (linear) | "
    "0.5*(1 + cos(pi*num_cycles*2*progress)) (cosine, num_cycles=0.5) | 1 - sqrt(progress) (1-sqrt); "
    "return max(0, factor*(1 - min_lr_ratio) + min_lr_ratio)\n"
    "else: return min_lr_ratio"
)


def hf_wsd_case(peak, w, stable, d, ratio, decay_type, n, warmup_type="linear", lrviz_extra=None):
    args = {"num_warmup_steps": w, "num_decay_steps": d, "num_stable_steps": stable,
            "warmup_type": warmup_type, "decay_type": decay_type, "min_lr_ratio": ratio}
    curve = torch_curve(lambda opt: get_wsd_schedule(opt, **args), peak, n)
    params = {"kind": "warmup_stable_decay", "initial_learning_rate": peak, "warmup_steps": w,
              "stable_steps": stable, "decay_steps": d, "alpha": ratio, "decay_type": decay_type}
    if lrviz_extra:
        params.update(lrviz_extra)
    call = (f"get_wsd_schedule(torch.optim.SGD([p], lr={peak!r}), "
            + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
    return case(params, {"optimizer_lr": peak, **args}, call, n, curve)


def wsd_file():
    cases = [
        # decay tail 1 - sqrt(progress); steps run past the end of the decay (held at alpha * peak)
        hf_wsd_case(3e-3, 10, 40, 50, 0.0, "1-sqrt", 120),
        # no warmup, floor 0.1
        hf_wsd_case(1e-3, 0, 30, 70, 0.1, "1-sqrt", 110),
        # no stable phase, small floor
        hf_wsd_case(2e-3, 20, 0, 100, 0.01, "1-sqrt", 150),
        # cross-checks of the other decay shapes of the same function
        hf_wsd_case(1e-3, 10, 50, 40, 0.05, "linear", 120),
        hf_wsd_case(1e-3, 10, 50, 40, 0.05, "cosine", 120),
    ]
    write("wsd_1_sqrt.json", HF,
          "transformers.get_wsd_schedule(optimizer, num_warmup_steps, num_decay_steps, num_stable_steps=..., "
          "warmup_type='linear', decay_type='1-sqrt'|'linear'|'cosine', min_lr_ratio=...)",
          HF_WSD_FORMULA, source_of(hf_optimization._get_wsd_scheduler_lambda), cases,
          SEMANTICS["transformers"],
          notes=["The warmup starts at min_lr_ratio * peak, not 0 (the warmup factor is also mapped to "
                 "[min_lr_ratio, 1]).",
                 "The last decay step W+S+D-1 is still above the floor (progress (D-1)/D); the floor "
                 "min_lr_ratio * peak is reached at s = W+S+D and held after."])


# --- 2. warmup shapes -----------------------------------------------------------------------------
def optax_join_case(warm_kind, start, peak, w, d, alpha, n, power=None):
    if warm_kind == "linear":
        warm = optax.linear_schedule(start, peak, w)
        warm_call = f"optax.linear_schedule(init_value={start!r}, end_value={peak!r}, transition_steps={w!r})"
        warm_args = {"init_value": start, "end_value": peak, "transition_steps": w}
        formula = ("warmup (s < W): (init_value - end_value) * (1 - clip(s, 0, W)/W)**1 + end_value; "
                   "then cosine_decay_schedule at step s - W")
    else:
        warm = optax.polynomial_schedule(start, peak, power, w)
        warm_call = (f"optax.polynomial_schedule(init_value={start!r}, end_value={peak!r}, power={power!r}, "
                     f"transition_steps={w!r})")
        warm_args = {"init_value": start, "end_value": peak, "power": power, "transition_steps": w}
        formula = (f"warmup (s < W): (init_value - end_value) * (1 - clip(s, 0, W)/W)**{power} + end_value, "
                   f"i.e. peak - (peak - start) * (1 - s/W)**{power}; then cosine_decay_schedule at step s - W")
    inner = optax.cosine_decay_schedule(peak, d, alpha)
    inner_call = f"optax.cosine_decay_schedule(init_value={peak!r}, decay_steps={d!r}, alpha={alpha!r})"
    sched = optax.join_schedules([warm, inner], [w])
    call = f"optax.join_schedules([{warm_call}, {inner_call}], [{w!r}])"
    params = {"kind": "linear_warmup" if warm_kind == "linear" else "warmup",
              "warmup_shape": warm_kind, "warmup_steps": w, "initial_learning_rate": start,
              "schedule": {"class_name": "CosineDecay",
                           "config": {"initial_learning_rate": peak, "decay_steps": d, "alpha": alpha,
                                      "warmup_target": None, "warmup_steps": 0}}}
    if power is not None:
        params["power"] = power
    ref = {"warmup": warm_args, "inner": {"init_value": peak, "decay_steps": d, "alpha": alpha},
           "boundaries": [w]}
    return case(params, ref, call, n, optax_curve(sched, n), library=OPTAX, formula=formula)


def warmup_file():
    cases = []
    # transformers warmups: a stable phase longer than the run, so the inner schedule is constant.
    for shape, ratio in (("linear", 0.0), ("cosine", 0.0), ("cosine", 0.1), ("1-sqrt", 0.0)):
        peak, w, n = 1e-2, 25, 60
        c = hf_wsd_case(peak, w, 1000, 10, ratio, "linear", n, warmup_type=shape)
        c["params"] = {"kind": "warmup", "warmup_shape": shape, "warmup_steps": w,
                       "initial_learning_rate": ratio * peak,
                       "schedule": {"kind": "constant", "learning_rate": peak}}
        c["library"] = HF
        c["formula"] = {
            "linear": "s < W: base_lr * (p*(1 - r) + r), p = s / max(1, W); then base_lr (stable)",
            "cosine": "s < W: base_lr * (0.5*(1 - cos(pi*p))*(1 - r) + r), p = s / max(1, W); then base_lr",
            "1-sqrt": "s < W: base_lr * ((1 - sqrt(1 - p))*(1 - r) + r), p = s / max(1, W); then base_lr",
        }[shape] + f"  (r = min_lr_ratio = {ratio!r})"
        cases.append(c)
    # optax: warmup joined in front of a cosine decay, which sees its own step 0 at step W.
    cases.append(optax_join_case("linear", 1e-4, 1e-2, 20, 100, 0.1, 150))
    cases.append(optax_join_case("polynomial", 0.0, 1e-2, 20, 100, 0.1, 150, power=2.0))
    cases.append(optax_join_case("polynomial", 1e-4, 1e-2, 30, 80, 0.0, 140, power=0.5))
    cases.append(optax_join_case("linear", 1e-4, 1e-2, 0, 60, 0.05, 80))  # no warmup: inner from step 0
    # cross-check: optax's ready-made linear-warmup cosine equals the join above
    start, peak, w, total, end = 1e-4, 1e-2, 20, 120, 1e-3
    sched = optax.warmup_cosine_decay_schedule(start, peak, w, total, end)
    cases.append(case(
        {"kind": "linear_warmup", "warmup_shape": "linear", "warmup_steps": w, "initial_learning_rate": start,
         "schedule": {"class_name": "CosineDecay",
                      "config": {"initial_learning_rate": peak, "decay_steps": total - w, "alpha": end / peak,
                                 "warmup_target": None, "warmup_steps": 0}}},
        {"init_value": start, "peak_value": peak, "warmup_steps": w, "decay_steps": total, "end_value": end},
        f"optax.warmup_cosine_decay_schedule(init_value={start!r}, peak_value={peak!r}, warmup_steps={w!r}, "
        f"decay_steps={total!r}, end_value={end!r})",
        140, optax_curve(sched, 140), library=OPTAX,
        formula="join_schedules([linear_schedule(init, peak, W), cosine_decay_schedule(peak, decay_steps - W, "
                "alpha=end_value/peak)], [W]) (decay_steps counts the warmup)"))
    formula = {
        "transformers_wsd_warmup": "if s < W: p = s / max(1, W); factor = p (linear) | 0.5*(1.0 - cos(pi*p)) "
                                   "(cosine) | 1.0 - sqrt(1.0 - p) (1-sqrt); "
                                   "lambda = max(0, factor*(1 - min_lr_ratio) + min_lr_ratio)",
        "optax_polynomial_schedule": "count = clip(s - transition_begin, 0, transition_steps); "
                                     "(init_value - end_value) * (1 - count/transition_steps)**power + end_value",
        "optax_linear_schedule": "polynomial_schedule(..., power=1)",
        "optax_cosine_decay_schedule": "count = min(s, decay_steps); init_value * ((1 - alpha) * "
                                       "(0.5*(1 + cos(pi*count/decay_steps)))**exponent + alpha)",
        "optax_join_schedules": "out = schedules[0](s); for b, f in zip(boundaries, schedules[1:]): "
                                "out = where(s < b, out, f(s - b))",
    }
    source = {
        "transformers._get_wsd_scheduler_lambda": source_of(hf_optimization._get_wsd_scheduler_lambda),
        "optax.polynomial_schedule": source_of(optax.polynomial_schedule),
        "optax.cosine_decay_schedule": source_of(optax.cosine_decay_schedule),
        "optax.join_schedules": source_of(optax.join_schedules),
        "optax.warmup_cosine_decay_schedule": source_of(optax.warmup_cosine_decay_schedule),
    }
    write("warmup_shapes.json", f"{HF}; {OPTAX}",
          "transformers.get_wsd_schedule(..., warmup_type='linear'|'cosine'|'1-sqrt') | "
          "optax.join_schedules([optax.linear_schedule(...) | optax.polynomial_schedule(...), "
          "optax.cosine_decay_schedule(...)], [warmup_steps]) | optax.warmup_cosine_decay_schedule(...)",
          formula, source, cases,
          {"transformers": SEMANTICS["transformers"], "optax": SEMANTICS["optax"]},
          notes=["Each case names its own library, function and formula.",
                 "optax's polynomial warmup with init < end is peak - (peak - start)*(1 - s/W)**power: "
                 "power 2 rises fast at first and flattens towards the peak (concave); power 0.5 rises "
                 "slowly at first and steeply just before the peak. It is NOT start + (peak - start)*(s/W)**power.",
                 "transformers' warmup starts at min_lr_ratio * peak (case with min_lr_ratio 0.1).",
                 "join_schedules with boundary 0 never uses the warmup; linear_schedule with "
                 "transition_steps=0 is the constant init_value."])


# --- 3. exponential decay with end_value ------------------------------------------------------------
def exponential_file():
    specs = [
        # init, transition_steps, decay_rate, begin, staircase, end_value, n
        (1e-2, 10, 0.5, 0, False, 1e-3, 60),
        (1e-2, 10, 0.5, 0, True, 1e-3, 60),
        (5e-3, 7, 0.8, 25, False, 1e-3, 100),
        (5e-3, 7, 0.8, 25, True, 1e-3, 100),
    ]
    cases = []
    for init, t, r, begin, stair, end, n in specs:
        args = {"init_value": init, "transition_steps": t, "decay_rate": r, "transition_begin": begin,
                "staircase": stair, "end_value": end}
        sched = optax.exponential_decay(**args)
        params = {"class_name": "ExponentialDecay", "initial_learning_rate": init, "decay_steps": t,
                  "decay_rate": r, "staircase": stair, "end_learning_rate": end, "transition_begin": begin}
        cases.append(case(params, args, fmt_call("optax.exponential_decay", args, None), n,
                          optax_curve(sched, n)))
    write("exponential_end_value.json", OPTAX,
          "optax.exponential_decay(init_value, transition_steps, decay_rate, transition_begin=..., "
          "staircase=False|True, end_value=...)",
          "d = s - transition_begin; p = d / transition_steps (floor(p) if staircase); "
          "v = init_value if d <= 0 else init_value * decay_rate**p; "
          "v = max(v, end_value) if decay_rate < 1 else min(v, end_value)",
          source_of(optax.exponential_decay), cases, SEMANTICS["optax"],
          notes=["Before and at transition_begin the rate is init_value; the decay counts from "
                 "transition_begin (so s = begin + transition_steps has init*decay_rate).",
                 "end_value clips from below (decay_rate < 1)."])


# --- 4. CyclicLR with step_size_down != step_size_up ----------------------------------------------
def cyclic_file():
    specs = [
        # base, max, up, down, mode, gamma, n
        (1e-4, 1e-2, 20, 50, "triangular", 1.0, 200),
        (1e-3, 5e-2, 30, 10, "triangular2", 1.0, 250),
        (1e-4, 1e-2, 25, 40, "exp_range", 0.99, 300),
        (1e-4, 1e-2, 30, 30, "triangular", 1.0, 130),  # symmetric: lrviz's existing `cyclical`
    ]
    cases = []
    for base, top, up, down, mode, gamma, n in specs:
        args = {"base_lr": base, "max_lr": top, "step_size_up": up, "step_size_down": down, "mode": mode,
                "gamma": gamma, "cycle_momentum": False}
        curve = torch_curve(lambda opt: torch.optim.lr_scheduler.CyclicLR(opt, **args), 0.123, n)
        params = {"kind": "cyclical", "initial_learning_rate": base, "maximal_learning_rate": top,
                  "step_size": up, "step_size_down": down, "mode": mode, "gamma": gamma}
        call = ("torch.optim.lr_scheduler.CyclicLR(torch.optim.SGD([p], lr=0.123), "
                + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
        cases.append(case(params, args, call, n, curve))
    write("cyclical_step_size_down.json", TORCH,
          "torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr, max_lr, step_size_up, step_size_down, "
          "mode='triangular'|'triangular2'|'exp_range', gamma, cycle_momentum=False)",
          "total = up + down; ratio = up / total; cycle = floor(1 + s/total); x = 1 + s/total - cycle; "
          "f = x/ratio if x <= ratio else (x - 1)/(ratio - 1); "
          "lr = base_lr + (max_lr - base_lr) * f * scale, scale = 1 (triangular) | 1/2**(cycle - 1) "
          "(triangular2, per cycle) | gamma**s (exp_range, per iteration s = last_epoch)",
          source_of(torch.optim.lr_scheduler.CyclicLR.get_lr), cases, SEMANTICS["torch"],
          notes=["The constructor overwrites the optimizer's lr with base_lr and performs the initial step, "
                 "so update 0 uses base_lr (s = 0: x = 0, f = 0). The optimizer's own lr (0.123) is ignored.",
                 "The peak max_lr is at s = step_size_up (+ k*total); the low base_lr at s = k*total."])


# --- 5. linear decay to zero --------------------------------------------------------------------------
def linear_to_zero_file():
    cases = []
    for init, n_decay, n in ((1e-2, 100, 120), (3e-3, 250, 260)):
        args = {"init_value": init, "end_value": 0.0, "transition_steps": n_decay}
        sched = optax.linear_schedule(**args)
        cases.append(case({"kind": "linear_to_zero", "initial_learning_rate": init, "decay_steps": n_decay,
                           "warmup_steps": 0},
                          args, fmt_call("optax.linear_schedule", args, None), n, optax_curve(sched, n),
                          library=OPTAX,
                          formula="init_value * (1 - clip(s, 0, N)/N)**1 + 0.0  (polynomial_schedule)"))
    for init, n_decay, n in ((1e-2, 100, 120), (3e-3, 250, 260)):
        args = {"start_factor": 1.0, "end_factor": 0.0, "total_iters": n_decay}
        curve = torch_curve(lambda opt: torch.optim.lr_scheduler.LinearLR(opt, **args), init, n)
        closed = [init * (1.0 + (0.0 - 1.0) * min(n_decay, s) / n_decay) for s in range(n)]
        diff = max(abs(a - b) for a, b in zip(curve["learning_rate"], closed))
        call = ("torch.optim.lr_scheduler.LinearLR(torch.optim.SGD([p], lr=" + repr(init) + "), "
                + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
        cases.append(case({"kind": "linear_to_zero", "initial_learning_rate": init, "decay_steps": n_decay,
                           "warmup_steps": 0},
                          {"optimizer_lr": init, **args}, call, n, curve, library=TORCH,
                          formula="recursive (what .step() does): lr_0 = base*start_factor; for 1 <= s <= N: "
                                  "lr_s = lr_{s-1} * (1 + (end - start) / (N*start + (s - 1)*(end - start))); "
                                  "s > N: unchanged. Closed form: base*(start + (end - start)*min(N, s)/N)",
                          closed_form_learning_rate=closed, closed_form_max_abs_diff=diff))
    for init, w, total, n in ((1e-2, 0, 100, 120), (1e-2, 10, 100, 120), (3e-3, 25, 200, 220)):
        args = {"num_warmup_steps": w, "num_training_steps": total}
        curve = torch_curve(lambda opt: get_linear_schedule_with_warmup(opt, **args), init, n)
        call = (f"get_linear_schedule_with_warmup(torch.optim.SGD([p], lr={init!r}), "
                + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
        cases.append(case({"kind": "linear_to_zero", "initial_learning_rate": init, "decay_steps": total - w,
                           "warmup_steps": w},
                          {"optimizer_lr": init, **args}, call, n, curve, library=HF,
                          formula="s < W: base * s / max(1, W); else base * max(0, (N - s) / max(1, N - W))"))
    source = {
        "optax.polynomial_schedule": source_of(optax.polynomial_schedule),
        "torch.optim.lr_scheduler.LinearLR.get_lr": source_of(torch.optim.lr_scheduler.LinearLR.get_lr),
        "torch.optim.lr_scheduler.LinearLR._get_closed_form_lr":
            source_of(torch.optim.lr_scheduler.LinearLR._get_closed_form_lr),
        "transformers._get_linear_schedule_with_warmup_lr_lambda":
            source_of(hf_optimization._get_linear_schedule_with_warmup_lr_lambda),
    }
    write("linear_to_zero.json", f"{OPTAX}; {TORCH}; {HF}",
          "optax.linear_schedule(init_value, 0.0, transition_steps) | torch.optim.lr_scheduler.LinearLR("
          "optimizer, start_factor=1.0, end_factor=0.0, total_iters=N) | "
          "transformers.get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps)",
          {"optax": "init_value * (1 - min(s, N)/N)",
           "torch": "recursive multiplicative update (see case formula); exactly 0 at s = N and after",
           "transformers": "s < W: s / max(1, W); else max(0, (N - s) / max(1, N - W)), times base lr"},
          source, cases, {"optax": SEMANTICS["optax"], "torch": SEMANTICS["torch"],
                          "transformers": SEMANTICS["transformers"]},
          notes=["All three reach exactly 0 at s = N (transformers: s = num_training_steps, whose decay "
                 "lasts N - W steps after the warmup) and stay 0 after.",
                 "transformers' warmup starts from 0 (s = 0 gives rate 0 when W > 0).",
                 "torch's LinearLR is computed recursively, so it differs from the closed form by float64 "
                 "rounding (closed_form_max_abs_diff); learning_rate holds what torch applies."])


def main():
    print(json.dumps(VERSIONS), file=sys.stderr)
    wsd_file()
    warmup_file()
    exponential_file()
    cyclic_file()
    linear_to_zero_file()


if __name__ == "__main__":
    main()
