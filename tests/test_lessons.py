"""Lessons from the papers (lrviz.lessons): each a seeded A/B whose arms are what its title says,
runnable from the CLI, which reports what the runs showed."""
import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lrviz import config, lessons
from lrviz.experiments import ab
from lrviz.schedules import Timeline, curve_on, family_id, params_of

ROOT = Path(__file__).resolve().parents[1]


def arms(lesson_id):
    spec = lessons.by_id()[lesson_id].spec()
    return spec["a"], spec["b"]


def total(cfg):
    return config.steps_per_epoch(cfg) * cfg["training"]["epochs"]


@pytest.mark.parametrize("lesson", lessons.LESSONS, ids=lambda item: item.id)
def test_a_lesson_is_a_paired_ab_of_two_valid_setups_on_the_same_problem(lesson):
    spec = lesson.spec()
    plan = ab.check(spec)
    assert len(plan.runs) == 10 and spec["seeds"] == [0, 1, 2, 3, 4]
    a, b = spec["a"], spec["b"]
    assert (a["data"], a["model"], a["training"]) == (b["data"], b["model"], b["training"])
    assert total(a) == lessons.STEPS
    assert (a["schedule"], a["optimizer"]) != (b["schedule"], b["optimizer"])


def test_the_wsd_lesson_cools_down_over_10_and_2_5_percent_of_the_run():
    for cfg, share in zip(arms("wsd_cooldown"), (0.10, 0.025)):
        sched = params_of(cfg["schedule"])
        assert sched["decay_steps"] == share * total(cfg)
        assert sched["warmup_steps"] + sched["stable_steps"] + sched["decay_steps"] == total(cfg)


def test_the_linear_lesson_ends_at_zero_and_the_cosine_at_a_tenth_of_the_peak():
    a, b = arms("linear_to_zero")
    steps = np.arange(total(a), dtype=float)
    timeline = Timeline(steps, np.floor(steps / 50), 50, total(a))
    rate_a, rate_b = curve_on(a["schedule"], timeline), curve_on(b["schedule"], timeline)
    assert rate_a.max() == pytest.approx(lessons.PEAK) and rate_b.max() == pytest.approx(lessons.PEAK)
    assert rate_a[-1] == pytest.approx(0.1 * lessons.PEAK, rel=1e-3) and rate_b[-1] < 0.002 * lessons.PEAK


def test_the_schedule_free_lesson_pits_adam_with_cosine_against_schedule_free_at_a_constant_rate():
    a, b = arms("schedule_free")
    assert "class_name" not in a["optimizer"] and family_id(a["schedule"]) == "CosineDecay"
    assert b["optimizer"]["class_name"] == "ScheduleFreeAdamW" and family_id(b["schedule"]) == "constant"


def test_the_warmup_lesson_warms_up_over_the_untuned_two_over_one_minus_beta_2_steps():
    a, b = arms("warmup")
    assert a["optimizer"]["beta_2"] == b["optimizer"]["beta_2"] == 0.99
    assert family_id(a["schedule"]) == "constant" and params_of(b["schedule"])["warmup_steps"] == round(2 / (1 - 0.99))


def test_the_arms_chart_draws_each_arms_own_rate():
    from lrviz.page.experiment_views import arms_figure

    spec = lessons.by_id()["one_cycle"].spec()
    fig = arms_figure(spec)
    steps = np.arange(total(spec["a"]), dtype=float)
    timeline = Timeline(steps, np.floor(steps / 50), 50, total(spec["a"]))
    for trace, arm in zip(fig.data, ("a", "b")):
        want = curve_on(spec[arm]["schedule"], timeline)
        np.testing.assert_allclose(trace.y, want[np.asarray(trace.x, dtype=int)], rtol=1e-12)


def lesson_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lrviz", "lesson", *args], cwd=ROOT, capture_output=True,
                          text=True, **kw)


def test_the_cli_lists_the_lessons_and_refuses_an_unknown_one_by_name():
    listed = lesson_cli()
    assert listed.returncode == 0 and [line.split(":")[0] for line in listed.stdout.splitlines()] == \
        [item.id for item in lessons.LESSONS]
    refused = lesson_cli("no_such")
    assert refused.returncode == 2 and "lesson: got 'no_such'" in refused.stderr and "warmup" in refused.stderr


@pytest.mark.timeout(300)
def test_the_cli_runs_a_lesson_and_says_what_its_runs_showed(tmp_path):
    import os

    done = lesson_cli("warmup", "--workers", "2", env={**os.environ, "LRVIZ_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 10 and {r["arm"] for r in rows} == {"A", "B"} and all(r["status"] == "done" for r in rows)
    shown = done.stderr[done.stderr.index("What these runs show:"):]
    a = {int(r["seed"]): float(r["final_val_loss"]) for r in rows if r["arm"] == "A"}
    b = {int(r["seed"]): float(r["final_val_loss"]) for r in rows if r["arm"] == "B"}
    diff = np.mean([b[s] - a[s] for s in a])
    assert f"{abs(diff):.4g}" in shown and "over 5 paired seeds" in shown
    assert "What to look for: β₂ = 0.99" in done.stderr
