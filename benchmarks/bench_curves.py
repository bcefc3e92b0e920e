"""Preview speed: every family's 100,000-step curve against Keras's eager per-step call.

Run: python benchmarks/bench_curves.py. Times are side by side in one process (ratios matter;
these machines are shared). Target: every family <= 20 ms for 100,000 steps.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lrviz.params import ConfigError  # noqa: E402
from lrviz.schedules import FAMILIES, check_schedule, curve, make  # noqa: E402

EPOCHS, SPE = 100, 1000
STEPS = EPOCHS * SPE
TARGET_MS = 20.0
KERAS_SAMPLE = 200


def median_ms(fn, repeat=7):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def keras_eager_ms_per_step():
    """Keras's own way to see a curve: call the schedule once per step, eagerly."""
    import keras

    schedules = [keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.5),
                 keras.optimizers.schedules.CosineDecay(0.01, 1000, warmup_target=0.1, warmup_steps=100)]
    for schedule in schedules:  # the first calls pay for tracing and kernels
        float(schedule(0))
    return {type(s).__name__: median_ms(lambda s=s: [float(s(i)) for i in range(KERAS_SAMPLE)], 3)
            / KERAS_SAMPLE for s in schedules}


def worst_refusal_ms():
    from test_expression import INJECTIONS

    worst = 0.0
    for text in INJECTIONS:
        start = time.perf_counter()
        try:
            check_schedule({"kind": "expression", "expression": text})
        except ConfigError:
            pass
        worst = max(worst, time.perf_counter() - start)
    return worst * 1e3, len(INJECTIONS)


def main():
    ours = {fid: median_ms(lambda cfg=check_schedule(make(fid)): curve(cfg, EPOCHS, SPE)) for fid in FAMILIES}
    per_step = keras_eager_ms_per_step()
    keras_ms = statistics.mean(per_step.values()) * STEPS
    print("Keras eager, per step: " + ", ".join(f"{k} {v:.3f} ms" for k, v in per_step.items())
          + f" -> {STEPS:,} steps ≈ {keras_ms / 1e3:,.0f} s")
    print()
    print(f"| family | ms for {STEPS:,} steps | Keras eager / ours |")
    print("|---|---:|---:|")
    for fid, ms in ours.items():
        print(f"| {fid} | {ms:.2f} | {keras_ms / ms:,.0f}× |")
    refusal_ms, count = worst_refusal_ms()
    print()
    print(f"Slowest refusal over {count} expression injections: {refusal_ms:.2f} ms")
    slow = [fid for fid, ms in ours.items() if ms > TARGET_MS]
    verdict = "missed by " + ", ".join(slow) if slow else "met by every family"
    print(f"Target <= {TARGET_MS:g} ms: {verdict}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
